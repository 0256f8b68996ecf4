/**
 * What the soak watches while it runs: the Utterances table (read straight from DynamoDB Local, not
 * through the fault proxy), WebSocket subscribers that can be dropped and reconnected, the dead-letter
 * store, and the resident memory of the gateway and the fan-out, sampled from /proc by the pids the local
 * stack writes to endpoints.json (rewritten when a component is restarted).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import WebSocket from 'ws';
import { tableNames } from '../../contract/tables';
import { runDlqCli } from '../../local/dlq';
import { createLocalDynamoDbClient } from '../../local/dynamodb';
import type { LocalEndpoints } from '../../test/e2e/harness';
import type { Delivery, StoredItem } from './truth';

/** The stack's current pids (re-read: restarts change them). */
export function currentPids(dataDir: string): Record<string, number> {
  const e = JSON.parse(readFileSync(join(dataDir, 'endpoints.json'), 'utf8')) as LocalEndpoints;
  return e.processes ?? {};
}

/** Every stored utterance of the conversations, read with strongly consistent queries. */
export async function readStored(endpoints: LocalEndpoints, conversationIds: readonly string[]): Promise<StoredItem[]> {
  const client = createLocalDynamoDbClient(endpoints.dynamodb.endpoint);
  const doc = DynamoDBDocumentClient.from(client);
  const table = tableNames(endpoints.dynamodb.tablePrefix).utterances;
  const out: StoredItem[] = [];
  try {
    for (const conversationId of conversationIds) {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'conversationId = :c',
            ExpressionAttributeValues: { ':c': conversationId },
            ConsistentRead: true,
            ...(start && { ExclusiveStartKey: start }),
          }),
        );
        for (const i of page.Items ?? []) {
          out.push({
            conversationId,
            utteranceId: String(i.utteranceId),
            role: String(i.role),
            streamId: String(i.streamId),
            text: String(i.text ?? ''),
            startMs: Number(i.startMs),
            endMs: Number(i.endMs),
            createdAtMs: Date.parse(String(i.createdAt)),
          });
        }
        start = page.LastEvaluatedKey;
      } while (start);
    }
  } finally {
    client.destroy();
  }
  return out;
}

/** Dead letters of every webhook target (utterance ids), or redrive them; same env as the fan-out. */
export async function deadLetters(
  command: 'list' | 'redrive',
  env: Record<string, string>,
): Promise<{ ids: Set<string>; output: unknown }> {
  let output: unknown;
  const code = await runDlqCli([command], env, (line) => {
    output = JSON.parse(line);
  });
  if (code !== 0 && command === 'list') throw new Error(`dlq ${command} exited ${code}`);
  const ids = new Set<string>();
  if (command === 'list') {
    for (const items of Object.values(output as Record<string, Array<{ utteranceId: string }>>)) {
      for (const it of items) ids.add(it.utteranceId);
    }
  }
  return { ids, output };
}

/** A WebSocket API subscriber of one conversation that records pushes and can be dropped. */
export class SoakSubscriber {
  readonly pushes: Delivery[] = [];
  /** `[from, to)` wall-clock ms when it was subscribed (to = undefined while it still is). */
  readonly windows: Array<{ from: number; to?: number }> = [];
  drops = 0;
  private ws: WebSocket | undefined;

  constructor(
    private readonly url: string,
    private readonly auth: { apiId: string; apiSecret: string },
    readonly conversationId: string,
  ) {}

  /**
   * Connects and subscribes, retrying for up to 30 s as a client would (a `$connect` answers 503 while
   * the Subscriptions table is throttled).
   */
  async connect(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connectOnce();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, Math.min(2000, 200 * attempt)));
      }
    }
  }

  private connectOnce(): Promise<void> {
    const ws = new WebSocket(this.url, {
      headers: { 'asapp-api-id': this.auth.apiId, 'asapp-api-secret': this.auth.apiSecret },
    });
    this.ws = ws;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error('no subscribed within 10 s')), 10_000);
      // Every error ends this attempt (a failed handshake emits one); none may go unheard.
      ws.on('error', fail);
      ws.on('open', () =>
        ws.send(JSON.stringify({ action: 'subscribe', conversationId: this.conversationId, id: '1' })),
      );
      ws.on('message', (data) => {
        let m: { type?: string; utteranceId?: string };
        try {
          m = JSON.parse(String(data));
        } catch {
          return;
        }
        if (m.type === 'subscribed' && !settled) {
          settled = true;
          clearTimeout(timer);
          this.windows.push({ from: Date.now() });
          resolve();
        } else if (m.type === 'error' && !settled) {
          fail(new Error(`subscribe refused: ${String(data).slice(0, 200)}`));
        } else if (m.type === 'transcript' && typeof m.utteranceId === 'string') {
          this.pushes.push({ utteranceId: m.utteranceId, atMs: Date.now() });
        }
      });
      ws.on('close', () => {
        const w = this.windows.at(-1);
        if (settled && w && w.to === undefined) w.to = Date.now();
        fail(new Error('closed before subscribed'));
      });
    });
  }

  /** Closes the connection now; {@link connect} again to resubscribe. */
  async drop(): Promise<void> {
    this.drops++;
    await this.close();
  }

  async close(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close();
    });
  }
}

/** Resident memory samples of one process incarnation (a restart starts a new series). */
export interface RssSeries {
  component: string;
  pid: number;
  samples: Array<{ atMs: number; kib: number }>;
}

/** Samples VmRSS of the named components every `everyMs`. */
export class RssSampler {
  readonly series = new Map<string, RssSeries>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly components: readonly string[],
  ) {}

  start(everyMs: number): void {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    let pids: Record<string, number>;
    try {
      pids = currentPids(this.dataDir);
    } catch {
      return; // endpoints.json being rewritten
    }
    for (const component of this.components) {
      const pid = pids[component];
      if (pid === undefined) continue;
      const kib = rssKib(pid);
      if (kib === undefined) continue;
      const key = `${component}:${pid}`;
      const s = this.series.get(key) ?? { component, pid, samples: [] };
      s.samples.push({ atMs: Date.now(), kib });
      this.series.set(key, s);
    }
  }
}

/** VmRSS of a process and its descendants' main one (tsx runs the entry in a child node process). */
function rssKib(pid: number): number | undefined {
  // `tsx` is a launcher: the component's own node process is its child. Sum the tree.
  let total = 0;
  let any = false;
  for (const p of [pid, ...childrenOf(pid)]) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) {
        total += Number(m[1]);
        any = true;
      }
    } catch {
      // exited
    }
  }
  return any ? total : undefined;
}

/** Direct children of a process (the node process a `tsx` launcher runs). */
export function childrenOf(pid: number): number[] {
  try {
    const raw = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return raw === '' ? [] : raw.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

/**
 * Least-squares slope of a series in MiB per minute, ignoring its first `warmupMs` (start-up
 * allocation is not a leak). Undefined when fewer than 5 samples remain.
 */
export function rssSlopeMiBPerMin(s: RssSeries, warmupMs: number): number | undefined {
  const t0 = s.samples[0]?.atMs ?? 0;
  const pts = s.samples.filter((p) => p.atMs - t0 >= warmupMs);
  if (pts.length < 5) return undefined;
  const xs = pts.map((p) => (p.atMs - t0) / 60_000);
  const ys = pts.map((p) => p.kib / 1024);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? undefined : num / den;
}
