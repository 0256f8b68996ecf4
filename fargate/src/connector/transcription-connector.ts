/**
 * Transcription Connector (docs/audiohook-protocol.md §5; architecture.md §1.5): sends each final utterance
 * of a session back to Genesys Cloud as an AudioHook `event` with one `transcript` entity, on the session
 * whose audio produced it.
 *
 * - **Opt-in** per session, decided at `open`: `open.parameters.customConfig.transcriptionConnector`
 *   (boolean, or the strings "true"/"false") when present, else the API key's
 *   `features.transcriptionConnector`; off by default. An explicit `false` in customConfig turns it off
 *   for an integration that shares a key with a connector integration.
 * - **When**: after the utterance's store write settled (see {@link withTranscriptionConnector}), in the
 *   order the recognizer delivered them. The streamer awaits that chain when the session's sink ends, and
 *   the session awaits the sink before `closed`, so the finals of a call go out before `closed` (§5.3),
 *   within the session's flush budget.
 * - **Size**: entities are built by core/audiohook/transcript-entity.ts within the client's limit.
 * - Logs carry ids, roles and counts, never transcript text.
 */
import type { Role } from '../../../core/audio/roles';
import type { ConnectionInfo, OpenInfo, SessionControl } from '../../../core/audiohook/ports';
import { buildTranscriptEvents, type TranscriptFit } from '../../../core/audiohook/transcript-entity';
import type { Logger } from '../../../core/ports';
import type { Utterance, UtteranceSink } from '../../../core/transcript/utterance';

/** Stable log codes of the connector (docs/errors.md). */
export type TranscriptionConnectorLogCode =
  | 'CONNECTOR_EVENT_REFUSED'
  | 'CONNECTOR_NO_SESSION'
  | 'CONNECTOR_UTTERANCE_SKIPPED'
  | 'CONNECTOR_UTTERANCE_RESIZED';

/** Where the connector's on/off decision came from. */
export type ConnectorDecisionSource = 'custom-config' | 'api-key' | 'default';

/** The connector's decision for a session. */
export interface ConnectorDecision {
  enabled: boolean;
  source: ConnectorDecisionSource;
}

/** The `customConfig` key that switches the connector for one integration. */
export const CUSTOM_CONFIG_KEY = 'transcriptionConnector';

/**
 * Decides whether a session sends transcripts back: an explicit `customConfig.transcriptionConnector`
 * wins (the Genesys integration's own setting), else the API key's feature flag, else off. Anything but a
 * boolean or "true"/"false" in customConfig is ignored (falls through to the key).
 */
export function decideConnector(
  features: ConnectionInfo['features'],
  customConfig: Record<string, unknown> | undefined,
): ConnectorDecision {
  const raw = customConfig?.[CUSTOM_CONFIG_KEY];
  const explicit =
    typeof raw === 'boolean'
      ? raw
      : typeof raw === 'string' && /^(true|false)$/i.test(raw.trim())
        ? raw.trim().toLowerCase() === 'true'
        : undefined;
  if (explicit !== undefined) return { enabled: explicit, source: 'custom-config' };
  if (features?.transcriptionConnector === true) return { enabled: true, source: 'api-key' };
  return { enabled: false, source: 'default' };
}

/** Counters of one session's connector. */
export interface TranscriptionConnectorStats {
  /** Final utterances handed to the connector while enabled. */
  utterances: number;
  /** `event` messages accepted by the session (sent, or held during a client back-off). */
  sent: number;
  /** `event` messages the session refused (wrong state, e.g. after `closed`; hold queue full). */
  refused: number;
  /** Utterances dropped because the session was no longer in the gateway's registry. */
  noSession: number;
  /** Utterances not sent at all: role not among the negotiated channels, or nothing to send. */
  skipped: number;
  /** Utterances sent without their word tokens to fit the size limit. */
  tokensDropped: number;
  /** Utterances split over several events to fit the size limit. */
  split: number;
  /** Utterances whose text was cut to fit the most events one utterance may become. */
  truncated: number;
}

/** Options of {@link TranscriptionConnector}. */
export interface TranscriptionConnectorOptions {
  readonly sessionId: string;
  /** The live session's control surface, looked up at send time (the gateway's registry). */
  readonly session: () => SessionControl | undefined;
  readonly logger: Logger;
  /** Most events one utterance may become. @default 4 */
  readonly maxPartsPerUtterance?: number;
  /** Largest `event` message in bytes. @default - the protocol limit (core/audiohook/transcript-entity.ts) */
  readonly maxMessageBytes?: number;
}

/** One session's Transcription Connector. Inert until {@link TranscriptionConnector.open} enables it. */
export class TranscriptionConnector {
  readonly #o: TranscriptionConnectorOptions;
  #enabled = false;
  #source: ConnectorDecisionSource = 'default';
  #roles: readonly Role[] = [];
  #refusalLogged = false;
  #finished = false;
  readonly #stats: TranscriptionConnectorStats = {
    utterances: 0,
    sent: 0,
    refused: 0,
    noSession: 0,
    skipped: 0,
    tokensDropped: 0,
    split: 0,
    truncated: 0,
  };

  constructor(opts: TranscriptionConnectorOptions) {
    this.#o = opts;
  }

  /** True once `open` enabled it for this session. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Applies the session's `open`: records the negotiated roles (channel order) and decides on/off.
   * Returns whether the connector is enabled.
   */
  open(info: Pick<OpenInfo, 'roles' | 'customConfig'>, features: ConnectionInfo['features']): boolean {
    const decision = decideConnector(features, info.customConfig);
    this.#enabled = decision.enabled;
    this.#source = decision.source;
    this.#roles = [...info.roles];
    if (decision.enabled || decision.source === 'custom-config') {
      this.#o.logger.info(
        { enabled: decision.enabled, source: decision.source, roles: this.#roles },
        decision.enabled ? 'transcription connector enabled' : 'transcription connector disabled by customConfig',
      );
    }
    return decision.enabled;
  }

  /** Sends one final utterance as event(s), synchronously, in call order. Never throws. */
  deliver(utterance: Utterance): void {
    if (!this.#enabled) return;
    this.#stats.utterances++;
    const ids = { utteranceId: utterance.utteranceId, role: utterance.role, segment: utterance.segment };
    const built = buildTranscriptEvents(utterance, {
      roles: this.#roles,
      sessionId: this.#o.sessionId,
      ...(this.#o.maxPartsPerUtterance !== undefined && { maxParts: this.#o.maxPartsPerUtterance }),
      ...(this.#o.maxMessageBytes !== undefined && { maxMessageBytes: this.#o.maxMessageBytes }),
    });
    if (!built.ok) {
      this.#stats.skipped++;
      this.#o.logger.warn(
        { code: 'CONNECTOR_UTTERANCE_SKIPPED', ...ids, reason: built.reason, roles: this.#roles },
        'transcription connector: utterance not sent',
      );
      return;
    }
    this.#countFit(built.fit, ids, built.entities.length, utterance.text.length);
    const session = this.#o.session();
    if (session === undefined) {
      this.#stats.noSession++;
      this.#o.logger.warn({ code: 'CONNECTOR_NO_SESSION', ...ids }, 'transcription connector: session gone');
      return;
    }
    for (const entity of built.entities) {
      let accepted = false;
      try {
        accepted = session.sendEvent([entity]);
      } catch {
        // SessionControl.sendEvent does not throw; a fake or future implementation might.
        accepted = false;
      }
      if (accepted) {
        this.#stats.sent++;
        continue;
      }
      this.#stats.refused++;
      // Refusals come in runs (the session closed, or a stuck client): one warning, then debug.
      this.#o.logger[this.#refusalLogged ? 'debug' : 'warn'](
        { code: 'CONNECTOR_EVENT_REFUSED', ...ids, channelId: built.channelId },
        'transcription connector: event refused by the session',
      );
      this.#refusalLogged = true;
    }
    this.#o.logger.debug(
      { ...ids, channelId: built.channelId, events: built.entities.length, fit: built.fit },
      'transcription connector: utterance sent',
    );
  }

  /** A snapshot of the counters. */
  stats(): TranscriptionConnectorStats {
    return { ...this.#stats };
  }

  /** Logs the session's totals once (call when the session's last utterances were delivered). */
  finish(): void {
    if (this.#finished || !this.#enabled) return;
    this.#finished = true;
    this.#o.logger.info({ source: this.#source, ...this.#stats }, 'transcription connector summary');
  }

  #countFit(fit: TranscriptFit, ids: Record<string, unknown>, events: number, chars: number): void {
    if (fit === 'whole') return;
    if (fit === 'tokens-dropped') this.#stats.tokensDropped++;
    else if (fit === 'split') this.#stats.split++;
    else this.#stats.truncated++;
    this.#o.logger.info(
      { code: 'CONNECTOR_UTTERANCE_RESIZED', ...ids, fit, events, chars },
      'transcription connector: utterance resized to fit the event size limit',
    );
  }
}

/**
 * Wraps the session's utterance sink: the utterance is stored first, then sent back to Genesys, even when
 * the store failed after its retries (Genesys's transcript should not get holes because our table had a
 * bad minute; the failure itself still reaches the streamer, which counts and logs it).
 *
 * Trade-off of "after storing" over "right after mapping": a slow store delays the events (and, at the end
 * of a call, may push the last ones past the session's flush budget, after which they are refused), but
 * Genesys never shows an utterance before the API can serve it, and there is one ordering point.
 */
export function withTranscriptionConnector(inner: UtteranceSink, connector: TranscriptionConnector): UtteranceSink {
  return {
    async put(utterance: Utterance): Promise<void> {
      try {
        await inner.put(utterance);
      } finally {
        connector.deliver(utterance);
      }
    },
  };
}
