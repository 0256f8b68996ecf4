/**
 * TranscriptionSink.languageChanged: which AudioHook language updates reach the segment's streamer
 * (supported ones, for segments that follow them), and that a following segment opened after an update
 * starts in it.
 */
import { describe, expect, it } from 'vitest';
import type { ChannelName, Role } from '../../../core/audio/roles';
import type { SinkStartInfo } from '../../../core/audiohook/ports';
import { SegmentStreamer } from '../../../fargate/src/transcribe/streamer';
import { type SegmentInfo, TranscriptionSink } from '../../../fargate/src/transcribe/transcription-sink';
import { constFrame, FakeTranscribe, ManualTime, RecordingLogger, RecordingSink, until } from './helpers';

const SEC = 8000;
const BYTES_PER_SEC_STEREO = SEC * 4;

function startInfo(): SinkStartInfo {
  const roles: Role[] = ['customer', 'agent'];
  const channels: ChannelName[] = ['external', 'internal'];
  return {
    sessionId: 'sess-1',
    conversationId: 'conv-1',
    media: { type: 'audio', format: 'PCMU', channels, rate: 8000 },
    roles,
    channels,
  };
}

function segmentInfo(segment: number, followLanguageUpdates: boolean): SegmentInfo {
  return {
    segment,
    streamIds: { customer: `cust-${segment}`, agent: `agent-${segment}` },
    params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false },
    followLanguageUpdates,
  };
}

function setup() {
  const time = new ManualTime();
  const client = new FakeTranscribe();
  const logger = new RecordingLogger();
  /** Every switchLanguage call the sink made, per segment. */
  const switches: [number, string][] = [];
  const sink = new TranscriptionSink({
    client,
    utterances: new RecordingSink(),
    logger,
    clock: time,
    timers: time,
    random: () => 0,
    config: { idleEndMs: 0 },
    supportedLanguages: ['en-US', 'es-US'],
    createStreamer: (opts) => {
      const streamer = new SegmentStreamer(opts);
      const original = streamer.switchLanguage.bind(streamer);
      streamer.switchLanguage = (language: string) => {
        switches.push([opts.segment.segment, language]);
        original(language);
      };
      return streamer;
    },
  });
  let position = 0;
  /** The next `seconds` of the session's audio. */
  const feed = (seconds: number) => {
    for (const end = position + seconds * SEC; position < end; position += 160) {
      sink.write(constFrame(position, 160, { customer: 1000, agent: 2000 }));
    }
  };
  return { client, logger, sink, feed, switches };
}

describe('TranscriptionSink language updates', () => {
  it('ignores a language the deployment does not support: counted, logged, nothing switched or remembered', async () => {
    const { client, logger, sink, feed, switches } = setup();
    sink.start(startInfo());
    sink.startSegment(segmentInfo(1, true));
    feed(1);
    sink.languageChanged('fr-FR');
    feed(1);
    await until(() => client.streams[0]?.bytes === 2 * BYTES_PER_SEC_STEREO);
    expect(switches).toEqual([]);
    expect(client.streams).toHaveLength(1);
    expect(sink.stats().languageUpdatesIgnored).toBe(1);
    const ignored = logger.find('AudioHook language update ignored: not one of SUPPORTED_LANGUAGES');
    expect(ignored.map((e) => [e.level, e.obj.language])).toEqual([['info', "'fr-FR'"]]);
    // Not remembered either: the next following segment starts in its own language.
    await sink.stopSegment();
    sink.startSegment(segmentInfo(2, true));
    feed(1);
    await until(() => client.streams.length === 2);
    expect(client.stream(1).input.LanguageCode).toBe('en-US');
  });

  it('keeps the start-streaming language of a segment that does not follow updates', async () => {
    const { client, logger, sink, feed, switches } = setup();
    sink.start(startInfo());
    sink.startSegment(segmentInfo(1, false));
    feed(1);
    sink.languageChanged('es-US');
    feed(1);
    await until(() => client.streams[0]?.bytes === 2 * BYTES_PER_SEC_STEREO);
    expect(switches).toEqual([]);
    expect(client.streams).toHaveLength(1);
    expect(client.stream(0).input.LanguageCode).toBe('en-US');
    expect(sink.stats().languageUpdatesIgnored).toBe(0);
    expect(logger.find(/the start-streaming language stays/).map((e) => e.obj)).toEqual([
      expect.objectContaining({ language: 'es-US', segment: 1, startLanguage: 'en-US' }),
    ]);
  });

  it('switches a following segment to the update, in its canonical spelling', async () => {
    const { client, sink, feed, switches } = setup();
    sink.start(startInfo());
    sink.startSegment(segmentInfo(1, true));
    feed(1);
    await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
    sink.languageChanged('ES-us');
    feed(1);
    await until(() => client.streams[1]?.bytes === BYTES_PER_SEC_STEREO);
    expect(switches).toEqual([[1, 'es-US']]);
    expect(client.streams.map((s) => s.input.LanguageCode)).toEqual(['en-US', 'es-US']);
    expect(sink.segmentStats()?.languageSwitches).toBe(1);
  });

  it('opens a following segment in the latest update made before it started, and a non-following one in its own', async () => {
    const { client, sink, feed } = setup();
    sink.start(startInfo());
    sink.languageChanged('es-US');
    sink.startSegment(segmentInfo(1, true));
    feed(1);
    await until(() => client.streams.length === 1);
    expect(client.stream(0).input.LanguageCode).toBe('es-US');
    await sink.stopSegment();
    sink.startSegment(segmentInfo(2, false));
    feed(1);
    await until(() => client.streams.length === 2);
    expect(client.stream(1).input.LanguageCode).toBe('en-US');
  });

  it('applies an update made before the session audio started to the segment waiting for it', async () => {
    const { client, sink, feed } = setup();
    sink.startSegment(segmentInfo(1, true));
    sink.languageChanged('es-US');
    sink.start(startInfo());
    feed(1);
    await until(() => client.streams.length === 1);
    expect(client.stream(0).input.LanguageCode).toBe('es-US');
  });
});
