/**
 * How the transcription sink feeds segment recordings: only for segments that allow it, with exactly
 * the frames it forwards to Transcribe, finished at once when the segment stops or the session ends.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AudioFrame, SinkStartInfo } from '../../../core/audiohook/ports';
import type { RecordingStore } from '../../../fargate/src/recordings/recording-store';
import type {
  RecordingOutcome,
  RecordingSegmentInfo,
  RecordingsPort,
  SegmentRecording,
} from '../../../fargate/src/recordings/recordings';
import { SegmentRecordings } from '../../../fargate/src/recordings/recordings';
import { type SegmentInfo, TranscriptionSink } from '../../../fargate/src/transcribe/transcription-sink';
import { CaptureLogger } from '../../helpers/capture-logger';
import {
  constFrame,
  FakeTranscribe,
  ManualTime,
  RecordingLogger,
  RecordingSink,
  settle,
  until,
} from '../transcribe/helpers';

const SEC = 8000;

/** Records what the sink asks of the recorder. */
class FakeRecordings implements RecordingsPort {
  readonly begun: RecordingSegmentInfo[] = [];
  readonly recordings: { frames: AudioFrame[]; finished: number }[] = [];

  begin(info: RecordingSegmentInfo): SegmentRecording {
    this.begun.push(info);
    const rec = { frames: [] as AudioFrame[], finished: 0 };
    this.recordings.push(rec);
    const target = { bucket: 'b', key: `recordings/${info.conversationId}/segment-${info.segment}.wav` };
    return {
      target,
      write: (frame) => rec.frames.push(frame),
      finish: () => {
        rec.finished++;
        return Promise.resolve<RecordingOutcome>({ status: 'stored', target, bytes: 0, attempts: 1 });
      },
    };
  }
}

const start: SinkStartInfo = {
  sessionId: 'sess-1',
  conversationId: 'conv-1',
  media: { type: 'audio', format: 'PCMU', channels: ['internal', 'external'], rate: 8000 },
  roles: ['agent', 'customer'],
  channels: ['internal', 'external'],
};

function segment(n: number, audioRecordingAllowed?: boolean): SegmentInfo {
  return {
    segment: n,
    streamIds: { customer: `c-${n}`, agent: `a-${n}` },
    params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false },
    ...(audioRecordingAllowed !== undefined && { audioRecordingAllowed }),
  };
}

function setup(recordings?: RecordingsPort) {
  const time = new ManualTime();
  const client = new FakeTranscribe();
  const sink = new TranscriptionSink({
    client,
    utterances: new RecordingSink(),
    logger: new RecordingLogger(),
    clock: time,
    timers: time,
    random: () => 0,
    config: { idleEndMs: 0 },
    ...(recordings !== undefined && { recordings }),
  });
  const frames: AudioFrame[] = [];
  const feed = (fromSec: number, toSec: number) => {
    for (let p = Math.round(fromSec * SEC); p < Math.round(toSec * SEC); p += 160) {
      const f = constFrame(p, 160, { customer: 100 + p, agent: -100 - p });
      frames.push(f);
      sink.write(f);
    }
  };
  return { client, sink, feed, frames };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('TranscriptionSink recordings', () => {
  it('records a segment that allows it: the frames forwarded during the segment, in negotiated channel order', async () => {
    const recordings = new FakeRecordings();
    const { client, sink, feed, frames } = setup(recordings);
    sink.start(start);
    feed(0, 1); // before the segment: neither transcribed nor recorded
    sink.startSegment(segment(4, true));
    feed(1, 2);
    await until(() => client.streams[0]?.bytes === SEC * 4);
    const summary = await sink.stopSegment();
    feed(2, 3); // after the stop: neither

    expect(recordings.begun).toEqual([
      { conversationId: 'conv-1', segment: 4, roles: ['agent', 'customer'], channels: ['internal', 'external'] },
    ]);
    const rec = recordings.recordings[0];
    expect(rec?.frames).toEqual(frames.slice(50, 100));
    expect(rec?.finished).toBe(1);
    expect(summary?.recording).toEqual({ bucket: 'b', key: 'recordings/conv-1/segment-4.wav' });
  });

  it('finishes the recording at the stop, without waiting for the recognizer’s flush', async () => {
    const recordings = new FakeRecordings();
    const { client, sink, feed } = setup(recordings);
    sink.start(start);
    sink.startSegment(segment(1, true));
    feed(0, 1);
    await until(() => client.streams[0]?.bytes === SEC * 4);
    client.stream(0).completeOnInputEnd = false;
    const stopping = sink.stopSegment();
    await settle();
    expect(recordings.recordings[0]?.finished).toBe(1);
    client.stream(0).complete();
    await stopping;
  });

  it('finishes the recording when the session ends during the segment', async () => {
    const recordings = new FakeRecordings();
    const { sink, feed } = setup(recordings);
    sink.start(start);
    sink.startSegment(segment(2, true));
    feed(0, 1);
    await sink.end('disconnect');
    expect(recordings.recordings[0]?.finished).toBe(1);
    expect(recordings.recordings[0]?.frames).toHaveLength(50);
  });

  it('records nothing for a segment that does not allow it (and for one that says nothing)', async () => {
    const recordings = new FakeRecordings();
    const { sink, feed } = setup(recordings);
    sink.start(start);
    sink.startSegment(segment(1, false));
    feed(0, 1);
    const first = await sink.stopSegment();
    sink.startSegment(segment(2));
    feed(1, 2);
    const second = await sink.stopSegment();
    expect(recordings.begun).toEqual([]);
    expect(first?.recording).toBeUndefined();
    expect(second?.recording).toBeUndefined();
  });

  it('creates no spool file at all when the segment does not allow recording', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'rec-none-'));
    dirs.push(spoolDir);
    let puts = 0;
    const store: RecordingStore = {
      bucket: 'b',
      put: async () => {
        puts++;
      },
    };
    const recordings = new SegmentRecordings({
      store,
      logger: new CaptureLogger(),
      timers: new ManualTime(),
      spoolDir,
    });
    const { sink, feed } = setup(recordings);
    sink.start(start);
    sink.startSegment(segment(1, false));
    feed(0, 1);
    expect(readdirSync(spoolDir)).toEqual([]);
    await sink.end('close');
    await recordings.idle();
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(puts).toBe(0);
    expect(recordings.stats().started).toBe(0);
  });

  it('transcribes without a recording when no recordings bucket is configured', async () => {
    const { client, sink, feed } = setup();
    sink.start(start);
    sink.startSegment(segment(1, true));
    feed(0, 1);
    await until(() => client.streams[0]?.bytes === SEC * 4);
    const summary = await sink.stopSegment();
    expect(summary?.segment).toBe(1);
    expect(summary?.recording).toBeUndefined();
  });

  it('keeps transcribing when the recorder cannot start or throws on write', async () => {
    const throwing: RecordingsPort = {
      begin: () => {
        throw new Error('boom');
      },
    };
    const { client, sink, feed } = setup(throwing);
    sink.start(start);
    sink.startSegment(segment(1, true));
    feed(0, 1);
    await until(() => client.streams[0]?.bytes === SEC * 4);
    expect((await sink.stopSegment())?.recording).toBeUndefined();

    const badWrite: RecordingsPort = {
      begin: () => ({
        target: { bucket: 'b', key: 'k' },
        write: () => {
          throw new Error('disk');
        },
        finish: () => Promise.resolve({ status: 'abandoned', target: { bucket: 'b', key: 'k' } }),
      }),
    };
    const other = setup(badWrite);
    other.sink.start(start);
    other.sink.startSegment(segment(1, true));
    other.feed(0, 1);
    await until(() => other.client.streams[0]?.bytes === SEC * 4);
  });
});
