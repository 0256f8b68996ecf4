/**
 * The open deadline (core/audiohook/session-open-deadline.ts): a connection that has sent no valid `open`
 * within `openTimeoutMs` of the upgrade gets `disconnect{error}` and is closed, so it cannot hold a session
 * slot forever; audio before `open` ends it at once. Driven with fake time: no real sleeps.
 */
import { describe, expect, it, vi } from 'vitest';
import { AudioHookSessionError } from '../../../core/audiohook/errors';
import { openTimeoutInfo } from '../../../core/audiohook/session-open-deadline';
import { flush, harness, probeParameters } from './session-harness';

const DEFAULT_MS = 5000;

function withCounter(options: { openTimeoutMs?: number } = {}) {
  const onOpenTimeout = vi.fn();
  const hooks = { onEnd: vi.fn() };
  const h = harness({ hooks, options: { ...options, onOpenTimeout } });
  return { ...h, onOpenTimeout, onEnd: hooks.onEnd };
}

describe('session open deadline', () => {
  describe('with no open', () => {
    it('sends disconnect{error} with a clear info at the deadline, not before', async () => {
      const h = withCounter();
      await h.time.advance(DEFAULT_MS - 1);
      expect(h.transport.types).toEqual([]);
      expect(h.session.state).toBe('preparing');

      await h.time.advance(1);
      expect(h.transport.types).toEqual(['disconnect']);
      expect(h.transport.last?.parameters).toEqual({ reason: 'error', info: 'no open received within 5 s' });
      expect(h.session.state).toBe('signaled-error');
      expect(h.onOpenTimeout).toHaveBeenCalledTimes(1);
    });

    it('logs one INFO line naming the code, the deadline and what the client did send', async () => {
      const h = withCounter();
      h.client.ping();
      await h.time.advance(DEFAULT_MS);
      const lines = h.logger.find('audiohook open deadline passed: ending the session');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'info',
        obj: { code: 'AUDIOHOOK_OPEN_TIMEOUT', timeoutMs: DEFAULT_MS, messagesReceived: 1, framesReceived: 0 },
      });
      expect(h.logger.at('warn')).toEqual([]);
    });

    it('is not put off by pings: they are answered, and the deadline still ends the session', async () => {
      const h = withCounter();
      for (let i = 0; i < 4; i++) {
        await h.time.advance(1000);
        h.client.ping();
      }
      expect(h.transport.types).toEqual(['pong', 'pong', 'pong', 'pong']);
      await h.time.advance(1000);
      expect(h.transport.types).toEqual(['pong', 'pong', 'pong', 'pong', 'disconnect']);
    });

    it('uses the configured openTimeoutMs', async () => {
      const h = withCounter({ openTimeoutMs: 1500 });
      await h.time.advance(1499);
      expect(h.transport.types).toEqual([]);
      await h.time.advance(1);
      expect(h.transport.last?.parameters).toEqual({ reason: 'error', info: 'no open received within 1.5 s' });
    });

    it('closes the socket when the client does not answer the disconnect with close', async () => {
      const h = withCounter();
      await h.time.advance(DEFAULT_MS);
      expect(h.transport.closes).toEqual([]);
      await h.time.advance(10_000);
      expect(h.transport.closes).toEqual([{ code: 1000, reason: 'no close after disconnect' }]);
      h.session.handleTransportClosed(1000, 'no close after disconnect');
      await flush();
      expect(h.onEnd).toHaveBeenCalledTimes(1);
      expect(h.onEnd.mock.calls[0]?.[0]).toMatchObject({ reason: 'disconnected', disconnect: 'error' });
    });

    it('completes the close transaction when the client answers with close, and ignores a late open', async () => {
      const h = withCounter();
      await h.time.advance(DEFAULT_MS);
      h.client.open();
      h.client.close('disconnect');
      await flush();
      expect(h.transport.types).toEqual(['disconnect', 'closed']);
      expect(h.sink.calls).toEqual([]);
      await h.time.advance(60_000);
      expect(h.transport.types.filter((t) => t === 'disconnect')).toHaveLength(1);
    });

    it('sends nothing once the socket is gone before the deadline', async () => {
      const h = withCounter();
      await h.time.advance(1000);
      h.session.handleTransportClosed(1006, '');
      await h.time.advance(60_000);
      expect(h.transport.types).toEqual([]);
      expect(h.onOpenTimeout).not.toHaveBeenCalled();
      expect(h.time.pendingTimers).toBe(0);
    });
  });

  describe('with an open in time', () => {
    it('is disarmed by a valid open, even one just before the deadline', async () => {
      const h = withCounter();
      await h.time.advance(DEFAULT_MS - 1);
      h.client.open();
      expect(h.transport.types).toEqual(['opened']);
      expect(h.time.pendingTimers).toBe(0);
      await h.time.advance(60_000);
      expect(h.transport.types).toEqual(['opened']);
      expect(h.session.state).toBe('active');
      expect(h.onOpenTimeout).not.toHaveBeenCalled();
      expect(h.logger.find(/open deadline/)).toEqual([]);
    });

    it('is disarmed by a connection probe', async () => {
      const h = withCounter();
      h.client.send('open', probeParameters());
      await h.time.advance(60_000);
      expect(h.transport.types).toEqual(['opened']);
      expect(h.onOpenTimeout).not.toHaveBeenCalled();
    });

    it('is not disarmed by an open that breaks the envelope: that is a violation of its own', async () => {
      const h = withCounter();
      h.client.send('open', probeParameters(), { seq: 7 });
      expect(h.transport.types).toEqual(['disconnect']);
      expect(h.transport.last?.parameters).toMatchObject({ reason: 'error', info: 'unexpected seq 7 (expected 1)' });
      await h.time.advance(60_000);
      expect(h.transport.ofType('disconnect')).toHaveLength(1);
      expect(h.onOpenTimeout).not.toHaveBeenCalled();
    });
  });

  describe('with audio before open', () => {
    it('ends the session at once with disconnect{error}, counted as a frame, never written', async () => {
      const h = withCounter();
      h.session.handleAudio(new Uint8Array(3200).fill(0xff));
      expect(h.transport.types).toEqual(['disconnect']);
      expect(h.transport.last?.parameters).toEqual({ reason: 'error', info: 'audio received before open' });
      expect(h.logger.find('audiohook protocol violation')[0]?.obj).toMatchObject({
        code: 'AUDIOHOOK_AUDIO_BEFORE_OPEN',
      });
      expect(h.session.stats()).toMatchObject({ framesReceived: 1, audioBytesReceived: 3200, samplesAccepted: 0 });
      expect(h.sink.calls).toEqual([]);
    });

    it('gets no second disconnect from the deadline, and more audio or a late open changes nothing', async () => {
      const h = withCounter();
      h.session.handleAudio(new Uint8Array(3200));
      h.session.handleAudio(new Uint8Array(3200));
      h.client.open();
      await h.time.advance(DEFAULT_MS * 2);
      expect(h.transport.types).toEqual(['disconnect']);
      expect(h.onOpenTimeout).not.toHaveBeenCalled();
      h.client.close('disconnect');
      await flush();
      expect(h.transport.types).toEqual(['disconnect', 'closed']);
    });

    it('after a valid open, audio is never a violation (it is dropped until opened, then streamed)', () => {
      const h = withCounter();
      h.client.open();
      h.client.audio(800);
      expect(h.transport.types).toEqual(['opened']);
      expect(h.sink.of('write')).toHaveLength(1);
    });
  });

  describe('its observer and options', () => {
    it('keeps ending the session when the onOpenTimeout observer throws, logging the failure', async () => {
      const h = harness({
        options: {
          onOpenTimeout: () => {
            throw new Error('counter broke');
          },
        },
      });
      await h.time.advance(DEFAULT_MS);
      expect(h.transport.types).toEqual(['disconnect']);
      expect(h.logger.find('audiohook collaborator failed')[0]?.obj).toMatchObject({
        call: 'options.onOpenTimeout',
      });
    });

    it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses openTimeoutMs %s with a clear error', (ms) => {
      let thrown: unknown;
      try {
        harness({ options: { openTimeoutMs: ms } });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(AudioHookSessionError);
      expect(thrown).toMatchObject({
        code: 'AUDIOHOOK_INVALID_OPTIONS',
        message: `openTimeoutMs must be a positive number of milliseconds, got ${ms}`,
      });
    });

    it('words the info in seconds', () => {
      expect(openTimeoutInfo(5000)).toBe('no open received within 5 s');
      expect(openTimeoutInfo(250)).toBe('no open received within 0.25 s');
      expect(openTimeoutInfo(12_345)).toBe('no open received within 12.345 s');
    });
  });
});
