/**
 * The `genesys` control policy in the gateway (docs/genesys.md, "Two control policies"): a session
 * authenticated with a `genesys`-controlled API key is transcribed from `open` to `close` without any
 * start-streaming call. At open the session asks for the start itself, through the same store write the
 * start Lambda makes (`requestStart`, idempotent), so the ordinary converge claims the segment; at the end
 * it asks for the stop (`requestStop`) unless another live `genesys` session of the conversation remains.
 *
 * Start parameters come from the `open` message (its language, when the deployment supports it), the API
 * key's defaults and the deployment's policy, checked by the very rules the start Lambda applies
 * (`decideStart`); speaker ids are derived (customer = the `open` participant id, agent = a fixed id).
 */
import { ApiError } from '../../../core/api/errors';
import {
  canonicalLanguage,
  decideStart,
  REDACTION_OUTPUTS,
  SERVED_NAMESPACE,
  type StartPolicy,
  type StartRequest,
} from '../../../core/api/start-stop-rules';
import type { ConnectionInfo, OpenInfo } from '../../../core/audiohook/ports';
import type { ControlPolicy } from '../../../core/auth/api-keys';
import type { ConversationMeta, StartParams } from '../../../core/conversation/conversation';
import type { SessionRecord } from '../../../core/conversation/session';
import { describeError } from '../../../core/errors';
import type { RedactionOutput } from '../../../core/transcript/utterance';
import { notifyHoldingTasks } from '../../../store/control-service';
import type { ControlContext } from './controller-ports';
import type { LocalSession } from './local-session';

/**
 * The start policy of `genesys` sessions when the pipeline is given none (tests, embedders): the defaults of
 * `SUPPORTED_LANGUAGES`, `DEFAULT_LANGUAGE` and `REDACTION_ENABLED`. The gateway itself passes the
 * deployment's policy from its configuration (fargate/src/start-policy-config.ts).
 */
export const DEFAULT_GENESYS_START_POLICY: StartPolicy = {
  supportedLanguages: ['en-US', 'es-US'],
  defaultLanguage: 'en-US',
  redactionEnabled: true,
};

/** The agent's speaker id in `genesys` sessions: the `open` message names no agent. */
export const GENESYS_AGENT_ID = 'genesys-agent';

/** The start parameters of a `genesys` session, and what was set aside on the way (for the log). */
export interface GenesysStart {
  params: StartParams;
  /** Where the language came from. */
  languageFrom: 'open' | 'key-default' | 'deployment-default';
  /** Values of `open` or `customConfig` that were not used, each with why. */
  ignored: string[];
}

/** `true`/`false`, also as the strings Genesys' custom configuration editor tends to produce. */
function flag(value: unknown): boolean | undefined {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return undefined;
}

/** The start-streaming parameters `customConfig` may carry, with what was unusable noted. */
function customParams(
  custom: Record<string, unknown> | undefined,
  ignored: string[],
): NonNullable<StartRequest['autotranscribeParams']> {
  const out: NonNullable<StartRequest['autotranscribeParams']> = {};
  if (custom === undefined) return out;
  const redaction = custom.redactionOutput;
  if (redaction !== undefined) {
    if (REDACTION_OUTPUTS.includes(redaction as RedactionOutput)) out.redactionOutput = redaction as RedactionOutput;
    else ignored.push(`customConfig.redactionOutput: not one of ${REDACTION_OUTPUTS.join(', ')}`);
  }
  for (const name of ['detailedToken', 'audioRecordingAllowed'] as const) {
    if (custom[name] === undefined) continue;
    const value = flag(custom[name]);
    if (value === undefined) ignored.push(`customConfig.${name}: not true or false`);
    else out[name] = value;
  }
  return out;
}

/**
 * Decides a `genesys` session's start parameters. Language: the `open` language when supported, else the
 * key's default when supported, else the deployment default. The key's `defaults.redactionOutput` and
 * `defaults.detailedToken` apply unless `customConfig` names them. `customConfig` may set `redactionOutput`,
 * `detailedToken` and `audioRecordingAllowed`; a combination the start rules refuse falls back to the
 * defaults (noted in `ignored`), since a call must never go untranscribed over a configuration slip.
 */
export function genesysStartParams(info: OpenInfo, connection: ConnectionInfo, policy: StartPolicy): GenesysStart {
  const ignored: string[] = [];
  const fromOpen =
    info.language === undefined ? undefined : canonicalLanguage(info.language, policy.supportedLanguages);
  if (info.language !== undefined && fromOpen === undefined)
    ignored.push(`open language ${info.language}: not supported`);
  const keyLanguage = connection.defaults?.language;
  const fromKey = keyLanguage === undefined ? undefined : canonicalLanguage(keyLanguage, policy.supportedLanguages);
  if (fromOpen === undefined && keyLanguage !== undefined && fromKey === undefined) {
    ignored.push(`key default language ${keyLanguage}: not supported`);
  }
  const language = fromOpen ?? fromKey ?? policy.defaultLanguage;
  const languageFrom = fromOpen !== undefined ? 'open' : fromKey !== undefined ? 'key-default' : 'deployment-default';
  // The key's defaults, then customConfig over them (Genesys reads word tokens on final transcript events:
  // a connector key that may send unredacted text can ask for them with defaults.detailedToken).
  const keyDefaults = connection.defaults;
  const keyParams = {
    ...(keyDefaults?.redactionOutput !== undefined && { redactionOutput: keyDefaults.redactionOutput }),
    ...(keyDefaults?.detailedToken !== undefined && { detailedToken: keyDefaults.detailedToken }),
  };
  const request: StartRequest = {
    namespace: SERVED_NAMESPACE,
    guid: info.conversationId,
    customerId: info.participantId,
    agentId: GENESYS_AGENT_ID,
    autotranscribeParams: { language, ...keyParams, ...customParams(info.customConfig, ignored) },
  };
  // customConfig over the key's defaults, else the key's defaults alone, else the deployment's.
  const attempts: Array<[StartRequest['autotranscribeParams'], string]> = [
    [request.autotranscribeParams, 'customConfig'],
    [{ language, ...keyParams }, 'key defaults'],
    [{ language }, ''],
  ];
  for (const [params, source] of attempts) {
    try {
      return {
        // Genesys decides, the language included: its language updates are always followed.
        params: {
          ...decideStart({ ...request, autotranscribeParams: params }, policy).params,
          followLanguageUpdates: true,
        },
        languageFrom,
        ignored,
      };
    } catch (err) {
      if (!(err instanceof ApiError) || source === '') throw err;
      ignored.push(`${source}: ${err.message}; using the defaults`);
    }
  }
  throw new Error('unreachable: the last attempt returns or throws');
}

/** The control policy a stored session was registered with (the SES item's `control`; absent = `api`). */
export function sessionControl(session: SessionRecord): ControlPolicy {
  return (session as SessionRecord & { control?: ControlPolicy }).control === 'genesys' ? 'genesys' : 'api';
}

/** Requests the start and the stop of `genesys`-controlled sessions. */
export class GenesysControl {
  readonly #ctx: ControlContext;

  constructor(ctx: ControlContext) {
    this.#ctx = ctx;
  }

  /**
   * Decides the session's start parameters at open (logged once; nothing is written yet). A policy the
   * start rules refuse outright (a default language it does not list) leaves the session to the API.
   */
  prepare(ls: LocalSession, info: OpenInfo): void {
    const policy = this.#ctx.options.genesysPolicy ?? DEFAULT_GENESYS_START_POLICY;
    let start: GenesysStart;
    try {
      start = genesysStartParams(info, ls.connection, policy);
    } catch (err) {
      ls.log.error(
        { conversationId: info.conversationId, err: describeError(err), code: 'GENESYS_START_PARAMS_INVALID' },
        'no valid start parameters for a genesys-controlled session (check the gateway start policy): it waits for start-streaming',
      );
      return;
    }
    ls.genesys = { params: start.params, startRequested: false };
    ls.log.info(
      {
        conversationId: info.conversationId,
        control: 'genesys',
        language: start.params.language,
        languageFrom: start.languageFrom,
        redactionOutput: start.params.redactionOutput,
        ignored: start.ignored.length > 0 ? start.ignored : undefined,
      },
      'genesys-controlled session: transcription requested from open to close',
    );
  }

  /**
   * The start the start Lambda would record (idempotent: a running segment is kept as it is). Returns META
   * to converge to, or `undefined` to re-read it (the store lost its race too often). Throws on store errors.
   */
  async requestStart(ls: LocalSession): Promise<ConversationMeta | undefined> {
    const { options: o, stats } = this.#ctx;
    const genesys = ls.genesys;
    const conversationId = ls.conversationId;
    if (genesys === undefined || conversationId === undefined) return undefined;
    const result = await this.#ctx.retry(() =>
      o.conversations.requestStart(conversationId, genesys.params, () => o.clock.now()),
    );
    genesys.startRequested = true;
    stats.count('genesysStarts');
    ls.log.info(
      { conversationId, outcome: result.outcome, segment: result.outcome === 'conflict' ? undefined : result.segment },
      'genesys-controlled session: start recorded',
    );
    return result.outcome === 'conflict' ? undefined : result.meta;
  }

  /**
   * After a `genesys` session ended (its segment and SES item closed): records the stop, unless another
   * live `genesys` session of the conversation remains here or on another task, and tells the other tasks
   * holding the conversation. Returns whether it stopped. Never throws (a failure is logged: the
   * conversation then stays `on`, and its next session renews it).
   */
  async stopAfterEnd(ls: LocalSession): Promise<boolean> {
    const { options: o, stats } = this.#ctx;
    const conversationId = ls.conversationId as string;
    try {
      const entry = this.#ctx.queue.get(conversationId);
      const localLeft = [...(entry?.sessions ?? [])].some(
        (s) => s !== ls && s.phase !== 'ended' && !s.refused && s.connection.control === 'genesys',
      );
      const open = localLeft ? [] : await o.conversations.listSessions(conversationId, { openOnly: true });
      const remoteLeft = open.some((s) => s.sessionId !== ls.sessionId && sessionControl(s) === 'genesys');
      if (localLeft || remoteLeft) {
        ls.log.info({ conversationId }, 'genesys-controlled session ended; another one of the call keeps it on');
        return false;
      }
      const result = await this.#ctx.retry(() => o.conversations.requestStop(conversationId, () => o.clock.now()));
      if (result.outcome !== 'stopped') return false;
      stats.count('genesysStops');
      const { tasks } = await notifyHoldingTasks(o, conversationId, result.meta.desiredVersion, 'off', {
        exceptTask: o.taskId,
      });
      ls.log.info(
        { conversationId, segment: result.segment, tasksNotified: tasks.length },
        'genesys-controlled session ended: stop recorded',
      );
      return true;
    } catch (err) {
      stats.count('genesysStopFailures');
      ls.log.warn(
        { conversationId, err: describeError(err), code: 'GENESYS_STOP_FAILED' },
        'recording the stop after a genesys-controlled session failed: the conversation stays on until its next session or a stop',
      );
      return false;
    }
  }
}
