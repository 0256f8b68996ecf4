/**
 * `AUDIOHOOK_CLIENT_SECRET=… npm run simulate -- --uri ws://… --api-key … [--wav call.wav | --tone-sec 10] …`
 *
 * Plays one or many AudioHook sessions the way Genesys Cloud does and prints one line per session and a
 * summary (or JSON with `--json`). Exit code: 0 when every session closed cleanly, 1 otherwise, 2 for a
 * usage error. This file is a composition root: it reads argv and the environment and wires the simulator,
 * nothing more.
 *
 * The client secret comes from the environment (`AUDIOHOOK_CLIENT_SECRET`) or a file
 * (`--client-secret-file`): a command-line argument is visible to every local user in `ps` and
 * `/proc/<pid>/cmdline`, so `--client-secret` still works but warns.
 */

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { MediaFormat } from '../../core/audio/format';
import type { ChannelName } from '../../core/audio/roles';
import { AppError, type AppErrorOptions } from '../../core/errors';
import { type AudioSource, loadWavFile, toneSource } from './audio-source';
import { CONNECTOR_CUSTOM_CONFIG, ConnectorView } from './connector-view';
import { type ManySessionsSummary, runManySessions } from './multi';
import {
  CLIENT_SECRET_ENV,
  resolveClientSecret,
  type SimulatedAction,
  type SimulatedSessionOptions,
  type SimulatedSessionResult,
} from './options';

const USAGE = `Usage: npm run simulate -- --uri <ws(s)://host/path> --api-key <key> [options]

Plays AudioHook sessions against a server the way Genesys Cloud does.

Connection
  --uri URI                 AudioHook server URI (ws:// or wss://)              [required]
  --api-key KEY             X-API-KEY header value                              [required]
  --client-secret-file FILE read the base64 client secret from FILE (signs the upgrade)
  --client-secret BASE64    the secret itself: visible to other users in ps; prefer the file or
                            the ${CLIENT_SECRET_ENV} environment variable
                            (no secret from any of them: the upgrade is unsigned)
  --org UUID                organization id (default: random)
  --conversation UUID       conversation id (default: random per session)

Audio
  --wav FILE                8 kHz PCMU or L16 WAV, mono or stereo
  --tone-sec N              N seconds of the reference 1 kHz tone instead (default 10)
  --format PCMU|L16         format of the generated tone (default PCMU)
  --mono                    generate a mono tone
  --inverted                channel order internal,external (mono: the channel is internal)
  --speed N                 1 = real time (default), N = N times faster, 0 = as fast as possible
  --frame-ms N              audio frame length, 10..1000 ms (default 200)

Session script (positions on the audio timeline, in ms; repeatable)
  --pause-at MS             client-initiated pause
  --resume-at MS            end the client-initiated pause
  --discard-at MS:LEN       drop LEN ms of audio at MS
  --update-at MS:LANG       send update{language: LANG}
  --close-at MS             close the session at MS
  --language TAG            open.parameters.language
  --supported-languages     ask the server for its languages
  --probe                   connection probe: nil ids, close right after opened, no audio
  --transcription-connector ask for transcripts back (customConfig.transcriptionConnector: true), print
                            each transcript event as it arrives, check it as Genesys' suite would, and
                            summarize (per channel, first-event latency); violations make the exit 1.
                            Transcripts come only while transcription is on for the call (a
                            genesys-controlled key, or start-streaming for --conversation)

Load
  --sessions N              number of sessions (default 1)
  --ramp N                  sessions started per second (default 10)

Output
  --json                    print the results as JSON
  --quiet                   print the summary only
  --help                    this text

Exit code: 0 when every session closed cleanly (and, with --transcription-connector, every transcript
passed the checks), 1 otherwise, 2 for usage errors.`;

/** Where the CLI writes. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** A command line the CLI cannot run; `message` says how to fix it. */
export class UsageError extends AppError {
  override readonly name = 'UsageError';
  declare readonly code: 'SIM_USAGE';
  constructor(message: string, options?: AppErrorOptions) {
    super('SIM_USAGE', message, options);
  }
}

const OPTIONS = {
  uri: { type: 'string' },
  'api-key': { type: 'string' },
  'client-secret': { type: 'string' },
  'client-secret-file': { type: 'string' },
  wav: { type: 'string' },
  'tone-sec': { type: 'string' },
  format: { type: 'string' },
  mono: { type: 'boolean' },
  inverted: { type: 'boolean' },
  speed: { type: 'string' },
  'frame-ms': { type: 'string' },
  sessions: { type: 'string' },
  ramp: { type: 'string' },
  'pause-at': { type: 'string', multiple: true },
  'resume-at': { type: 'string', multiple: true },
  'discard-at': { type: 'string', multiple: true },
  'update-at': { type: 'string', multiple: true },
  'close-at': { type: 'string' },
  probe: { type: 'boolean' },
  'transcription-connector': { type: 'boolean' },
  language: { type: 'string' },
  'supported-languages': { type: 'boolean' },
  org: { type: 'string' },
  conversation: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A parsed, validated command line. */
export interface CliPlan {
  help: boolean;
  uri: string;
  apiKey: string;
  clientSecret?: string;
  /** Things the user should know before the run (printed to stderr), e.g. a secret given on the command line. */
  warnings: string[];
  wav?: string;
  toneSec: number;
  format: MediaFormat;
  mono: boolean;
  channelOrder?: ChannelName[];
  speed: number;
  frameMs: number;
  sessions: number;
  ramp: number;
  actions: SimulatedAction[];
  probe: boolean;
  /** `--transcription-connector`: ask for, print and check transcript events. */
  transcriptionConnector: boolean;
  language?: string;
  supportedLanguages: boolean;
  organizationId?: string;
  conversationId?: string;
  json: boolean;
  quiet: boolean;
}

function num(
  flag: string,
  text: string | undefined,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !check(n)) {
    throw new UsageError(`--${flag} must be ${rule}, got ${JSON.stringify(text)}`);
  }
  return n;
}

const atMs = (flag: string, text: string) => num(flag, text, 0, (n) => n >= 0, 'a position in ms (≥ 0)');

function split(flag: string, text: string, what: string): [string, string] {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1)
    throw new UsageError(`--${flag} must look like MS:${what}, got ${JSON.stringify(text)}`);
  return [text.slice(0, i), text.slice(i + 1)];
}

/**
 * Parses and validates argv (without `node` and the script) and the environment the client secret may
 * come from ({@link CLIENT_SECRET_ENV}).
 * @throws {@link UsageError} with a message that says what to change
 */
export function parseCli(argv: string[], env: Readonly<Record<string, string | undefined>> = {}): CliPlan {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = values as {
    [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean'
      ? boolean
      : (typeof OPTIONS)[K] extends { multiple: true }
        ? string[]
        : string;
  };
  const base = {
    help: v.help === true,
    json: v.json === true,
    quiet: v.quiet === true,
    probe: v.probe === true,
    transcriptionConnector: v['transcription-connector'] === true,
    supportedLanguages: v['supported-languages'] === true,
    mono: v.mono === true,
  };
  if (base.help) {
    return {
      ...base,
      uri: '',
      apiKey: '',
      toneSec: 0,
      format: 'PCMU',
      speed: 1,
      frameMs: 200,
      sessions: 1,
      ramp: 10,
      actions: [],
      warnings: [],
    };
  }
  if (!v.uri) throw new UsageError('--uri is required (e.g. --uri ws://127.0.0.1:8080/api/v1/audiohook/ws)');
  if (!/^wss?:\/\//i.test(v.uri))
    throw new UsageError(`--uri must start with ws:// or wss://, got ${JSON.stringify(v.uri)}`);
  if (!v['api-key']) throw new UsageError('--api-key is required');
  const { secret, warnings } = resolveClientSecret({
    flag: v['client-secret'],
    file: v['client-secret-file'],
    env,
  });
  if (v.wav !== undefined && v['tone-sec'] !== undefined)
    throw new UsageError('use either --wav or --tone-sec, not both');
  if (v.wav !== undefined && (v.format !== undefined || base.mono)) {
    throw new UsageError(
      '--format and --mono describe the generated tone; a WAV file brings its own format and channels',
    );
  }
  const format = (v.format ?? 'PCMU').toUpperCase();
  if (format !== 'PCMU' && format !== 'L16')
    throw new UsageError(`--format must be PCMU or L16, got ${JSON.stringify(v.format)}`);
  const frameMs = num(
    'frame-ms',
    v['frame-ms'],
    200,
    (n) => Number.isInteger(n) && n >= 10 && n <= 1000,
    'an integer from 10 to 1000',
  );

  const actions: SimulatedAction[] = [];
  for (const t of v['pause-at'] ?? []) actions.push({ atMs: atMs('pause-at', t), action: 'pause' });
  for (const t of v['resume-at'] ?? []) actions.push({ atMs: atMs('resume-at', t), action: 'resume' });
  for (const t of v['discard-at'] ?? []) {
    const [at, len] = split('discard-at', t, 'LEN');
    const ms = num('discard-at', len, 0, (n) => n > 0, 'MS:LEN with a positive LEN');
    actions.push({ atMs: atMs('discard-at', at), action: 'discard', ms });
  }
  for (const t of v['update-at'] ?? []) {
    const [at, language] = split('update-at', t, 'LANG');
    actions.push({ atMs: atMs('update-at', at), action: 'update', language });
  }
  if (v['close-at'] !== undefined) actions.push({ atMs: atMs('close-at', v['close-at']), action: 'close' });

  const plan: CliPlan = {
    ...base,
    uri: v.uri,
    apiKey: v['api-key'],
    toneSec: num('tone-sec', v['tone-sec'], 10, (n) => n > 0 && n <= 24 * 3600, 'a number of seconds (> 0)'),
    format,
    speed: num('speed', v.speed, 1, (n) => n >= 0, 'a number ≥ 0 (0 = as fast as possible)'),
    frameMs,
    sessions: num('sessions', v.sessions, 1, (n) => Number.isInteger(n) && n >= 1, 'a positive integer'),
    ramp: num('ramp', v.ramp, 10, (n) => n > 0, 'a positive number of sessions per second'),
    actions,
    warnings,
  };
  if (secret !== undefined) plan.clientSecret = secret;
  if (v.wav !== undefined) plan.wav = v.wav;
  if (v.inverted) plan.channelOrder = base.mono ? ['internal'] : ['internal', 'external'];
  if (v.language !== undefined) plan.language = v.language;
  if (v.org !== undefined) plan.organizationId = v.org;
  if (v.conversation !== undefined) plan.conversationId = v.conversation;
  return plan;
}

function describe(index: number, r: SimulatedSessionResult): string {
  const parts = [`#${index + 1}`, r.outcome.padEnd(14), r.sessionId];
  if (r.openLatencyMs !== undefined) parts.push(`open=${Math.round(r.openLatencyMs)}ms`);
  parts.push(`audio=${(r.audioMsSent / 1000).toFixed(1)}s`, `pos=${(r.positionMs / 1000).toFixed(1)}s`);
  if (r.httpStatus !== undefined)
    parts.push(`http=${r.httpStatus}${r.httpBody ? ` ${JSON.stringify(r.httpBody.slice(0, 80))}` : ''}`);
  if (r.failure) parts.push(`— ${r.failure}`);
  if (r.protocolErrors.length > 1) parts.push(`(+${r.protocolErrors.length - 1} more protocol errors)`);
  return parts.join(' ');
}

function describeSummary(s: ManySessionsSummary): string {
  const outcomes = Object.entries(s.byOutcome)
    .filter(([, n]) => n > 0)
    .map(([o, n]) => `${o}=${n}`)
    .join(' ');
  const l = s.openLatencyMs;
  return (
    `${s.started}/${s.sessions} sessions in ${(s.durationMs / 1000).toFixed(1)}s: ${outcomes || 'none'}; ` +
    `open latency p50=${l.p50}ms p99=${l.p99}ms max=${l.max}ms; audio sent ${(s.audioMsSent / 1000).toFixed(1)}s`
  );
}

/**
 * Runs the CLI. Resolves with the exit code instead of exiting, so tests can call it in-process.
 * @param signal aborting ends running sessions gracefully (`close{end}`) and starts no new ones
 * @param env where {@link CLIENT_SECRET_ENV} is read (the entry point passes `process.env`)
 */
export async function main(
  argv: string[],
  io: CliIo,
  signal?: AbortSignal,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<number> {
  let plan: CliPlan;
  let audio: AudioSource;
  try {
    plan = parseCli(argv, env);
    if (plan.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    for (const w of plan.warnings) io.stderr.write(`warning: ${w}\n`);
    audio = plan.wav
      ? await loadWavFile(plan.wav)
      : toneSource({ format: plan.format, channels: plan.mono ? 1 : 2, durationMs: plan.toneSec * 1000 });
  } catch (err) {
    const e = err as Error & { code?: string };
    io.stderr.write(`error: ${e.message}\n\nRun with --help for the options.\n`);
    return 2;
  }
  const human = !plan.json;
  const view = plan.transcriptionConnector ? new ConnectorView() : undefined;
  const live = (lines: string[]) => {
    if (human && !plan.quiet) for (const line of lines) io.stdout.write(`${line}\n`);
  };
  const makeOptions = (index: number): SimulatedSessionOptions => {
    const o: SimulatedSessionOptions = {
      uri: plan.uri,
      apiKey: plan.apiKey,
      audio,
      speed: plan.speed,
      frameMs: plan.frameMs,
      actions: plan.actions,
      probe: plan.probe,
      supportedLanguages: plan.supportedLanguages || undefined,
      // Per-frame entries would dwarf everything else in a long call; the counters keep the totals.
      record: 'text',
    };
    if (plan.clientSecret !== undefined) o.clientSecret = plan.clientSecret;
    if (plan.channelOrder) o.channelOrder = plan.channelOrder;
    if (plan.language !== undefined) o.language = plan.language;
    if (plan.organizationId !== undefined) o.organizationId = plan.organizationId;
    if (plan.conversationId !== undefined) o.conversationId = plan.conversationId;
    if (signal) o.signal = signal;
    if (view) {
      o.customConfig = { ...CONNECTOR_CUSTOM_CONFIG };
      o.onEvent = (e) => live(view.receive(index, e));
    }
    return o;
  };
  const { results, summary } = await runManySessions({
    sessions: plan.sessions,
    rampPerSec: plan.ramp,
    makeOptions,
    ...(signal ? { signal } : {}),
    onResult: (i, r) => {
      if (human && !plan.quiet) io.stdout.write(`${describe(i, r)}\n`);
      if (view) live(view.finish(i, r));
    },
  });
  if (human) io.stdout.write(`${[describeSummary(summary), ...(view?.summaryLines() ?? [])].join('\n')}\n`);
  else io.stdout.write(`${JSON.stringify({ summary, results, ...(view && { connector: view.toJson() }) }, null, 2)}\n`);
  return results.every((r) => r?.outcome === 'closed') && !view?.violationCount ? 0 : 1;
}

const isEntryPoint = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isEntryPoint) {
  const controller = new AbortController();
  // First Ctrl-C closes sessions gracefully; a second one is Node's default (exit).
  process.once('SIGINT', () => controller.abort());
  main(process.argv.slice(2), process, controller.signal, process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
