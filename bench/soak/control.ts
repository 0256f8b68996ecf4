/**
 * The soak's REST client for one stack: start, stop and status of a conversation with the asapp
 * headers, retried through faults the way a Genesys data action or an operator script would (5xx, 429,
 * 409-202 "another request pending" and network errors are retried; anything else is an answer). Every
 * response status is counted, so the report can show that faults produced no 5xx the caller could not
 * retry past.
 */
const RETRY_BASE_MS = 250;
const START_PATH = '/mg-autotranscribe/v1/start-streaming';
const STOP_PATH = '/mg-autotranscribe/v1/stop-streaming';

function startBody(guid: string) {
  return {
    namespace: 'genesysaudiohook',
    guid,
    customerId: `cust-${guid.slice(0, 8)}`,
    agentId: `agent-${guid.slice(0, 8)}`,
    // Tone words are digits: PII redaction (the contract's default) would mask runs of them.
    autotranscribeParams: { redactionOutput: 'unredacted' },
  };
}

function stopBody(guid: string) {
  return { namespace: 'genesysaudiohook', guid };
}
const RETRY_MAX_MS = 2000;

/** What the soak reads from the status route (docs/openapi.yaml ConversationStatus). */
export interface ConversationStatus {
  state: 'idle' | 'waiting-for-audio' | 'transcribing' | 'stopped';
  desired: 'on' | 'off';
  segments: Array<{
    segment: number;
    state: 'pending' | 'active' | 'closing' | 'closed';
    sessionId?: string;
    customer: { streamId: string; summary: { transcripts: number } };
    agent: { streamId: string; summary: { transcripts: number } };
  }>;
  sessions: Array<{ sessionId: string; state: 'open' | 'closed'; health: 'streaming' | 'connected' | 'closed' }>;
}

/** An answer after retries: the last status and body. */
export interface ControlAnswer {
  status: number;
  body: unknown;
  attempts: number;
}

/** What a stop-streaming answer said about the segment it closed, per role. */
export interface StopAnswer {
  conversationId: string;
  customer: { streamId: string; transcripts: number };
  agent: { streamId: string; transcripts: number };
}

export class SoakControl {
  /** Every 200 stop answer with a summary, to compare with what was finally stored. */
  readonly stopAnswers: StopAnswer[] = [];
  /** Response statuses seen, by route and code (`start 200`, `stop 409-201`…). */
  readonly statuses = new Map<string, number>();
  /** Server errors seen (5xx), retried or not. */
  serverErrors = 0;

  constructor(
    private readonly apiUrl: string,
    private readonly auth: { apiId: string; apiSecret: string },
  ) {}

  private count(key: string): void {
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
  }

  /** One request, no retry. Network errors come back as status 0. */
  async once(method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = {
      'asapp-api-id': this.auth.apiId,
      'asapp-api-secret': this.auth.apiSecret,
    };
    if (json !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await fetch(`${this.apiUrl}${path}`, {
        method,
        headers,
        ...(json !== undefined && { body: JSON.stringify(json) }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body };
    } catch {
      return { status: 0, body: undefined };
    }
  }

  /** Retries transient answers until a final one or `deadlineMs` passes (then returns the last). */
  async request(
    route: string,
    method: 'GET' | 'POST',
    path: string,
    json: unknown,
    deadlineMs = 60_000,
  ): Promise<ControlAnswer> {
    const until = Date.now() + deadlineMs;
    for (let attempt = 1; ; attempt++) {
      const { status, body } = await this.once(method, path, json);
      const code = errorCode(body);
      this.count(`${route} ${code ?? status}`);
      if (status >= 500) this.serverErrors++;
      const transient = status === 0 || status === 429 || status >= 500 || code === '409-202';
      if (!transient || Date.now() > until) return { status, body, attempts: attempt };
      const backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempt - 1, 4));
      await sleep(backoff * (0.5 + Math.random() / 2));
    }
  }

  start(guid: string): Promise<ControlAnswer> {
    return this.request('start', 'POST', START_PATH, startBody(guid));
  }

  async stop(guid: string): Promise<ControlAnswer> {
    const a = await this.request('stop', 'POST', STOP_PATH, stopBody(guid));
    this.noteStop(guid, a.status, a.body);
    return a;
  }

  private noteStop(guid: string, status: number, body: unknown): void {
    type Side = { streamId?: string; summary?: { transcripts?: number } };
    const r = (body as { autotranscribeResponse?: { customer?: Side; agent?: Side } } | undefined)
      ?.autotranscribeResponse;
    const side = (x: Side | undefined) =>
      typeof x?.streamId === 'string' && typeof x.summary?.transcripts === 'number'
        ? { streamId: x.streamId, transcripts: x.summary.transcripts }
        : undefined;
    const customer = side(r?.customer);
    const agent = side(r?.agent);
    if (status === 200 && customer && agent) this.stopAnswers.push({ conversationId: guid, customer, agent });
  }

  /** One start or stop with no retry (a burst of duplicate clicks); the answer is counted. */
  async burst(kind: 'start' | 'stop', guid: string): Promise<number> {
    const r = await this.once(
      'POST',
      kind === 'start' ? START_PATH : STOP_PATH,
      (kind === 'start' ? startBody : stopBody)(guid),
    );
    this.count(`storm ${kind} ${errorCode(r.body) ?? r.status}`);
    if (r.status >= 500) this.serverErrors++;
    return r.status;
  }

  async status(guid: string): Promise<ConversationStatus | undefined> {
    const a = await this.request(
      'status',
      'GET',
      `/mg-autotranscribe/v1/conversations/${guid}/status`,
      undefined,
      5000,
    );
    return a.status === 200 ? (a.body as ConversationStatus) : undefined;
  }
}

/** The `NNN-NNN` code of an error envelope, if the body is one. */
export function errorCode(body: unknown): string | undefined {
  const m = typeof body === 'object' && body !== null ? /"(\d{3}-\d{2,3})"/.exec(JSON.stringify(body)) : null;
  return m?.[1];
}

/** Whether `sessionId` holds the conversation's running segment and streams it. */
export function streamsNow(s: ConversationStatus | undefined, sessionId: string): boolean {
  if (s?.state !== 'transcribing' || s.desired !== 'on') return false;
  const seg = s.segments.at(-1);
  const session = s.sessions.find((x) => x.sessionId === sessionId);
  return seg?.state === 'active' && seg.sessionId === sessionId && session?.health === 'streaming';
}

/** Whether transcription is off and no segment is still running or closing. */
export function stoppedNow(s: ConversationStatus | undefined): boolean {
  return (
    s !== undefined && s.state === 'stopped' && s.desired === 'off' && s.segments.every((seg) => seg.state === 'closed')
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
