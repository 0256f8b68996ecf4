import { describe, expect, it } from 'vitest';
import { utteranceIdOf, uuidV5 } from '../../../core/transcript/utterance';

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV5', () => {
  it('matches the RFC 9562 version-5 example (DNS namespace, www.example.com)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });
});

describe('utteranceIdOf', () => {
  it('never changes for stored data: a pinned id', () => {
    expect(utteranceIdOf('conv-1', 'stream-1', 'result-1')).toBe('cf75d77a-9eaf-54fa-be8c-0455037115fb');
  });

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
