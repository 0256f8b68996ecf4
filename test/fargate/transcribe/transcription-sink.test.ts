import { describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import type { SinkStartInfo } from '../../../core/audiohook/ports';
import type { SegmentInfo, SegmentSummary } from '../../../fargate/src/transcribe/transcription-sink';
import { TranscriptionSink, TranscriptionSinkError } from '../../../fargate/src/transcribe/transcription-sink';
import {
  constFrame,
  FakeTranscribe,
  ManualTime,
  RecordingLogger,
  RecordingSink,
  result,
  settle,
  until,
} from './helpers';

const SEC = 8000;
const BYTES_PER_SEC_STEREO = SEC * 4;

function startInfo(roles: Role[] = ['customer', 'agent']): SinkStartInfo {
  const channels = roles.map((r) => (r === 'customer' ? 'external' : 'internal'));
  return {
    sessionId: 'sess-1',
    conversationId: 'conv-1',
    media: { type: 'audio', format: 'PCMU', channels, rate: 8000 },
    roles,
    channels,
  };
}

function segmentInfo(segment: number): SegmentInfo {
  return {
    segment,
    streamIds: { customer: `cust-${segment}`, agent: `agent-${segment}` },
    params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false },
  };
}

function setup() {
  const time = new ManualTime();
  const client = new FakeTranscribe();
  const utterances = new RecordingSink();
  const ended: SegmentSummary[] = [];
  const sink = new TranscriptionSink({
    client,
    utterances,
    logger: new RecordingLogger(),
    clock: time,
    timers: time,
    random: () => 0,
    config: { idleEndMs: 0 },
    onSegmentEnded: (s) => ended.push(s),
  });
  /** Frames of a session whose channels carry `roles` (customer first unless a test negotiated otherwise). */
  const feed = (fromSec: number, toSec: number, roles: readonly Role[] = ['customer', 'agent']) => {
    for (let p = Math.round(fromSec * SEC); p < Math.round(toSec * SEC); p += 160) {
      sink.write(constFrame(p, 160, { customer: 1000, agent: 2000 }, roles));
    }
  };
  return { time, client, utterances, ended, sink, feed };
}

describe('TranscriptionSink', () => {
  it('never forwards audio while no segment is active', async () => {
    const { client, sink, feed } = setup();
    sink.start(startInfo());
    feed(0, 5);
    await settle();
    expect(client.sends).toBe(0);
    expect(sink.stats().samplesDroppedWhileStopped).toBe(5 * SEC);
  });

  it('forwards audio while a segment is active and stops forwarding at stop', async () => {
    const { client, sink, feed } = setup();
    sink.start(startInfo());
    feed(0, 1);
    sink.startSegment(segmentInfo(1));
    feed(1, 3);
    await until(() => client.streams[0]?.bytes === 2 * BYTES_PER_SEC_STEREO);
    const summary = await sink.stopSegment();
    feed(3, 6);
    await settle();
    expect(client.stream(0).bytes).toBe(2 * BYTES_PER_SEC_STEREO);
    expect(summary?.roles.customer).toMatchObject({
      streamId: 'cust-1',
      totalAudioBytes: 32_000,
      audioDurationMs: 2000,
    });
    expect(summary?.roles.agent).toMatchObject({ streamId: 'agent-1', totalAudioBytes: 32_000, audioDurationMs: 2000 });
    expect(sink.stats().samplesDroppedWhileStopped).toBe(4 * SEC);
  });

  it('honours a start that arrives before the session’s audio begins', async () => {
    const { client, sink, feed } = setup();
    sink.startSegment(segmentInfo(1));
    expect(sink.active).toBe(true);
    sink.start(startInfo(['agent', 'customer']));
    feed(0, 1, ['agent', 'customer']);
    await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
    const [ch0] = client.stream(0).samples(2);
    expect(ch0?.[0]).toBe(2000); // agent first, as negotiated
  });

  it('places a second segment’s utterances on the same timeline, with its own stream ids', async () => {
    const { client, sink, feed, utterances } = setup();
    sink.start(startInfo());
    sink.startSegment(segmentInfo(1));
    feed(0, 1);
    await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
    client.stream(0).emit(result('r1', 'ch_0', 0.1, 0.6, 'first segment'));
    await until(() => utterances.utterances.length === 1);
    await sink.stopSegment();
    feed(1, 20);
    sink.startSegment(segmentInfo(2));
    feed(20, 21);
    await until(() => client.streams[1]?.bytes === BYTES_PER_SEC_STEREO);
    client.stream(1).emit(result('r1', 'ch_1', 0.1, 0.6, 'second segment'));
    await until(() => utterances.utterances.length === 2);
    expect(utterances.utterances.map((u) => [u.segment, u.role, u.streamId, u.startMs, u.endMs])).toEqual([
      [1, 'customer', 'cust-1', 100, 600],
      [2, 'agent', 'agent-2', 20_100, 20_600],
    ]);
    expect(utterances.utterances[0]?.utteranceId).not.toBe(utterances.utterances[1]?.utteranceId);
  });

  it('treats a repeated start of the active segment as a no-op and refuses another segment', () => {
    const { sink } = setup();
    sink.start(startInfo());
    sink.startSegment(segmentInfo(1));
    expect(() => sink.startSegment(segmentInfo(1))).not.toThrow();
    expect(() => sink.startSegment(segmentInfo(2))).toThrow(TranscriptionSinkError);
    try {
      sink.startSegment(segmentInfo(2));
    } catch (err) {
      expect((err as TranscriptionSinkError).code).toBe('TRANSCRIPTION_SEGMENT_ACTIVE');
    }
  });

  it('answers a stop without an active segment with undefined', async () => {
    const { sink } = setup();
    sink.start(startInfo());
    expect(await sink.stopSegment()).toBeUndefined();
  });

  it('closes the active segment when the session ends and reports its summary', async () => {
    const { client, sink, feed, ended } = setup();
    client.onInputEnd = () => [result('last', 'ch_0', 0.1, 0.5, 'goodbye')];
    sink.start(startInfo());
    sink.startSegment(segmentInfo(3));
    feed(0, 1);
    await sink.end('close');
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ segment: 3, failed: false });
    expect(ended[0]?.roles.customer?.transcripts).toBe(1);
    expect(() => sink.startSegment(segmentInfo(4))).toThrow(TranscriptionSinkError);
  });

  it('summarizes only the role a mono session carries', async () => {
    const { client, sink } = setup();
    sink.start(startInfo(['customer']));
    sink.startSegment(segmentInfo(1));
    for (let p = 0; p < SEC; p += 160) sink.write(constFrame(p, 160, { customer: 5 }));
    await until(() => client.streams[0]?.bytes === SEC * 2);
    const summary = await sink.stopSegment();
    expect(Object.keys(summary?.roles ?? {})).toEqual(['customer']);
  });

  describe('stopping while an earlier segment still flushes', () => {
    /** Segment 1 streams, then its stop hangs: stream 0 does not complete until the test says so. */
    async function firstStopHanging() {
      const ctx = setup();
      const { client, sink, feed } = ctx;
      sink.start(startInfo());
      sink.startSegment(segmentInfo(1));
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(0).completeOnInputEnd = false;
      let firstDone = false;
      const first = sink.stopSegment().then((s) => {
        firstDone = true;
        return s;
      });
      await until(() => client.stream(0).inputEnded);
      await settle();
      expect(firstDone).toBe(false);
      return { ...ctx, first, isFirstDone: () => firstDone };
    }

    it('stops the segment active at the call, never answering with the earlier segment’s flush', async () => {
      const { client, sink, feed, first } = await firstStopHanging();
      sink.startSegment(segmentInfo(2));
      feed(1, 2);
      await until(() => client.streams[1]?.bytes === BYTES_PER_SEC_STEREO);

      const second = await sink.stopSegment();

      expect(second?.segment).toBe(2);
      expect(second?.roles.customer?.streamId).toBe('cust-2');
      expect(client.stream(1).inputEnded).toBe(true);
      // Segment 2 no longer receives audio.
      feed(2, 3);
      await settle();
      expect(client.stream(1).bytes).toBe(BYTES_PER_SEC_STEREO);
      expect(sink.active).toBe(false);
      client.stream(0).complete();
      expect((await first)?.segment).toBe(1);
    });

    it('answers stopSegment(n) with the stop already in flight for segment n', async () => {
      const { client, sink, first } = await firstStopHanging();
      const again = sink.stopSegment(1);
      expect(await sink.stopSegment(5)).toBeUndefined();
      client.stream(0).complete();
      const [a, b] = await Promise.all([first, again]);
      expect(a?.segment).toBe(1);
      expect(b).toBe(a);
    });

    it('answers a stop of segment n that arrives while the session’s end flushes it with that flush’s summary', async () => {
      const { client, sink, feed } = setup();
      sink.start(startInfo());
      sink.startSegment(segmentInfo(1));
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(0).completeOnInputEnd = false;
      const ending = sink.end('close');
      await until(() => client.stream(0).inputEnded);
      const stop = sink.stopSegment(1);
      expect(await sink.stopSegment()).toBeUndefined(); // no segment is active any more
      client.stream(0).complete();
      const summary = await stop;
      expect(summary?.segment).toBe(1);
      expect(summary?.roles.customer?.totalAudioBytes).toBe(16_000);
      await ending;
    });

    it('ends the session only after the earlier stop finished, closing the active segment too', async () => {
      const { client, sink, feed, ended, isFirstDone } = await firstStopHanging();
      sink.startSegment(segmentInfo(2));
      feed(1, 2);
      await until(() => client.streams[1]?.bytes === BYTES_PER_SEC_STEREO);
      let endDone = false;
      const ending = sink.end('close').then(() => {
        endDone = true;
      });
      await until(() => ended.length === 1);
      expect(ended[0]?.segment).toBe(2);
      await settle();
      expect(endDone).toBe(false);
      client.stream(0).complete();
      await ending;
      expect(isFirstDone()).toBe(true);
    });
  });
});
