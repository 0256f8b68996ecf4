/**
 * The live partials' subscriber lookup: a conversation's own subscribers ∪ the supervisors, the
 * supervisor list read once per second for every conversation, a failed read not cached.
 */
import { describe, expect, it } from 'vitest';
import { subscriberLookup } from '../../../fargate/src/realtime/subscriber-lookup';
import { ALL_CONVERSATIONS } from '../../../store/subscriptions';
import { FakeTime } from '../helpers/fake-time';

function table(byTarget: Record<string, string[]>, failAll = () => false) {
  const reads: string[] = [];
  return {
    reads,
    connectionsOf: async (target: string) => {
      reads.push(target);
      if (target === ALL_CONVERSATIONS && failAll()) throw new Error('throttled');
      return byTarget[target] ?? [];
    },
  };
}

describe('subscriberLookup', () => {
  it('joins direct and "all conversations" subscribers without duplicates', async () => {
    const t = table({ 'conv-1': ['a', 'boss'], [ALL_CONVERSATIONS]: ['boss', 'sup'] });
    const lookup = subscriberLookup(t, { clock: new FakeTime() });
    expect((await lookup('conv-1', 0)).sort()).toEqual(['a', 'boss', 'sup']);
  });

  it('reads the supervisors once per cacheMs across conversations', async () => {
    const time = new FakeTime();
    const t = table({ [ALL_CONVERSATIONS]: ['sup'] });
    const lookup = subscriberLookup(t, { clock: time, cacheMs: 1000 });
    await lookup('conv-1', time.now());
    await lookup('conv-2', time.now());
    expect(t.reads.filter((r) => r === ALL_CONVERSATIONS)).toHaveLength(1);
    expect(t.reads.filter((r) => r !== ALL_CONVERSATIONS)).toEqual(['conv-1', 'conv-2']);
    time.advance(1000);
    expect(await lookup('conv-1', time.now())).toEqual(['sup']);
    expect(t.reads.filter((r) => r === ALL_CONVERSATIONS)).toHaveLength(2);
  });

  it('does not cache a failed supervisor read', async () => {
    let fail = true;
    const t = table({ [ALL_CONVERSATIONS]: ['sup'] }, () => fail);
    const lookup = subscriberLookup(t, { clock: new FakeTime() });
    await expect(lookup('conv-1', 0)).rejects.toThrow('throttled');
    fail = false;
    expect(await lookup('conv-1', 0)).toEqual(['sup']);
  });
});
