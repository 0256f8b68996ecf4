import { describe, expect, it } from 'vitest';
import {
  afterClientReport,
  afterServerRequest,
  type FlowState,
  isClientPaused,
  wantsPause,
} from '../../../core/audiohook/flow-control';

const ALL: readonly FlowState[] = ['streaming', 'held', 'paused', 'client-paused'];

describe('flow control', () => {
  describe('on a server request', () => {
    it.each([
      ['streaming', true, 'held'],
      ['streaming', false, 'streaming'],
      ['held', true, 'held'],
      ['held', false, 'streaming'],
      ['paused', true, 'paused'],
      ['paused', false, 'client-paused'],
      ['client-paused', true, 'paused'],
      ['client-paused', false, 'client-paused'],
    ] as const)('from %s, pause=%s leads to %s', (from, paused, to) => {
      expect(afterServerRequest(from, paused)).toBe(to);
    });

    it('never changes what the client reported', () => {
      for (const flow of ALL) {
        for (const paused of [true, false]) {
          expect(isClientPaused(afterServerRequest(flow, paused))).toBe(isClientPaused(flow));
          expect(wantsPause(afterServerRequest(flow, paused))).toBe(paused);
        }
      }
    });
  });

  describe('on a client report', () => {
    it.each([
      ['streaming', true, 'client-paused'],
      ['held', true, 'paused'],
      ['paused', false, 'held'],
      ['client-paused', false, 'streaming'],
    ] as const)('from %s, paused=%s leads to %s', (from, paused, to) => {
      expect(afterClientReport(from, paused)).toBe(to);
    });

    it('never changes what we asked for', () => {
      for (const flow of ALL) {
        for (const paused of [true, false]) {
          expect(wantsPause(afterClientReport(flow, paused))).toBe(wantsPause(flow));
          expect(isClientPaused(afterClientReport(flow, paused))).toBe(paused);
        }
      }
    });
  });

  it('treats audio as stragglers only while we asked to hold and the client still streams', () => {
    const stragglers = ALL.filter((f) => wantsPause(f) && !isClientPaused(f));
    expect(stragglers).toEqual(['held']);
  });
});
