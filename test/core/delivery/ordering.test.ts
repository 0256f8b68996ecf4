import { describe, expect, it } from 'vitest';
import { batchItemFailures, compareSequenceNumbers, conversationLanes } from '../../../core/delivery/ordering';

const r = (sequenceNumber: string, conversationId: string) => ({ sequenceNumber, conversationId });
const BATCH = [r('1', 'a'), r('2', 'b'), r('3', 'a'), r('4', 'c'), r('5', 'b'), r('6', 'a')];

describe('per-conversation ordering', () => {
  it('splits a batch into lanes that keep stream order, lanes ordered by their first record', () => {
    expect(conversationLanes(BATCH).map((lane) => lane.map((x) => x.sequenceNumber))).toEqual([
      ['1', '3', '6'],
      ['2', '5'],
      ['4'],
    ]);
  });

  it('reports a failed record and every later record of its conversation, nothing else', () => {
    expect(batchItemFailures(BATCH, new Set(['3']))).toEqual(['3', '6']);
    expect(batchItemFailures(BATCH, new Set(['2', '4']))).toEqual(['2', '4', '5']);
    expect(batchItemFailures(BATCH, new Set())).toEqual([]);
  });

  it('compares sequence numbers numerically, not as strings', () => {
    expect(compareSequenceNumbers('9', '10')).toBe(-1);
    expect(compareSequenceNumbers('000000000000000000010', '9')).toBe(1);
    expect(compareSequenceNumbers('42', '42')).toBe(0);
  });
});
