/**
 * The `--transcription-connector` view on the transcripts recorded from the real gateway
 * (connector-events.fixture.json): the line printed per transcript, the violations it shows as they come,
 * the summary, and the JSON.
 */
import { describe, expect, it } from 'vitest';
import type { ChannelName } from '../../../core/audio/roles';
import { ConnectorView } from '../../../local/simulator/connector-view';
import type { ReceivedEvent, SimulatedSessionResult } from '../../../local/simulator/options';
import fixture from './connector-events.fixture.json';

const CHANNELS = fixture.opened.media[0]?.channels as ChannelName[];

/** Recorded event `n` as the client hands it over, arriving `sinceOpenedMs` after opened at `positionMs`. */
function arrival(
  n: number,
  sinceOpenedMs: number,
  positionMs: number,
  more: Partial<ReceivedEvent> = {},
): ReceivedEvent {
  return {
    sessionId: fixture.events[n]?.id as string,
    atMs: sinceOpenedMs + 40,
    sinceOpenedMs,
    positionMs,
    afterClose: false,
    channels: CHANNELS,
    entities: structuredClone(fixture.events[n]?.parameters.entities),
    ...more,
  };
}

/** An entity list holding one transcript with `change` applied to a copy of recorded transcript `n`. */
// biome-ignore lint/suspicious/noExplicitAny: tests alter the recorded wire shape on purpose
function altered(n: number, change: (d: Record<string, any>) => void): unknown[] {
  const entities = structuredClone(fixture.events[n]?.parameters.entities) as Array<{ data: Record<string, unknown> }>;
  change(entities[0]?.data as Record<string, unknown>);
  return entities;
}

function closed(positionMs: number, audioMsSent = positionMs): SimulatedSessionResult {
  return {
    outcome: 'closed',
    sessionId: 's',
    serverMessages: [],
    exchange: [],
    audioBytesSent: audioMsSent * 16,
    audioMsSent,
    positionMs,
    protocolErrors: [],
    durationMs: positionMs,
  };
}

const AGENT_LINE =
  '#1 +1.43s ch1 internal/agent    final   0.74s–3.39s conf 0.90 en-US "thank you for calling." [4 tokens]';
const CUSTOMER_LINE =
  '#1 +1.90s ch0 external/customer final   4.18s–6.56s conf 0.90 en-US "my pin is four seven one one." [7 tokens]';

describe('connector view', () => {
  describe('on the recorded round trip', () => {
    it('prints one readable line per transcript as it arrives', () => {
      const view = new ConnectorView();
      expect(view.receive(0, arrival(0, 1_430, 4_200))).toEqual([AGENT_LINE]);
      expect(view.receive(0, arrival(1, 1_900, 7_500))).toEqual([CUSTOMER_LINE]);
      expect(view.finish(0, closed(7_500))).toEqual([]);
      expect(view.violationCount).toBe(0);
    });

    it('summarizes per channel, the first-event latency and the lag behind the audio', () => {
      const view = new ConnectorView();
      view.receive(0, arrival(0, 1_430, 4_200));
      view.receive(0, arrival(1, 1_900, 7_500));
      // Lags: 4.20 − 3.39 = 0.81 s, 7.50 − 6.56 = 0.94 s.
      expect(view.summary()).toEqual({
        transcripts: 2,
        finals: 2,
        partials: 0,
        byChannel: [
          { channelId: 0, channel: 'external', role: 'customer', transcripts: 1 },
          { channelId: 1, channel: 'internal', role: 'agent', transcripts: 1 },
        ],
        firstTranscriptMs: { sessions: 1, p50: 1_430, max: 1_430 },
        lagMs: { count: 2, p50: 810, max: 940 },
        violations: 0,
        sessionsWithoutTranscripts: 0,
      });
      expect(view.summaryLines()).toEqual([
        'transcription connector: 2 transcripts (2 final, 0 partial) — ch0 external/customer 1, ' +
          'ch1 internal/agent 1; first 1430 ms after opened; lag behind audio p50=810ms max=940ms; 0 violations',
      ]);
    });

    it('gives the first-event latency over sessions as p50 and max', () => {
      const view = new ConnectorView();
      view.receive(0, arrival(0, 1_400, 4_200));
      view.receive(1, arrival(0, 2_600, 4_200));
      view.receive(2, arrival(0, 1_800, 4_200));
      view.receive(2, arrival(1, 900, 7_500)); // not the session's first
      expect(view.summary().firstTranscriptMs).toEqual({ sessions: 3, p50: 1_800, max: 2_600 });
      expect(view.summaryLines()[0]).toContain('first after opened p50=1800ms max=2600ms');
    });

    it('keeps every transcript with its arrival for --json', () => {
      const view = new ConnectorView();
      view.receive(0, arrival(0, 1_430.4, 4_200));
      const json = JSON.parse(JSON.stringify(view.toJson()));
      expect(json.transcripts).toEqual([
        {
          session: 1,
          sessionId: fixture.events[0]?.id,
          atMs: 1_470,
          sinceOpenedMs: 1_430,
          positionMs: 4_200,
          afterClose: false,
          channel: 'internal',
          data: fixture.events[0]?.parameters.entities[0]?.data,
          violations: [],
        },
      ]);
      expect(json.violations).toEqual([]);
      expect(json.summary.transcripts).toBe(1);
    });
  });

  describe('on what the suite would reject', () => {
    it('shows each violation under its transcript and counts it', () => {
      const view = new ConnectorView();
      const entities = altered(1, (d) => {
        d.alternatives[0].confidence = 1.5;
        d.isFinal = 'yes';
      });
      const lines = view.receive(0, arrival(1, 1_900, 7_500, { entities }));
      expect(lines[0]).toMatch(/^#1 \+1\.90s ch0 external\/customer isFinal\? 4\.18s–6\.56s conf 1\.50 /);
      expect(lines.slice(1)).toEqual([
        '#1   ✗ transcript 1: isFinal is "yes", not a boolean',
        '#1   ✗ transcript 1: alternatives[0].confidence is 1.5, not a number in 0..1',
      ]);
      expect(view.violationCount).toBe(2);
      expect(view.summaryLines()).toEqual([
        expect.stringMatching(/1 transcript \(0 final, 0 partial\).*; 2 violations$/),
        '  ✗ #1 transcript 1: isFinal is "yes", not a boolean',
        '  ✗ #1 transcript 1: alternatives[0].confidence is 1.5, not a number in 0..1',
      ]);
    });

    it('reports a final id sent twice in a session, not across sessions', () => {
      const view = new ConnectorView();
      view.receive(0, arrival(0, 1_000, 4_200));
      view.receive(1, arrival(0, 1_000, 4_200));
      expect(view.violationCount).toBe(0);
      expect(view.receive(0, arrival(0, 1_200, 4_400))).toEqual([
        expect.stringContaining('ch1 internal/agent'),
        '#1   ✗ transcript 3: final id repeats transcript 1',
      ]);
    });

    it('reports several transcripts in one event, and still shows each', () => {
      const view = new ConnectorView();
      const entities = fixture.events.flatMap((e) => structuredClone(e.parameters.entities));
      const lines = view.receive(0, arrival(0, 1_900, 7_500, { entities }));
      expect(lines).toHaveLength(3);
      expect(lines[0]).toBe(
        "#1   ✗ 'event' carries 2 entities (2 transcripts); Genesys reads one transcript per event",
      );
      expect(lines.slice(1).map((l) => l.split(' ')[2])).toEqual(['ch1', 'ch0']);
    });

    it('reports a session that streamed and closed without a transcript, and says when it stayed paused', () => {
      const view = new ConnectorView();
      expect(view.finish(0, closed(7_500))).toEqual([
        '#1   ✗ no transcript before closed: is transcription on for this call? ' +
          '(a genesys-controlled key, or start-streaming for the conversation)',
      ]);
      expect(view.finish(1, closed(7_500, 0))[0]).toContain('the server kept the stream paused');
      expect(view.summary()).toMatchObject({ violations: 2, sessionsWithoutTranscripts: 2 });
    });

    it('expects nothing of a probe or of a session that did not close cleanly', () => {
      const view = new ConnectorView();
      expect(view.finish(0, closed(0))).toEqual([]);
      expect(view.finish(1, { ...closed(7_500), outcome: 'disconnected' })).toEqual([]);
      expect(view.violationCount).toBe(0);
    });
  });

  describe('on legal but unusual events', () => {
    it('labels partials and transcripts after close, and leaves the latter out of the lag', () => {
      const view = new ConnectorView();
      const partial = altered(0, (d) => {
        d.isFinal = false;
      });
      expect(view.receive(0, arrival(0, 900, 2_000, { entities: partial }))[0]).toMatch(/ partial +0\.74s–3\.39s /);
      const late = view.receive(0, arrival(1, 3_000, 7_500, { afterClose: true }));
      expect(late[0]?.endsWith('[7 tokens] (after close)')).toBe(true);
      expect(view.summary()).toMatchObject({ finals: 1, partials: 1, lagMs: { count: 0, p50: 0, max: 0 } });
    });

    it('notes missing tokens once with a count', () => {
      const view = new ConnectorView();
      for (const n of [0, 1]) {
        const entities = altered(n, (d) => {
          delete d.alternatives[0].interpretations[0].tokens;
        });
        expect(view.receive(0, arrival(n, 1_000 + n, 7_500, { entities }))[0]).not.toContain('tokens]');
      }
      expect(view.violationCount).toBe(0);
      expect(view.summaryLines().slice(1)).toEqual([
        "  note: no word tokens: Genesys' compliance suite requires them on final transcripts (2×)",
      ]);
    });

    it('mentions entities of other types without checking them', () => {
      const view = new ConnectorView();
      const lines = view.receive(0, arrival(0, 1_000, 4_000, { entities: [{ type: 'agentassist', data: {} }] }));
      expect(lines).toEqual(['#1 event entity of type "agentassist" (not shown)']);
      expect(view.summary().transcripts).toBe(0);
    });
  });
});
