import { describe, expect, it, vi } from 'vitest';
import { channelSamples } from '../../../core/audio/interleave';
import type { ClientMessage } from '../../../core/audiohook/messages';
import type { AudioFrame, OpenDecision, OpenInfo, SessionHooks } from '../../../core/audiohook/ports';
import {
  CONVERSATION_ID,
  deferred,
  flush,
  harness,
  MONO_EXTERNAL,
  MONO_INTERNAL,
  NIL,
  ORG_ID,
  OTHER_ORG_ID,
  openParameters,
  PARTICIPANT_ID,
  probeParameters,
  RecordingSink,
  SESSION_ID,
  STEREO_PCMU,
} from './session-harness';

const ENTITY = { type: 'transcript', data: { id: 'u1', text: 'secret words' } };

function hooksWith(decision: OpenDecision | Promise<OpenDecision>) {
  return {
    onOpen: vi.fn((_info: OpenInfo) => decision),
    onEnd: vi.fn<NonNullable<SessionHooks['onEnd']>>(),
    onClientPauseChanged: vi.fn<NonNullable<SessionHooks['onClientPauseChanged']>>(),
  };
}

describe('session', () => {
  describe('§9.4 normal monitored call', () => {
    it('produces exactly the documented server messages', async () => {
      const h = harness();
      const sub = (line: string) =>
        line
          .replaceAll('"S"', `"${SESSION_ID}"`)
          .replaceAll('"O"', `"${ORG_ID}"`)
          .replaceAll('"C"', `"${CONVERSATION_ID}"`)
          .replaceAll('"P"', `"${PARTICIPANT_ID}"`);
      const c = (line: string) => h.session.handleMessage(JSON.parse(sub(line)) as ClientMessage);

      c(
        '{"version":"2","id":"S","type":"open","seq":1,"serverseq":0,"position":"PT0S","parameters":{"organizationId":"O","conversationId":"C","participant":{"id":"P","ani":"+15555551234","aniName":"John Doe","dnis":"+18005556789"},"media":[{"type":"audio","format":"PCMU","channels":["external","internal"],"rate":8000},{"type":"audio","format":"PCMU","channels":["external"],"rate":8000},{"type":"audio","format":"PCMU","channels":["internal"],"rate":8000}],"language":"en-US"}}',
      );
      h.session.handleAudio(new Uint8Array(3200).fill(0xff));
      c('{"version":"2","id":"S","type":"ping","seq":2,"serverseq":1,"position":"PT1S","parameters":{}}');
      c(
        '{"version":"2","id":"S","type":"ping","seq":3,"serverseq":2,"position":"PT1.2S","parameters":{"rtt":"PT0.012S"}}',
      );
      h.session.pause();
      c('{"version":"2","id":"S","type":"paused","seq":4,"serverseq":4,"position":"PT2S","parameters":{}}');
      h.session.resume();
      c(
        '{"version":"2","id":"S","type":"resumed","seq":5,"serverseq":5,"position":"PT12S","parameters":{"start":"PT2S","discarded":"PT10S"}}',
      );
      c(
        '{"version":"2","id":"S","type":"close","seq":6,"serverseq":5,"position":"PT20S","parameters":{"reason":"end"}}',
      );
      await flush();

      expect(h.transport.texts).toEqual(
        [
          '{"version":"2","id":"S","type":"opened","seq":1,"clientseq":1,"parameters":{"startPaused":false,"media":[{"type":"audio","format":"PCMU","channels":["external","internal"],"rate":8000}]}}',
          '{"version":"2","id":"S","type":"pong","seq":2,"clientseq":2,"parameters":{}}',
          '{"version":"2","id":"S","type":"pong","seq":3,"clientseq":3,"parameters":{}}',
          '{"version":"2","id":"S","type":"pause","seq":4,"clientseq":3,"parameters":{}}',
          '{"version":"2","id":"S","type":"resume","seq":5,"clientseq":4,"parameters":{}}',
          '{"version":"2","id":"S","type":"closed","seq":6,"clientseq":6,"parameters":{}}',
        ].map(sub),
      );
      expect(h.session.state).toBe('closed');
      expect(h.sink.methods).toEqual(['start', 'write', 'gap', 'end']);
      expect(h.sink.of('gap')[0]?.gap).toEqual({ kind: 'paused', start: 16_000, length: 80_000 });
      expect(h.session.stats()).toMatchObject({
        framesReceived: 1,
        samplesAccepted: 1600,
        pausedSamples: 80_000,
        position: 160_000,
        rttMs: { last: 12, min: 12, max: 12, count: 1 },
        messagesReceived: 6,
        messagesSent: 6,
      });
    });
  });

  describe('server messages', () => {
    it('are numbered from 1 without gaps, echo the id and last client seq, always carry parameters and never a position', async () => {
      const h = harness();
      h.client.open({ supportedLanguages: true });
      h.client.audio();
      h.client.ping();
      h.session.pause();
      h.session.pause();
      h.client.send('paused', {});
      expect(h.session.sendEvent([ENTITY])).toBe(true);
      h.session.resume();
      h.client.send('resumed', { start: 'PT0.1S', discarded: 'PT1S' });
      h.client.close();
      await flush();
      const msgs = h.transport.messages;
      expect(msgs.map((m) => m.seq)).toEqual(msgs.map((_, i) => i + 1));
      for (const m of msgs) {
        expect(Object.keys(m)).toEqual(['version', 'id', 'type', 'seq', 'clientseq', 'parameters']);
        expect(m.version).toBe('2');
        expect(m.id).toBe(SESSION_ID);
        expect(m).not.toHaveProperty('position');
        expect(typeof m.parameters).toBe('object');
      }
      expect(msgs.map((m) => [m.type, m.clientseq])).toEqual([
        ['opened', 1],
        ['pong', 2],
        ['pause', 2],
        ['pause', 2],
        ['event', 3],
        ['resume', 3],
        ['closed', 5],
      ]);
    });
  });

  describe('envelope checks', () => {
    it('answers a seq gap with one disconnect{error} and still answers ping and close', async () => {
      const h = harness();
      h.client.open();
      h.client.seq += 1; // skip one
      h.client.ping();
      expect(h.transport.types).toEqual(['opened', 'disconnect', 'pong']);
      expect(h.transport.messages[1]?.parameters).toEqual({ reason: 'error', info: 'unexpected seq 3 (expected 2)' });
      expect(h.transport.messages[2]?.clientseq).toBe(3);
      expect(h.session.state).toBe('signaled-error');
      h.client.ping();
      h.client.close('disconnect');
      await flush();
      expect(h.transport.types).toEqual(['opened', 'disconnect', 'pong', 'pong', 'closed']);
      expect(h.transport.last?.clientseq).toBe(5);
    });

    it.each([
      ['serverseq ahead of what we sent', { serverseq: 7 }, 'serverseq 7 ahead of last sent seq 1'],
      ['id mismatch', { id: '99999999-9999-4999-8999-999999999999' }, 'session id mismatch'],
      ['version other than "2"', { version: '3' }, 'unsupported protocol version'],
      ['unreadable position', { position: 'soon' }, 'invalid position'],
    ])('disconnects on %s', (_name, overrides, info) => {
      const h = harness();
      h.client.open();
      h.client.send('update', { language: 'fr-CA' }, overrides);
      expect(h.transport.last?.type).toBe('disconnect');
      expect(h.transport.last?.parameters).toEqual({ reason: 'error', info });
      expect(h.sink.of('languageChanged')).toEqual([]);
    });

    it('sends disconnect at most once however many violations follow', () => {
      const h = harness();
      h.client.open();
      h.session.handleInvalid('malformed JSON');
      h.session.handleInvalid('message too large');
      h.client.send('ping', {}, { id: '99999999-9999-4999-8999-999999999999' });
      h.client.seq += 3;
      h.client.ping();
      expect(h.transport.ofType('disconnect')).toHaveLength(1);
      expect(h.transport.ofType('disconnect')[0]?.parameters).toEqual({ reason: 'error', info: 'malformed JSON' });
      expect(h.transport.ofType('pong')).toHaveLength(2);
    });
  });

  describe('unknown message types', () => {
    it('are ignored without a disconnect, logged at info once per type, and their seq counts', () => {
      const h = harness();
      h.client.open();
      h.client.sendUnknown('transcriptionhint');
      h.client.sendUnknown('transcriptionhint');
      h.client.ping();
      expect(h.transport.types).toEqual(['opened', 'pong']);
      expect(h.transport.last?.clientseq).toBe(4);
      const logged = h.logger.entries.filter((e) => e.msg === 'audiohook unknown client message type ignored');
      expect(logged.map((e) => e.level)).toEqual(['info', 'debug']);
    });
  });

  describe('ping', () => {
    it('is answered synchronously with clientseq equal to the ping seq, even before open', () => {
      const h = harness();
      h.client.ping();
      expect(h.transport.messages).toEqual([
        { version: '2', id: SESSION_ID, type: 'pong', seq: 1, clientseq: 1, parameters: {} },
      ]);
    });

    it('records the client-reported rtt', () => {
      const h = harness();
      h.client.open();
      h.client.ping();
      h.client.ping('PT0.05S');
      h.client.ping('PT0.01S');
      h.client.ping('PT0.03S');
      expect(h.session.stats().rttMs).toEqual({ last: 30, min: 10, max: 50, count: 3 });
    });
  });

  describe('open', () => {
    it('refuses an open for another organization with disconnect{unauthorized} and no side effects', async () => {
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks });
      h.client.open({ organizationId: OTHER_ORG_ID });
      expect(h.transport.messages).toEqual([
        {
          version: '2',
          id: SESSION_ID,
          type: 'disconnect',
          seq: 1,
          clientseq: 1,
          parameters: { reason: 'unauthorized', info: 'organization not authorized' },
        },
      ]);
      expect(h.session.state).toBe('unauthorized');
      expect(hooks.onOpen).not.toHaveBeenCalled();
      expect(h.sink.calls).toEqual([]);
      h.client.close('disconnect');
      expect(h.transport.types).toEqual(['disconnect', 'closed']);
      await h.time.advance(60_000);
      expect(h.transport.closes).toEqual([{ code: 1000, reason: 'session closed' }]);
    });

    it('closes the socket with 1008 when an unauthorized client never sends close', async () => {
      const h = harness();
      h.client.open({ organizationId: OTHER_ORG_ID });
      await h.time.advance(9_999);
      expect(h.transport.closes).toEqual([]);
      await h.time.advance(1);
      expect(h.transport.closes).toEqual([{ code: 1008, reason: 'no close after disconnect' }]);
    });

    it('enforces the key’s allowed organizations', () => {
      const refused = harness({ connection: { allowedOrganizationIds: [OTHER_ORG_ID] } });
      refused.client.open();
      expect(refused.transport.last?.parameters).toEqual({
        reason: 'unauthorized',
        info: 'organization not authorized',
      });

      const allowed = harness({ connection: { allowedOrganizationIds: [OTHER_ORG_ID, ORG_ID.toUpperCase()] } });
      allowed.client.open({ organizationId: ORG_ID.toUpperCase() });
      expect(allowed.transport.last?.type).toBe('opened');
    });

    it('selects one offered media entry verbatim, preferring PCMU stereo', () => {
      const h = harness();
      const reversed = {
        type: 'audio' as const,
        format: 'PCMU' as const,
        channels: ['internal', 'external'] as ('internal' | 'external')[],
        rate: 8000 as const,
      };
      h.client.open({ media: [MONO_EXTERNAL, { ...STEREO_PCMU, format: 'L16' }, reversed] });
      expect(h.transport.last?.parameters).toEqual({ startPaused: false, media: [reversed] });
      expect(h.sink.of('start')[0]?.info).toEqual({
        sessionId: SESSION_ID,
        conversationId: CONVERSATION_ID,
        media: reversed,
        roles: ['agent', 'customer'],
        channels: ['internal', 'external'],
        language: 'en-US',
      });
    });

    it('disconnects a real call when nothing acceptable is offered', () => {
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks });
      h.client.open({ media: [] });
      expect(h.transport.types).toEqual(['disconnect']);
      expect(h.transport.last?.parameters).toEqual({ reason: 'error', info: 'no supported media offered' });
      expect(h.session.state).toBe('signaled-error');
      expect(hooks.onOpen).not.toHaveBeenCalled();
      expect(h.sink.calls).toEqual([]);
    });

    it('asks hooks.onOpen and passes what the transcription layer needs', () => {
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks });
      h.client.open({ customConfig: { agentassist: true } });
      expect(hooks.onOpen).toHaveBeenCalledTimes(1);
      expect(hooks.onOpen.mock.calls[0]?.[0]).toEqual({
        sessionId: SESSION_ID,
        organizationId: ORG_ID,
        conversationId: CONVERSATION_ID,
        participantId: PARTICIPANT_ID,
        media: STEREO_PCMU,
        roles: ['customer', 'agent'],
        language: 'en-US',
        customConfig: { agentassist: true },
        position: 0,
      });
      expect(h.sink.of('start')).toHaveLength(1);
      expect(h.session.conversationId).toBe(CONVERSATION_ID);
      expect(h.session.isProbe).toBe(false);
    });

    it.each([
      ['requested', true, ['en-US', 'fr-CA']],
      ['not requested', undefined, undefined],
      ['explicitly false', false, undefined],
    ])('includes supportedLanguages only when %s', (_name, requested, expected) => {
      const h = harness();
      h.client.open(requested === undefined ? {} : { supportedLanguages: requested });
      expect(h.transport.last?.parameters.supportedLanguages).toEqual(expected);
      expect(Object.hasOwn(h.transport.last?.parameters ?? {}, 'supportedLanguages')).toBe(expected !== undefined);
    });

    it('ignores a second open', () => {
      const h = harness();
      h.client.open();
      h.client.open();
      expect(h.transport.types).toEqual(['opened']);
      expect(h.sink.of('start')).toHaveLength(1);
    });

    describe('connection probe', () => {
      it('gets opened and closed at once with no hook or sink side effects', async () => {
        const hooks = hooksWith({ startPaused: true });
        const h = harness({ hooks });
        h.client.open(probeParameters({ supportedLanguages: true }));
        expect(h.transport.last?.parameters).toEqual({
          startPaused: false,
          media: [STEREO_PCMU],
          supportedLanguages: ['en-US', 'fr-CA'],
        });
        expect(h.session.isProbe).toBe(true);
        h.session.pause();
        h.client.audio();
        h.client.close();
        expect(h.transport.types).toEqual(['opened', 'closed']);
        h.session.handleTransportClosed(1000, '');
        await flush();
        expect(hooks.onOpen).not.toHaveBeenCalled();
        expect(hooks.onClientPauseChanged).not.toHaveBeenCalled();
        expect(hooks.onEnd).not.toHaveBeenCalled();
        expect(h.sink.calls).toEqual([]);
      });

      it('gets media [] when nothing acceptable is offered', () => {
        const h = harness();
        h.client.open(probeParameters({ media: [{ ...MONO_INTERNAL, rate: 16000 as 8000 }] }));
        expect(h.transport.last?.parameters).toEqual({ startPaused: false, media: [] });
      });
    });

    describe('decision', () => {
      it('opens paused when the hook says so and drops audio until resumed', () => {
        const hooks = hooksWith({ startPaused: true });
        const h = harness({ hooks });
        h.client.open();
        expect(h.transport.last?.parameters.startPaused).toBe(true);
        h.client.audio(); // in flight before the client applied startPaused
        h.client.send('paused', {});
        expect(hooks.onClientPauseChanged).toHaveBeenLastCalledWith(true);
        h.session.resume();
        expect(h.transport.last?.type).toBe('resume');
        h.client.position += 4000;
        h.client.send('resumed', { start: 'PT0.1S', discarded: 'PT0.5S' });
        h.client.audio();
        expect(h.sink.methods).toEqual(['start', 'gap', 'gap', 'write']);
        expect(h.sink.of('gap').map((c) => c.gap)).toEqual([
          { kind: 'server-paused', start: 0, length: 800 },
          { kind: 'paused', start: 800, length: 4000 },
        ]);
        expect(h.sink.of('write')[0]?.frame.position).toBe(4800);
        expect(h.session.stats()).toMatchObject({ samplesDropped: 800, samplesAccepted: 800 });
      });

      it('waits for an async decision within the budget', async () => {
        const d = deferred<OpenDecision>();
        const h = harness({ hooks: hooksWith(d.promise) });
        h.client.open();
        expect(h.session.state).toBe('opening');
        h.client.ping();
        expect(h.transport.types).toEqual(['pong']);
        await h.time.advance(300);
        d.resolve({ startPaused: false });
        await flush();
        expect(h.transport.types).toEqual(['pong', 'opened']);
        expect(h.transport.last?.parameters.startPaused).toBe(false);
        expect(h.session.stats().openLatencyMs).toBe(300);
        await h.time.advance(1000);
        expect(h.transport.types).toEqual(['pong', 'opened']);
      });

      it('opens paused when the budget runs out, then resumes when a late decision lands', async () => {
        const d = deferred<OpenDecision>();
        const h = harness({ hooks: hooksWith(d.promise) });
        h.client.open();
        await h.time.advance(799);
        expect(h.transport.types).toEqual([]);
        await h.time.advance(1);
        expect(h.transport.last?.type).toBe('opened');
        expect(h.transport.last?.parameters.startPaused).toBe(true);
        expect(h.sink.of('start')).toHaveLength(1);
        h.client.send('paused', {});
        d.resolve({ startPaused: false, discardToSamples: 80_000 });
        await flush();
        expect(h.transport.types).toEqual(['opened', 'resume']);
      });

      it('stays paused when the late decision is to start paused', async () => {
        const d = deferred<OpenDecision>();
        const h = harness({ hooks: hooksWith(d.promise) });
        h.client.open();
        await h.time.advance(800);
        d.resolve({ startPaused: true });
        await flush();
        expect(h.transport.types).toEqual(['opened']);
      });

      it('lets pause()/resume() win over a decision that lands later', async () => {
        const d = deferred<OpenDecision>();
        const h = harness({ hooks: hooksWith(d.promise) });
        h.client.open();
        h.session.resume(); // before opened: changes what startPaused will be
        await h.time.advance(800);
        expect(h.transport.last?.parameters.startPaused).toBe(false);
        d.resolve({ startPaused: true });
        await flush();
        expect(h.transport.types).toEqual(['opened']);
      });

      it('uses pause() called before open as startPaused', () => {
        const h = harness();
        h.session.pause();
        expect(h.transport.texts).toEqual([]);
        h.client.open();
        expect(h.transport.last?.parameters.startPaused).toBe(true);
      });

      it.each([
        ['rejects', () => Promise.reject(new Error('downstream down'))],
        [
          'throws',
          () => {
            throw new Error('boom');
          },
        ],
        ['returns garbage', () => ({ startPaused: 'yes' }) as unknown as OpenDecision],
      ])('opens paused and logs when the hook %s', async (_name, impl) => {
        const h = harness({ hooks: { onOpen: impl } });
        h.client.open();
        await flush();
        expect(h.transport.types).toEqual(['opened']);
        expect(h.transport.last?.parameters.startPaused).toBe(true);
        expect(h.logger.at('error').map((e) => e.obj.code)).toContain('AUDIOHOOK_HOOK_FAILED');
      });

      it('never sends opened when close arrives while the decision is pending', async () => {
        const d = deferred<OpenDecision>();
        const hooks = hooksWith(d.promise);
        const h = harness({ hooks });
        h.client.open();
        h.client.close();
        expect(h.transport.types).toEqual(['closed']);
        d.resolve({ startPaused: false });
        await h.time.advance(5000);
        expect(h.transport.types).toEqual(['closed']);
        expect(h.sink.calls).toEqual([]);
        h.session.handleTransportClosed(1000, '');
        expect(hooks.onEnd).toHaveBeenCalledTimes(1);
        expect(hooks.onEnd.mock.calls[0]?.[0]).toMatchObject({ reason: 'closed', closeReason: 'end' });
      });

      it('asks the client to discard up to discardTo when ahead of the position', () => {
        const h = harness({ hooks: hooksWith({ startPaused: false, discardToSamples: 40_000 }) });
        h.client.open();
        expect(h.transport.last?.parameters).toEqual({ startPaused: false, media: [STEREO_PCMU], discardTo: 'PT5S' });
        // The client stamps the pre-discard position here; the gap still decides where audio resumes.
        h.client.send('discarded', { start: 'PT0S', discarded: 'PT5S' });
        h.client.position = 40_000;
        h.client.audio();
        expect(h.sink.of('gap')[0]?.gap).toEqual({ kind: 'discarded', start: 0, length: 40_000 });
        expect(h.sink.of('write')[0]?.frame.position).toBe(40_000);
        expect(h.session.stats().discardedSamples).toBe(40_000);
      });

      it('omits discardTo when it is not ahead of the current position', () => {
        const h = harness({ hooks: hooksWith({ startPaused: false, discardToSamples: 8000 }) });
        h.client.position = 8000;
        h.client.open();
        expect(h.transport.last?.parameters).not.toHaveProperty('discardTo');
      });
    });
  });

  describe('server-initiated pause and resume', () => {
    it('re-sends pause and resume on every call (interrogation)', () => {
      const h = harness();
      h.client.open();
      h.session.pause();
      h.session.pause();
      h.session.resume();
      h.session.resume();
      expect(h.transport.types).toEqual(['opened', 'pause', 'pause', 'resume', 'resume']);
    });

    it('stays paused when the client answers resume with paused (its own pause)', () => {
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks });
      h.client.open();
      h.client.send('paused', {}); // secure pause
      h.session.resume();
      h.client.send('paused', {});
      expect(h.session.state).toBe('paused');
      h.client.audio();
      expect(h.sink.of('write')).toEqual([]);
      expect(hooks.onClientPauseChanged.mock.calls).toEqual([[true]]);
    });

    it('drops stragglers after pause() and reports them as one server-paused gap', () => {
      const h = harness();
      h.client.open();
      h.client.audio(800);
      h.session.pause();
      h.client.audio(800);
      h.client.audio(800);
      h.client.send('paused', {});
      h.session.resume();
      h.client.send('resumed', { start: 'PT0.3S', discarded: 'PT1S' });
      h.client.position = 2400 + 8000;
      h.client.audio(800);
      expect(h.sink.methods).toEqual(['start', 'write', 'gap', 'gap', 'write']);
      expect(h.sink.of('gap').map((c) => c.gap)).toEqual([
        { kind: 'server-paused', start: 800, length: 1600 },
        { kind: 'paused', start: 2400, length: 8000 },
      ]);
      expect(h.sink.of('write').map((c) => c.frame.position)).toEqual([0, 10_400]);
      expect(h.session.stats()).toMatchObject({ samplesDropped: 1600, samplesAccepted: 1600, framesReceived: 4 });
    });

    it('sends nothing after close', async () => {
      const h = harness();
      h.client.open();
      h.client.close();
      await flush();
      h.session.pause();
      h.session.resume();
      expect(h.transport.types).toEqual(['opened', 'closed']);
    });
  });

  describe('client pause', () => {
    it('tracks client pauses, tolerates duplicates and reports the paused span as a gap', () => {
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks });
      h.client.open();
      h.client.audio(1600);
      h.client.send('paused', {});
      h.client.send('paused', {});
      expect(h.session.state).toBe('paused');
      h.client.position += 24_000;
      h.client.send('resumed', { start: 'PT0.2S', discarded: 'PT3S' });
      expect(h.session.state).toBe('active');
      h.client.audio(800);
      expect(hooks.onClientPauseChanged.mock.calls).toEqual([[true], [false]]);
      expect(h.sink.of('gap').map((c) => c.gap)).toEqual([{ kind: 'paused', start: 1600, length: 24_000 }]);
      expect(h.sink.of('write').map((c) => c.frame.position)).toEqual([0, 25_600]);
      expect(h.session.stats().pausedSamples).toBe(24_000);
      expect(h.transport.types).toEqual(['opened']);
    });
  });

  describe('audio', () => {
    it('writes each accepted frame at its timeline position, as received, channel order kept', () => {
      const h = harness();
      h.client.open();
      const frame = new Uint8Array([0x00, 0x80, 0xff, 0x0d]);
      h.session.handleAudio(frame);
      for (let i = 0; i < 10; i++) h.session.handleAudio(new Uint8Array(3200).fill(0xff));
      const writes = h.sink.of('write');
      expect(writes[0]?.frame).toEqual({ position: 0, samples: 2, format: 'PCMU', channels: 2, data: frame });
      // The roles of the channels are the sink's to apply (external = customer first here).
      expect(h.sink.of('start')[0]?.info.roles).toEqual(['customer', 'agent']);
      const first = writes[0]?.frame as AudioFrame;
      expect(Array.from(channelSamples(first, 0))).toEqual([-32124, 0]);
      expect(Array.from(channelSamples(first, 1))).toEqual([32124, -18812]);
      expect(writes.map((w) => w.frame.position)).toEqual([0, ...Array.from({ length: 10 }, (_, i) => 2 + i * 1600)]);
      expect(h.session.stats()).toMatchObject({
        position: 16_002,
        samplesAccepted: 16_002,
        audioBytesReceived: 32_004,
      });
    });

    it('maps a mono internal offer to the agent role', () => {
      const h = harness();
      h.client.open({ media: [MONO_INTERNAL] });
      h.session.handleAudio(new Uint8Array([0xff, 0xff]));
      expect(h.sink.of('start')[0]?.info.roles).toEqual(['agent']);
      expect(h.sink.of('write')[0]?.frame).toMatchObject({ samples: 2, channels: 1, format: 'PCMU' });
    });

    it('disconnects on a frame that is not whole sample frames', () => {
      const h = harness();
      h.client.open();
      h.session.handleAudio(new Uint8Array(3201));
      expect(h.transport.last?.parameters).toEqual({ reason: 'error', info: 'invalid audio frame length' });
      expect(h.sink.of('write')).toEqual([]);
      expect(h.sink.of('end')).toEqual([{ method: 'end', reason: 'disconnect' }]);
    });

    it('resyncs the timeline to the position of every text message', () => {
      const h = harness();
      h.client.open();
      h.client.audio(800);
      h.client.position = 40_000; // client says audio went missing
      h.client.ping();
      h.client.audio(800);
      expect(h.sink.of('write').map((w) => w.frame.position)).toEqual([0, 40_000]);
    });

    it('drops audio after close, counting it and warning at a limited rate', async () => {
      const h = harness();
      h.client.open();
      h.client.close();
      await flush();
      for (let i = 0; i < 5; i++) h.session.handleAudio(new Uint8Array(1600));
      expect(h.logger.at('warn')).toHaveLength(1);
      await h.time.advance(10_000);
      h.session.handleAudio(new Uint8Array(1600));
      expect(h.logger.at('warn')).toHaveLength(2);
      expect(h.logger.at('warn')[1]?.obj).toMatchObject({ cause: 'after-close', framesDropped: 5 });
      expect(h.sink.of('write')).toEqual([]);
      expect(h.session.stats()).toMatchObject({ framesReceived: 6, samplesDropped: 4800, samplesAccepted: 0 });
      expect(h.transport.ofType('disconnect')).toEqual([]);
    });

    it('keeps going when the sink throws, logging the failure once', () => {
      const sink = new RecordingSink();
      sink.throwOn.add('write');
      const h = harness({ sink });
      h.client.open();
      h.client.audio();
      h.client.audio();
      h.client.ping();
      expect(h.sink.of('write')).toHaveLength(2);
      expect(h.transport.types).toEqual(['opened', 'pong']);
      expect(h.logger.at('error').filter((e) => e.obj.code === 'AUDIOHOOK_SINK_FAILED')).toHaveLength(1);
    });
  });

  describe('update', () => {
    it('forwards the new language to the sink without answering by default', () => {
      const h = harness();
      h.client.open();
      h.client.send('update', { language: 'fr-CA' });
      expect(h.sink.of('languageChanged')).toEqual([{ method: 'languageChanged', language: 'fr-CA' }]);
      expect(h.transport.types).toEqual(['opened']);
    });

    it('answers updated when configured to', () => {
      const h = harness({ options: { sendUpdated: true } });
      h.client.open();
      h.client.send('update', { language: 'fr-CA' });
      expect(h.transport.types).toEqual(['opened', 'updated']);
    });
  });

  describe('close', () => {
    it('sends closed only after the sink has flushed, and allows events while closing', async () => {
      const sink = new RecordingSink();
      sink.endMode = 'manual';
      const h = harness({ sink });
      h.client.open();
      h.client.audio();
      h.client.close();
      expect(h.session.state).toBe('closing');
      expect(h.sink.of('end')).toEqual([{ method: 'end', reason: 'close' }]);
      expect(h.session.sendEvent([ENTITY])).toBe(true);
      await h.time.advance(1000);
      expect(h.transport.types).toEqual(['opened', 'event']);
      sink.releaseEnd();
      await flush();
      expect(h.transport.types).toEqual(['opened', 'event', 'closed']);
      expect(h.session.sendEvent([ENTITY])).toBe(false);
      h.session.disconnect('completed');
      expect(h.transport.types).toEqual(['opened', 'event', 'closed']);
    });

    it('sends closed after flushBudgetMs when the sink never finishes', async () => {
      const sink = new RecordingSink();
      sink.endMode = 'never';
      const h = harness({ sink });
      h.client.open();
      h.client.close();
      await h.time.advance(2999);
      expect(h.transport.types).toEqual(['opened']);
      await h.time.advance(1);
      expect(h.transport.types).toEqual(['opened', 'closed']);
      expect(h.logger.at('warn').map((e) => e.msg)).toContain('audiohook flush exceeded budget');
    });

    it('still sends closed when the sink end fails', async () => {
      const sink = new RecordingSink();
      sink.endMode = 'reject';
      const h = harness({ sink });
      h.client.open();
      h.client.close();
      await flush();
      expect(h.transport.types).toEqual(['opened', 'closed']);
    });

    it('ignores a duplicate close', async () => {
      const h = harness();
      h.client.open();
      h.client.close();
      h.client.close();
      await flush();
      expect(h.transport.ofType('closed')).toHaveLength(1);
      expect(h.sink.of('end')).toHaveLength(1);
    });

    it('closes the socket itself when the client keeps it open after closed', async () => {
      const h = harness({ options: { closeSocketAfterClosedMs: 5000 } });
      h.client.open();
      h.client.close();
      await h.time.advance(4999);
      expect(h.transport.closes).toEqual([]);
      await h.time.advance(1);
      expect(h.transport.closes).toEqual([{ code: 1000, reason: 'session closed' }]);
    });
  });

  describe('disconnect', () => {
    it('is sent once, ends the sink, and keeps answering ping and close', async () => {
      const h = harness();
      h.client.open();
      h.session.disconnect('completed', 'transcription done');
      h.session.disconnect('error', 'again');
      expect(h.transport.ofType('disconnect').map((m) => m.parameters)).toEqual([
        { reason: 'completed', info: 'transcription done' },
      ]);
      expect(h.sink.of('end')).toEqual([{ method: 'end', reason: 'disconnect' }]);
      expect(h.session.sendEvent([ENTITY])).toBe(false);
      h.client.ping();
      h.client.close('disconnect');
      await flush();
      expect(h.transport.types).toEqual(['opened', 'disconnect', 'pong', 'closed']);
      await h.time.advance(10_000);
      expect(h.transport.closes).toEqual([{ code: 1000, reason: 'session closed' }]);
    });

    it('closes the socket with 1000 when no close follows', async () => {
      const h = harness();
      h.client.open();
      h.session.disconnect('error', 'downstream outage');
      await h.time.advance(10_000);
      expect(h.transport.closes).toEqual([{ code: 1000, reason: 'no close after disconnect' }]);
    });

    it('is not sent once close has been received', () => {
      const h = harness();
      h.client.open();
      h.client.close();
      h.session.disconnect('completed');
      expect(h.transport.ofType('disconnect')).toEqual([]);
    });

    it('before open is the post-upgrade auth failure of §9.4', () => {
      const h = harness();
      h.session.disconnect('unauthorized', 'invalid signature');
      expect(h.transport.texts).toEqual([
        `{"version":"2","id":"${SESSION_ID}","type":"disconnect","seq":1,"clientseq":0,"parameters":{"reason":"unauthorized","info":"invalid signature"}}`,
      ]);
      h.client.open();
      h.client.close('disconnect');
      expect(h.transport.types).toEqual(['disconnect', 'closed']);
    });

    it('abandons a pending open decision', async () => {
      const d = deferred<OpenDecision>();
      const h = harness({ hooks: hooksWith(d.promise) });
      h.client.open();
      h.session.disconnect('error', 'shutting down');
      d.resolve({ startPaused: false });
      await h.time.advance(1000);
      expect(h.transport.types).toEqual(['disconnect']);
    });
  });

  describe('events', () => {
    it('are sent in active and paused states with the given entities', () => {
      const h = harness();
      h.client.open();
      expect(h.session.sendEvent([ENTITY])).toBe(true);
      h.client.send('paused', {});
      expect(h.session.sendEvent([ENTITY, ENTITY])).toBe(true);
      expect(h.transport.ofType('event').map((m) => m.parameters)).toEqual([
        { entities: [ENTITY] },
        { entities: [ENTITY, ENTITY] },
      ]);
    });

    it('are refused before opened', () => {
      const d = deferred<OpenDecision>();
      const h = harness({ hooks: hooksWith(d.promise) });
      expect(h.session.sendEvent([ENTITY])).toBe(false);
      h.client.open();
      expect(h.session.sendEvent([ENTITY])).toBe(false);
      expect(h.transport.texts).toEqual([]);
    });

    it('are refused when larger than 65 535 characters, without consuming a seq', () => {
      const h = harness();
      h.client.open();
      const big = { type: 'transcript', data: { text: 'x'.repeat(65_500) } };
      expect(h.session.sendEvent([big])).toBe(false);
      expect(
        h.session.sendEvent([
          {
            type: 'x',
            data: (() => {
              const o: Record<string, unknown> = {};
              o.self = o;
              return o;
            })(),
          },
        ]),
      ).toBe(false);
      h.client.ping();
      expect(h.transport.messages.map((m) => [m.type, m.seq])).toEqual([
        ['opened', 1],
        ['pong', 2],
      ]);
    });

    it('are held after a 429 until retryAfter has passed, then sent in order', async () => {
      const h = harness();
      h.client.open();
      h.client.send('error', { code: 429, message: 'Too many requests', retryAfter: 'PT2S' });
      expect(h.session.sendEvent([{ type: 'a', data: 1 }])).toBe(true);
      expect(h.session.sendEvent([{ type: 'b', data: 2 }])).toBe(true);
      h.client.ping();
      await h.time.advance(1999);
      expect(h.transport.types).toEqual(['opened', 'pong']);
      await h.time.advance(1);
      expect(h.transport.types).toEqual(['opened', 'pong', 'event', 'event']);
      expect(h.transport.ofType('event').map((m) => m.parameters)).toEqual([
        { entities: [{ type: 'a', data: 1 }] },
        { entities: [{ type: 'b', data: 2 }] },
      ]);
      expect(h.session.sendEvent([{ type: 'c', data: 3 }])).toBe(true);
      expect(h.transport.types).toEqual(['opened', 'pong', 'event', 'event', 'event']);
    });

    it('are not held for other client errors', () => {
      const h = harness();
      h.client.open();
      h.client.send('error', { code: 408, message: 'Timeout waiting for pong', retryAfter: 'PT2S' });
      expect(h.session.sendEvent([ENTITY])).toBe(true);
      expect(h.transport.types).toEqual(['opened', 'event']);
      expect(h.logger.at('warn').find((e) => e.msg === 'audiohook client error')?.obj).toMatchObject({ code: 408 });
    });

    it('still held at close go out before closed when the hold expires within the flush budget', async () => {
      const h = harness();
      h.client.open();
      h.client.send('error', { code: 429, message: 'slow down', retryAfter: 'PT1S' });
      h.session.sendEvent([ENTITY]);
      h.client.close();
      await h.time.advance(1000);
      expect(h.transport.types).toEqual(['opened', 'event', 'closed']);
    });

    it('are dropped at closed when the hold outlasts the flush budget', async () => {
      const h = harness();
      h.client.open();
      h.client.send('error', { code: 429, message: 'slow down', retryAfter: 'PT60S' });
      h.session.sendEvent([ENTITY]);
      h.client.close();
      await h.time.advance(60_000);
      expect(h.transport.types).toEqual(['opened', 'closed']);
    });
  });

  describe('end of session', () => {
    it('ends the sink and calls onEnd exactly once, after the sink ended', async () => {
      const sink = new RecordingSink();
      sink.endMode = 'manual';
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks, sink });
      h.client.open();
      h.client.audio();
      h.session.handleTransportClosed(1006, 'abnormal');
      h.session.handleTransportClosed(1006, 'abnormal');
      expect(h.sink.of('end')).toEqual([{ method: 'end', reason: 'transport-closed' }]);
      await flush();
      expect(hooks.onEnd).not.toHaveBeenCalled();
      sink.releaseEnd();
      await flush();
      expect(hooks.onEnd).toHaveBeenCalledTimes(1);
      expect(hooks.onEnd.mock.calls[0]?.[0]).toMatchObject({
        reason: 'transport-closed',
        stats: { samplesAccepted: 800, framesReceived: 1 },
      });
      expect(h.session.state).toBe('finalized');
    });

    it('calls onEnd after flushBudgetMs when the sink never finishes', async () => {
      const sink = new RecordingSink();
      sink.endMode = 'never';
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks, sink });
      h.client.open();
      h.session.handleTransportClosed(1001, 'going away');
      await h.time.advance(2999);
      expect(hooks.onEnd).not.toHaveBeenCalled();
      await h.time.advance(1);
      expect(hooks.onEnd).toHaveBeenCalledTimes(1);
    });

    it('reports a normal close and a disconnect in the summary', async () => {
      const hooks = hooksWith({ startPaused: false });
      const h = harness({ hooks });
      h.client.open();
      h.session.disconnect('completed');
      h.client.close('disconnect');
      await flush();
      h.session.handleTransportClosed(1000, '');
      await flush();
      expect(hooks.onEnd.mock.calls).toEqual([
        [expect.objectContaining({ reason: 'closed', closeReason: 'disconnect', disconnect: 'completed' })],
      ]);
      expect(h.sink.of('end')).toHaveLength(1);
    });

    it('calls onEnd for a session that never opened', () => {
      const hooks = { onEnd: vi.fn() };
      const h = harness({ hooks });
      h.session.handleTransportClosed(1006, '');
      expect(hooks.onEnd).toHaveBeenCalledWith(expect.objectContaining({ reason: 'transport-closed' }));
    });

    it('ignores everything once the socket is gone and cancels its timers', async () => {
      const h = harness();
      h.client.open();
      h.session.disconnect('error', 'x');
      h.session.handleTransportClosed(1000, '');
      h.client.ping();
      h.client.close();
      h.session.handleAudio(new Uint8Array(2));
      h.session.handleInvalid('bad');
      expect(h.session.sendEvent([ENTITY])).toBe(false);
      await h.time.advance(60_000);
      expect(h.transport.types).toEqual(['opened', 'disconnect']);
      expect(h.transport.closes).toEqual([]);
    });
  });

  describe('robustness', () => {
    it('never throws out of its entry points when collaborators throw', async () => {
      const sink = new RecordingSink();
      for (const m of ['start', 'write', 'gap', 'end']) sink.throwOn.add(m);
      const throwing = () => {
        throw new Error('hook failure');
      };
      const h = harness({ sink, hooks: { onClientPauseChanged: throwing, onEnd: throwing } });
      h.transport.sendText = (text: string) => {
        if (text.includes('"pong"')) throw new Error('socket gone');
        h.transport.texts.push(text);
      };
      expect(() => {
        h.client.open();
        h.client.audio();
        h.client.send('paused', {});
        h.client.send('resumed', { start: 'PT0.1S', discarded: 'PT1S' });
        h.client.ping();
        h.client.close();
      }).not.toThrow();
      await flush();
      expect(() => h.session.handleTransportClosed(1000, '')).not.toThrow();
      await flush();
      expect(h.transport.types).toEqual(['opened', 'closed']);
      expect(h.transport.messages.map((m) => m.seq)).toEqual([1, 2]);
    });

    it('never logs audio or transcript content', async () => {
      const h = harness();
      h.client.open();
      h.client.audio();
      h.session.sendEvent([ENTITY]);
      h.client.close();
      await flush();
      h.session.handleTransportClosed(1000, '');
      const logged = JSON.stringify(h.logger.entries);
      expect(logged).not.toContain('secret words');
      expect(logged).not.toContain('pcm');
      expect(h.logger.at('info').map((e) => e.msg)).toEqual(
        expect.arrayContaining(['audiohook session opened', 'audiohook session closed', 'audiohook session ended']),
      );
      expect(h.logger.at('info').find((e) => e.msg === 'audiohook session opened')?.obj).toMatchObject({
        sessionId: SESSION_ID,
        conversationId: CONVERSATION_ID,
      });
    });
  });

  it('exposes the session id and a nil-safe conversation id', () => {
    const h = harness();
    expect(h.session.sessionId).toBe(SESSION_ID);
    expect(h.session.conversationId).toBeUndefined();
    h.client.open(probeParameters());
    expect(h.session.conversationId).toBe(NIL);
  });

  it('accepts opens whose offers come in any order of preference', () => {
    const h = harness();
    h.client.open(openParameters({ media: [MONO_INTERNAL, MONO_EXTERNAL] }));
    expect(h.transport.last?.parameters.media).toEqual([MONO_INTERNAL]);
  });
});
