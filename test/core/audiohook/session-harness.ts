/**
 * Test doubles for the AudioHook session: fake time driven through the Clock/Timers ports, a recording
 * transport, sink and logger, and a scripted client that numbers its messages like Genesys does.
 */
import type { TimelineGap } from '../../../core/audio/timeline';
import { samplesToDuration } from '../../../core/audiohook/duration';
import type {
  ClientMessage,
  ClientMessageType,
  MediaParameter,
  OpenParameters,
  UnknownClientMessage,
} from '../../../core/audiohook/messages';
import type {
  AudioFrame,
  AudioHookSession,
  AudioSink,
  ConnectionInfo,
  SessionDeps,
  SessionHooks,
  SessionOptions,
  SessionTransport,
  SinkStartInfo,
} from '../../../core/audiohook/ports';
import { createSession } from '../../../core/audiohook/session';
import type { Clock, TimerHandle, Timers } from '../../../core/ports';

export const SESSION_ID = '30b0e395-84d3-4570-ac13-9a62d8f514c0';
export const ORG_ID = 'd7934305-0972-4844-938e-9060eef73d05';
export const OTHER_ORG_ID = '11111111-2222-4333-8444-555555555555';
export const CORRELATION_ID = 'e160e428-53e2-487c-977d-96989bf5c99d';
export const CONVERSATION_ID = '5b4f2f6a-2c3e-4a1b-9f0d-7e6c5d4b3a21';
export const PARTICIPANT_ID = '8a7b6c5d-4e3f-4a2b-8c1d-0e9f8a7b6c5d';
export const NIL = '00000000-0000-0000-0000-000000000000';

export const STEREO_PCMU: MediaParameter = {
  type: 'audio',
  format: 'PCMU',
  channels: ['external', 'internal'],
  rate: 8000,
};
export const MONO_EXTERNAL: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['external'], rate: 8000 };
export const MONO_INTERNAL: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['internal'], rate: 8000 };

/** Lets pending promise callbacks (sink.end, async hooks) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface FakeTimer {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/** Monotonic and wall clock plus timers, all moved only by {@link advance}. */
export class FakeTime implements Clock, Timers {
  #now = 0;
  #order = 0;
  #timers: FakeTimer[] = [];

  now(): number {
    return 1_700_000_000_000 + this.#now;
  }

  monotonic(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), order: this.#order++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers scheduled and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward, firing due timers in order and letting promise callbacks run in between. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await flush();
    for (;;) {
      const due = this.#timers
        .filter((t) => !t.cancelled && t.at <= end)
        .sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (due === undefined) break;
      this.#now = due.at;
      due.cancelled = true;
      due.fn();
      await flush();
    }
    this.#now = end;
    await flush();
  }
}

/** Records every frame the session writes, parsed. */
export class RecordingTransport implements SessionTransport {
  readonly texts: string[] = [];
  readonly closes: Array<{ code: number; reason: string }> = [];

  sendText(text: string): void {
    this.texts.push(text);
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
  }

  /** Every sent message, parsed. */
  get messages(): Array<Record<string, unknown> & { type: string; seq: number; parameters: Record<string, unknown> }> {
    return this.texts.map((t) => JSON.parse(t));
  }

  get types(): string[] {
    return this.messages.map((m) => m.type);
  }

  get last():
    | (Record<string, unknown> & { type: string; seq: number; parameters: Record<string, unknown> })
    | undefined {
    return this.messages.at(-1);
  }

  ofType(type: string) {
    return this.messages.filter((m) => m.type === type);
  }

  /** `seq` of the last server message (what a client puts in `serverseq`). */
  get lastSeq(): number {
    return this.messages.at(-1)?.seq ?? 0;
  }
}

type SinkCall =
  | { method: 'start'; info: SinkStartInfo }
  | { method: 'write'; frame: AudioFrame }
  | { method: 'gap'; gap: TimelineGap }
  | { method: 'languageChanged'; language: string }
  | { method: 'end'; reason: string };

/** Records sink calls; `end` resolves at once unless told otherwise. */
export class RecordingSink implements AudioSink {
  readonly calls: SinkCall[] = [];
  endMode: 'resolve' | 'never' | 'reject' | 'manual' = 'resolve';
  throwOn: Set<string> = new Set();
  #release: (() => void) | undefined;

  start(info: SinkStartInfo): void {
    this.calls.push({ method: 'start', info });
    if (this.throwOn.has('start')) throw new Error('sink start failed');
  }

  write(frame: AudioFrame): void {
    this.calls.push({ method: 'write', frame });
    if (this.throwOn.has('write')) throw new Error('sink write failed');
  }

  gap(gap: TimelineGap): void {
    this.calls.push({ method: 'gap', gap });
    if (this.throwOn.has('gap')) throw new Error('sink gap failed');
  }

  languageChanged(language: string): void {
    this.calls.push({ method: 'languageChanged', language });
  }

  end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    this.calls.push({ method: 'end', reason });
    if (this.throwOn.has('end')) throw new Error('sink end failed');
    switch (this.endMode) {
      case 'resolve':
        return Promise.resolve();
      case 'never':
        return new Promise(() => {});
      case 'reject':
        return Promise.reject(new Error('flush failed'));
      case 'manual':
        return new Promise((resolve) => {
          this.#release = resolve;
        });
    }
  }

  /** Resolves a pending `end` in `manual` mode. */
  releaseEnd(): void {
    this.#release?.();
  }

  of<M extends SinkCall['method']>(method: M): Array<Extract<SinkCall, { method: M }>> {
    return this.calls.filter((c): c is Extract<SinkCall, { method: M }> => c.method === method);
  }

  get methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}

/** The shared test logger under the name these tests use. */
import { CaptureLogger as RecordingLogger } from '../../helpers/capture-logger';

export type { LogEntry } from '../../helpers/capture-logger';
export { RecordingLogger };

type ParamsOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>['parameters'];

/**
 * A scripted Genesys client: numbers its messages from 1, puts the last server `seq` it saw in
 * `serverseq`, and tracks its stream position from the audio it sent (as the reference client does).
 */
export class Client {
  seq = 0;
  /** Stream position in samples. */
  position = 0;
  /** Bytes per sample frame of the negotiated media (stereo PCMU by default). */
  frameBytes = 2;

  constructor(
    readonly session: AudioHookSession,
    readonly transport: RecordingTransport,
  ) {}

  /** Builds the next message (consumes a `seq`) without sending it. */
  build<T extends ClientMessageType>(
    type: T,
    parameters: ParamsOf<T>,
    overrides: Partial<Record<'version' | 'id' | 'seq' | 'serverseq' | 'position', unknown>> = {},
  ): ClientMessage {
    this.seq++;
    return {
      version: '2',
      id: SESSION_ID,
      type,
      seq: this.seq,
      serverseq: this.transport.lastSeq,
      position: samplesToDuration(this.position),
      parameters,
      ...overrides,
    } as ClientMessage;
  }

  send<T extends ClientMessageType>(
    type: T,
    parameters: ParamsOf<T>,
    overrides: Partial<Record<'version' | 'id' | 'seq' | 'serverseq' | 'position', unknown>> = {},
  ): void {
    this.session.handleMessage(this.build(type, parameters, overrides));
  }

  sendUnknown(type: string, parameters: Record<string, unknown> = {}): void {
    this.seq++;
    const msg: UnknownClientMessage = {
      version: '2',
      id: SESSION_ID,
      type,
      seq: this.seq,
      serverseq: this.transport.lastSeq,
      position: samplesToDuration(this.position),
      parameters,
      unknownType: true,
    };
    this.session.handleMessage(msg);
  }

  open(overrides: Partial<OpenParameters> = {}): void {
    this.send('open', openParameters(overrides));
  }

  ping(rtt?: string): void {
    this.send('ping', rtt === undefined ? {} : { rtt });
  }

  close(reason: 'end' | 'error' | 'disconnect' | 'reconnect' = 'end'): void {
    this.send('close', { reason });
  }

  /** Sends `samples` per channel of audio (silence) and advances the client position. */
  audio(samples = 800): Uint8Array {
    const frame = new Uint8Array(samples * this.frameBytes).fill(0xff);
    this.position += samples;
    this.session.handleAudio(frame);
    return frame;
  }
}

export function openParameters(overrides: Partial<OpenParameters> = {}): OpenParameters {
  return {
    organizationId: ORG_ID,
    conversationId: CONVERSATION_ID,
    participant: { id: PARTICIPANT_ID, ani: '+15555551234', aniName: 'John Doe', dnis: '+18005556789' },
    media: [STEREO_PCMU, MONO_EXTERNAL, MONO_INTERNAL],
    language: 'en-US',
    ...overrides,
  };
}

export function probeParameters(overrides: Partial<OpenParameters> = {}): OpenParameters {
  return openParameters({
    conversationId: NIL,
    participant: { id: NIL, ani: '', aniName: '', dnis: '' },
    language: undefined,
    ...overrides,
  });
}

export interface Harness {
  session: AudioHookSession;
  transport: RecordingTransport;
  sink: RecordingSink;
  time: FakeTime;
  logger: RecordingLogger;
  client: Client;
  hooks: SessionHooks;
}

/** Builds a session over recording doubles. */
export function harness(
  opts: {
    hooks?: SessionHooks;
    options?: Partial<SessionOptions>;
    connection?: Partial<ConnectionInfo>;
    sink?: RecordingSink;
  } = {},
): Harness {
  const transport = new RecordingTransport();
  const sink = opts.sink ?? new RecordingSink();
  const time = new FakeTime();
  const logger = new RecordingLogger();
  const hooks = opts.hooks ?? {};
  const deps: SessionDeps = {
    connection: {
      sessionId: SESSION_ID,
      organizationId: ORG_ID,
      correlationId: CORRELATION_ID,
      apiKeyLabel: 'test-key',
      ...opts.connection,
    },
    transport,
    sink,
    hooks,
    clock: time,
    timers: time,
    logger,
    options: { supportedLanguages: ['en-US', 'fr-CA'], ...opts.options },
  };
  const session = createSession(deps);
  return { session, transport, sink, time, logger, client: new Client(session, transport), hooks };
}

/** A promise whose settlement the test controls. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
