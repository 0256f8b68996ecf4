import { describe, expect, it } from 'vitest';
import { utteranceIdOf } from '../../../core/transcript/utterance';

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('utteranceIdOf', () => {
  it('is a version-5 UUID', () => {
    expect(utteranceIdOf('conv-1', 'stream-1', 'result-1')).toMatch(UUID_V5);
  });

  it('is the same for the same conversation, stream and result (idempotent writes)', () => {
    expect(utteranceIdOf('conv-1', 'stream-1', 'result-1')).toBe(utteranceIdOf('conv-1', 'stream-1', 'result-1'));
  });

  it('differs when any of the three parts differs', () => {
    const base = utteranceIdOf('conv-1', 'stream-1', 'result-1');
    const others = [
      utteranceIdOf('conv-2', 'stream-1', 'result-1'),
      utteranceIdOf('conv-1', 'stream-2', 'result-1'),
      utteranceIdOf('conv-1', 'stream-1', 'result-2'),
    ];
    expect(new Set([base, ...others]).size).toBe(4);
  });

  it('does not collide when a separator moves between parts', () => {
    expect(utteranceIdOf('a|b', 'c', 'r')).not.toBe(utteranceIdOf('a', 'b|c', 'r'));
  });
});
