import { describe, expect, it } from 'vitest';
import type { SinkStartInfo } from '../../../core/audiohook/ports';
import { createNullSinkFactory, NullSink } from '../../../fargate/src/sinks/null-sink';
import { frameOf } from '../../helpers/audio-frames';

const INFO: SinkStartInfo = {
  sessionId: '11111111-1111-4111-8111-111111111111',
  conversationId: '22222222-2222-4222-8222-222222222222',
  media: { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 },
  roles: ['customer', 'agent'],
  channels: ['external', 'internal'],
  language: 'en-US',
};

describe('NullSink', () => {
  it('counts samples per role (by the channel order it was started with), frames and the end of the last frame', () => {
    const sink = new NullSink();
    sink.start(INFO);
    sink.write(frameOf(0, 1600, {}));
    sink.write(frameOf(1600, 800, {}));
    expect(sink.counts().samples).toEqual({ customer: 2400, agent: 2400 });
    const mono = new NullSink();
    mono.start({ ...INFO, roles: ['agent'], channels: ['internal'] });
    mono.write(frameOf(0, 800, {}, ['agent']));
    expect(mono.counts().samples).toEqual({ customer: 0, agent: 800 });
    const c = sink.counts();
    expect(c.frames).toBe(2);
    expect(c.endPosition).toBe(2400);
    expect(sink.info).toBe(INFO);
  });

  it('counts gaps and their length per kind', () => {
    const sink = new NullSink();
    sink.start(INFO);
    sink.gap({ kind: 'paused', start: 0, length: 8000 });
    sink.gap({ kind: 'discarded', start: 8000, length: 400 });
    sink.gap({ kind: 'paused', start: 9000, length: 100 });
    const c = sink.counts();
    expect(c.gaps).toBe(3);
    expect(c.gapSamples).toEqual({ paused: 8100, discarded: 400, 'server-paused': 0 });
  });

  it('tracks the language and the first end reason, and resolves end', async () => {
    const sink = new NullSink();
    sink.start(INFO);
    sink.languageChanged('fr-FR');
    await expect(sink.end('close')).resolves.toBeUndefined();
    await sink.end('transport-closed');
    expect(sink.counts()).toMatchObject({ language: 'fr-FR', ended: 'close' });
  });

  it('hands out snapshots that later writes do not change', () => {
    const sink = new NullSink();
    sink.start({ ...INFO, roles: ['agent'], channels: ['internal'] });
    const before = sink.counts();
    sink.write(frameOf(0, 10, {}, ['agent']));
    expect(before.samples.agent).toBe(0);
    expect(sink.counts().samples.agent).toBe(10);
  });

  it('has a factory with the sink-factory shape that makes a fresh sink per session', () => {
    const factory = createNullSinkFactory();
    const a = factory({ sessionId: 'a' });
    const b = factory({ sessionId: 'b' });
    expect(a).toBeInstanceOf(NullSink);
    expect(a).not.toBe(b);
  });
});
