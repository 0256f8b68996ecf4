import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadLocalConfig } from '../../local/config';
import { formatLogLine } from '../../local/log-format';
import { loadWavFile } from '../../local/simulator/audio-source';
import { runSimulatedSession } from '../../local/simulator/client';
import { isLoopbackAddress, listeningAddresses } from './listeners';

const ROOT = join(import.meta.dirname, '..', '..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

describe('local stack (npm start)', () => {
  describe('configuration', () => {
    it('uses fixed documented defaults', () => {
      const cfg = loadLocalConfig({}, '/repo');
      expect(cfg).toMatchObject({ host: '127.0.0.1', gatewayPort: 8080, adminPort: 8081, dataDir: '/repo/.local' });
    });

    it('reads the soak settings: recognizer, DynamoDB proxy, restartable components, fault seed', () => {
      const cfg = loadLocalConfig(
        {
          LOCAL_RECOGNIZER: 'tones',
          LOCAL_DYNAMODB_PROXY_URL: 'http://127.0.0.1:9000/',
          LOCAL_RESTART_COMPONENTS: 'gateway, fanout',
          LOCAL_FAULT_SEED: '7',
        },
        '/repo',
      );
      expect(cfg.recognizer).toBe('tones');
      expect(cfg.dynamoDbClientEndpoint).toBe('http://127.0.0.1:9000');
      expect([...cfg.restartComponents]).toEqual(['gateway', 'fanout']);
      expect(cfg.faultSeed).toBe(7);
      const none = loadLocalConfig({}, '/repo');
      expect([none.recognizer, none.dynamoDbClientEndpoint, none.faultSeed, none.restartComponents.size]).toEqual([
        undefined,
        undefined,
        undefined,
        0,
      ]);
    });

    it('refuses bad soak settings with the variable and the allowed values', () => {
      expect(() => loadLocalConfig({ LOCAL_RECOGNIZER: 'whisper' }, '/r')).toThrow(
        /LOCAL_RECOGNIZER.*pocketsphinx, tones, scripted/,
      );
      expect(() => loadLocalConfig({ LOCAL_DYNAMODB_PROXY_URL: 'http://10.0.0.5:9000' }, '/r')).toThrow(/on loopback/);
      expect(() => loadLocalConfig({ LOCAL_DYNAMODB_PROXY_URL: 'not a url' }, '/r')).toThrow(
        /LOCAL_DYNAMODB_PROXY_URL/,
      );
      expect(() => loadLocalConfig({ LOCAL_RESTART_COMPONENTS: 'gateway,dynamodb' }, '/r')).toThrow(
        /unknown components dynamodb/,
      );
      expect(() => loadLocalConfig({ LOCAL_FAULT_SEED: '-1' }, '/r')).toThrow(/LOCAL_FAULT_SEED/);
    });

    it('refuses a port that is not a port, naming the variable', () => {
      expect(() => loadLocalConfig({ LOCAL_GATEWAY_PORT: 'eighty' }, '/repo')).toThrow(/LOCAL_GATEWAY_PORT/);
      expect(() => loadLocalConfig({ LOCAL_GATEWAY_ADMIN_PORT: '70000' }, '/repo')).toThrow(/LOCAL_GATEWAY_ADMIN_PORT/);
    });
  });

  describe('log lines', () => {
    it('renders pino JSON with the component prefix and fields', () => {
      const line = formatLogLine(
        'gateway',
        JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 1, 12, 0, 0), msg: 'hello', pid: 1, sessionId: 's-1' }),
      );
      expect(line).toBe('12:00:00.000 [gateway]   INFO  hello  sessionId=s-1');
    });

    it('renders Powertools JSON the same way', () => {
      const line = formatLogLine(
        'api',
        JSON.stringify({
          level: 'INFO',
          timestamp: '2026-01-01T12:00:00.000Z',
          message: 'ready',
          sampling_rate: 0,
          url: 'u',
        }),
      );
      expect(line).toBe('12:00:00.000 [api]       INFO  ready  url=u');
    });

    it('passes other lines through with the prefix', () => {
      expect(formatLogLine('gateway', 'plain text')).toBe('[gateway]   plain text');
    });
  });

  describe('running', () => {
    let child: ChildProcess;
    let dataDir: string;
    let output = '';
    let gatewayPort: number;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'ahx-local-'));
      gatewayPort = await freePort();
      const [adminPort, apiPort, dynamoDbPort, transcribePort, websocketPort, s3Port, uiPort] = [
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['local/start.ts'], {
        cwd: ROOT,
        env: {
          ...process.env,
          LOCAL_DATA_DIR: dataDir,
          LOCAL_GATEWAY_PORT: String(gatewayPort),
          LOCAL_GATEWAY_ADMIN_PORT: String(adminPort),
          LOCAL_API_PORT: String(apiPort),
          LOCAL_DYNAMODB_PORT: String(dynamoDbPort),
          LOCAL_TRANSCRIBE_PORT: String(transcribePort),
          LOCAL_WS_PORT: String(websocketPort),
          LOCAL_S3_PORT: String(s3Port),
          LOCAL_UI_PORT: String(uiPort),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      const deadline = Date.now() + 60_000;
      while (!existsSync(join(dataDir, 'endpoints.json'))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`local stack did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    });

    afterAll(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('transcribes a simulated call started and stopped through the API, and serves its messages', async () => {
      const endpoints = JSON.parse(readFileSync(join(dataDir, 'endpoints.json'), 'utf8')) as {
        gateway: { url: string; apiKey: string; clientSecret: string };
        api: { url: string; apiId: string; apiSecret: string };
        websocket: { url: string };
        s3: { endpoint: string; bucket: string };
      };
      expect(output).toContain('local stack is ready');
      expect(endpoints.s3.bucket).toBe('local-feeds');
      const api = (path: string, body?: unknown) =>
        fetch(`${endpoints.api.url}${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          headers: {
            'content-type': 'application/json',
            'asapp-api-id': endpoints.api.apiId,
            'asapp-api-secret': endpoints.api.apiSecret,
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
      const guid = randomUUID();
      // Start before the AudioHook session exists: honoured when it opens.
      const start = await api('/mg-autotranscribe/v1/start-streaming', {
        namespace: 'genesysaudiohook',
        guid,
        customerId: 'c-1',
        agentId: 'a-1',
        autotranscribeParams: { redactionOutput: 'unredacted' },
      });
      expect(start.status).toBe(200);
      expect(await start.json()).toMatchObject({ isOk: true });

      // A live subscriber on the WebSocket API (authenticated with the REST credentials).
      const live: Array<{ type: string; conversationId?: string }> = [];
      const ws = new WebSocket(endpoints.websocket.url, {
        headers: { 'asapp-api-id': endpoints.api.apiId, 'asapp-api-secret': endpoints.api.apiSecret },
      });
      ws.on('message', (data) => live.push(JSON.parse(String(data)) as { type: string }));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ action: 'subscribe', conversationId: guid, id: '1' }));
      const deadline = Date.now() + 10_000;
      while (!live.some((m) => m.type === 'subscribed') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(live.some((m) => m.type === 'subscribed')).toBe(true);

      const fixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/speech/greeting.json'), 'utf8')) as {
        text: string;
      };
      const result = await runSimulatedSession({
        uri: endpoints.gateway.url,
        apiKey: endpoints.gateway.apiKey,
        clientSecret: endpoints.gateway.clientSecret,
        conversationId: guid,
        audio: await loadWavFile(join(ROOT, 'test/fixtures/speech/greeting.wav')),
        speed: 1,
        record: 'text',
      });
      expect(result.outcome).toBe('closed');

      const stop = await api('/mg-autotranscribe/v1/stop-streaming', { namespace: 'genesysaudiohook', guid });
      expect(stop.status).toBe(200);
      const stopped = (await stop.json()) as {
        autotranscribeResponse: { customer: { summary: { audioDurationMs: number; transcripts: number } } };
      };
      expect(stopped.autotranscribeResponse.customer.summary.audioDurationMs).toBeGreaterThan(1000);

      const messages = await api(`/conversation/v1/conversation/messages?externalId=${guid}`);
      expect(messages.status).toBe(200);
      const { items } = (await messages.json()) as { items: Array<{ text: string; sender: { role: string } }> };
      expect(items.length).toBeGreaterThan(0);
      expect(items.every((m) => m.sender.role === 'customer')).toBe(true);
      const heard = items.map((m) => m.text.toLowerCase()).join(' ');
      const expected = fixture.text.toLowerCase().split(/\s+/);
      const found = expected.filter((w) => heard.includes(w)).length;
      expect(found / expected.length).toBeGreaterThanOrEqual(0.6);

      // Every stored utterance was also pushed to the subscriber.
      const pushDeadline = Date.now() + 10_000;
      while (live.filter((m) => m.type === 'transcript').length < items.length && Date.now() < pushDeadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const pushed = live.filter((m) => m.type === 'transcript');
      expect(pushed).toHaveLength(items.length);
      expect(pushed.every((m) => m.conversationId === undefined || m.conversationId === guid)).toBe(true);
      ws.close();

      // The day's feed: an on-demand export through the REST route, served by the local scheduler, then
      // listed and downloaded through the File Exporter routes from the local S3.
      const day = new Date().toISOString().slice(0, 10);
      const feed = { feed: 'utterances', version: '1', format: 'jsonl', date: day };
      const requested = await api('/fileexporter/v1/admin/exportfeed', feed);
      expect(requested.status).toBe(202);
      let files: string[] = [];
      const exportDeadline = Date.now() + 30_000;
      while (files.length === 0 && Date.now() < exportDeadline) {
        await new Promise((r) => setTimeout(r, 500));
        const listed = await api('/fileexporter/v1/static/listfeedfiles', feed);
        if (listed.status === 200) files = ((await listed.json()) as { files: string[] }).files;
      }
      expect(files.length).toBeGreaterThan(0);
      const rows: Array<{ conversation_id?: string; conversationId?: string }> = [];
      for (const file of files) {
        const got = await api('/fileexporter/v1/static/getfeedfile', { ...feed, file });
        expect(got.status).toBe(200);
        const { url } = (await got.json()) as { url: string };
        const body = gunzipSync(Buffer.from(await (await fetch(url)).arrayBuffer())).toString('utf8');
        for (const line of body.split('\n').filter(Boolean)) rows.push(JSON.parse(line) as (typeof rows)[number]);
      }
      const ours = rows.filter((r) => JSON.stringify(r).includes(guid));
      expect(ours).toHaveLength(items.length);

      const unauthorized = await fetch(`${endpoints.api.url}/conversation/v1/conversation/messages?externalId=${guid}`);
      expect(unauthorized.status).toBe(401);
    }, 90_000);

    it('binds every service to loopback only, guards the management API, and keeps its data private', async () => {
      const endpoints = JSON.parse(readFileSync(join(dataDir, 'endpoints.json'), 'utf8')) as {
        gateway: { url: string; metrics: string };
        api: { url: string };
        dynamodb: { endpoint: string };
        transcribe: { endpoint: string };
        websocket: { url: string; managementEndpoint: string };
        ui: { url: string };
        s3: { endpoint: string };
      };
      const urls = [
        endpoints.gateway.url,
        endpoints.gateway.metrics,
        endpoints.api.url,
        endpoints.dynamodb.endpoint,
        endpoints.transcribe.endpoint,
        endpoints.websocket.url,
        endpoints.ui.url,
        endpoints.s3.endpoint,
      ];
      const ports = new Set(urls.map((u) => Number(new URL(u).port)));
      expect(ports.size).toBe(8);
      for (const port of ports) {
        const addresses = listeningAddresses(port);
        expect(addresses.length, `port ${port}`).toBeGreaterThan(0);
        expect(
          addresses.filter((a) => !isLoopbackAddress(a)),
          `port ${port}`,
        ).toEqual([]);
      }

      const front = new URL(endpoints.websocket.url.replace(/^ws:/, 'http:')).origin;
      expect(endpoints.websocket.managementEndpoint).toMatch(new RegExp(`^${front}/_management/[A-Za-z0-9_-]{43}$`));
      const unknownId = `/@connections/${encodeURIComponent('bm90LWEtY29ubmVjdGlvbg==')}`;
      const without = await fetch(`${front}${unknownId}`, { method: 'POST', body: '{"fake":true}' });
      expect(without.status).toBe(403);
      const withSecret = await fetch(`${endpoints.websocket.managementEndpoint}${unknownId}`, {
        method: 'POST',
        body: '{}',
      });
      expect(withSecret.status).toBe(410); // authorized, and that connection does not exist

      const modes: string[] = [];
      const walk = (path: string): void => {
        const st = statSync(path);
        const want = st.isDirectory() ? 0o700 : 0o600;
        if ((st.mode & 0o777) !== want) modes.push(`${path} ${(st.mode & 0o777).toString(8)}`);
        if (st.isDirectory()) for (const e of readdirSync(path)) walk(join(path, e));
      };
      walk(dataDir);
      expect(modes).toEqual([]);
      expect(readdirSync(join(dataDir, 'dynamodb')).length).toBeGreaterThan(0);
    });

    it('stops every component on Ctrl-C and exits 0', async () => {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const stillListening = await fetch(`http://127.0.0.1:${gatewayPort}/health`).then(
        () => true,
        () => false,
      );
      expect(stillListening).toBe(false);
    });
  });
});
