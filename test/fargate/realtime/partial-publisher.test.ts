/**
 * The live partials publisher with a fake subscriber lookup, a fake management API whose posts the test
 * completes by hand (a "slow" post is one not completed yet), and fake time.
 */
import { describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import { type SubscriberPartialMessage, toPartialMessage } from '../../../core/delivery/partial-message';
import { silentLogger } from '../../../core/ports';
import { type PartialUtterance, utteranceIdOf } from '../../../core/transcript/utterance';
import type { PartialCounterName } from '../../../fargate/src/control/metrics';
import { PartialPublisher, type PartialPublisherOptions } from '../../../fargate/src/realtime/partial-publisher';
import { FakeTime } from '../helpers/fake-time';

type Outcome = 'sent' | 'gone' | Error;

interface Post {
  connectionId: string;
  frame: SubscriberPartialMessage;
  complete(outcome?: Outcome): void;
}

/** A management API whose posts stay open until completed, unless `auto` answers them at once. */
class FakePusher {
  readonly posts: Post[] = [];
  #seen = 0;
  #waiting: (() => void)[] = [];

  constructor(private readonly auto?: (connectionId: string) => Outcome) {}

  post(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    return new Promise((resolve, reject) => {
      const complete = (outcome: Outcome = 'sent') => (outcome instanceof Error ? reject(outcome) : resolve(outcome));
      this.posts.push({ connectionId, frame: JSON.parse(data) as SubscriberPartialMessage, complete });
      for (const w of this.#waiting.splice(0)) w();
      const auto = this.auto?.(connectionId);
      if (auto !== undefined) complete(auto);
    });
  }

  /** The next post not yet returned by this method, once it has been made. */
  async next(): Promise<Post> {
    while (this.posts.length <= this.#seen) await new Promise<void>((ok) => this.#waiting.push(ok));
    return this.posts[this.#seen++] as Post;
  }
}

/** A subscriber lookup that counts its reads and answers from `answer`. */
function lookup(answer: () => string[] | Error) {
  const reads: string[] = [];
  return {
    reads,
    subscribers: async (conversationId: string) => {
      reads.push(conversationId);
      const a = answer();
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

function counters() {
  const counts: Partial<Record<PartialCounterName, number>> = {};
  return {
    counts,
    count(name: PartialCounterName, value = 1) {
      counts[name] = (counts[name] ?? 0) + value;
    },
  };
}

let seq = 0;
function partial(over: Partial<PartialUtterance> = {}): PartialUtterance {
  seq++;
  return {
    conversationId: 'conv-1',
    segment: 1,
    streamId: 'stream-customer',
    role: 'customer',
    resultId: 'result-1',
    startMs: 1000,
    endMs: 1000 + seq * 100,
    text: `hypothesis ${seq}`,
    language: 'en-US',
    ...over,
  };
}

function setup(
  options: { answer?: () => string[] | Error; pusher?: FakePusher } & Omit<
    Partial<PartialPublisherOptions>,
    'subscribers' | 'pusher'
  >,
) {
  const { answer, pusher: given, ...rest } = options;
  const time = new FakeTime();
  const look = lookup(answer ?? (() => ['conn-1']));
  const pusher = given ?? new FakePusher(() => 'sent');
  const c = counters();
  const publisher = new PartialPublisher({
    subscribers: look.subscribers,
    pusher,
    clock: time,
    logger: silentLogger,
    counters: c,
    ...rest,
  });
  return { time, reads: look.reads, pusher, counts: c.counts, publisher };
}

describe('PartialPublisher', () => {
  it('posts a partial at once, as the documented frame whose utteranceId is the final’s', async () => {
    const { publisher, pusher, counts, time } = setup({});
    const p = partial();
    expect(publisher.partial(p)).toBeUndefined();
    const post = await pusher.next();
    expect(post.connectionId).toBe('conn-1');
    expect(post.frame).toEqual(toPartialMessage(p, new Date(time.now()).toISOString()));
    expect(post.frame).toMatchObject({
      type: 'partial',
      externalConversationId: 'conv-1',
      streamId: 'stream-customer',
      sender: { role: 'customer' },
      utteranceId: utteranceIdOf('conv-1', 'stream-customer', 'result-1'),
      autotranscribeResponse: { message: 'partial', start: 1000, end: p.endMs, utterance: [{ text: p.text }] },
      language: 'en-US',
    });
    await publisher.settled();
    expect(counts).toEqual({ partialsSent: 1 });
  });

  describe('while a post is in flight', () => {
    it('keeps only the newest partial per role and sends it next (3 partials → 2 posts)', async () => {
      const { publisher, pusher, counts } = setup({ pusher: new FakePusher() });
      const [p1, p2, p3] = [partial(), partial(), partial()];
      publisher.partial(p1);
      const first = await pusher.next();
      publisher.partial(p2);
      publisher.partial(p3);
      first.complete();
      const second = await pusher.next();
      expect(second.frame.autotranscribeResponse.utterance[0].text).toBe(p3.text);
      second.complete();
      await publisher.settled();
      expect(pusher.posts.map((x) => x.frame.autotranscribeResponse.utterance[0].text)).toEqual([p1.text, p3.text]);
      expect(counts).toEqual({ partialsSent: 2, partialsCoalesced: 1 });
    });

    it('does not coalesce one role with the other', async () => {
      const { publisher, pusher, counts } = setup({ pusher: new FakePusher() });
      publisher.partial(partial({ role: 'customer' }));
      const first = await pusher.next();
      const agent = partial({ role: 'agent', streamId: 'stream-agent' });
      const customer = partial({ role: 'customer' });
      publisher.partial(agent);
      publisher.partial(customer);
      first.complete();
      const next = [await pusher.next(), await pusher.next()];
      for (const post of next) post.complete();
      await publisher.settled();
      const byRole = Object.fromEntries(next.map((x) => [x.frame.sender.role, x.frame.autotranscribeResponse]));
      expect(byRole as Record<Role, unknown>).toEqual({
        agent: expect.objectContaining({ utterance: [{ text: agent.text }] }),
        customer: expect.objectContaining({ utterance: [{ text: customer.text }] }),
      });
      expect(counts).toEqual({ partialsSent: 3 });
    });

    it('does not hold up other conversations', async () => {
      const { publisher, pusher } = setup({ pusher: new FakePusher() });
      publisher.partial(partial({ conversationId: 'conv-a' }));
      const a = await pusher.next();
      publisher.partial(partial({ conversationId: 'conv-b' }));
      const b = await pusher.next();
      expect(b.frame.externalConversationId).toBe('conv-b');
      a.complete();
      b.complete();
      await publisher.settled();
    });
  });

  describe('the subscriber list', () => {
    it('is read once per second per conversation', async () => {
      const { publisher, reads, pusher, time } = setup({});
      publisher.partial(partial());
      await publisher.settled();
      time.advance(999);
      publisher.partial(partial());
      await publisher.settled();
      expect(reads).toEqual(['conv-1']);
      expect(pusher.posts).toHaveLength(2);
      time.advance(1);
      publisher.partial(partial());
      await publisher.settled();
      expect(reads).toEqual(['conv-1', 'conv-1']);
    });

    it('costs one cached read per second when nobody listens, and posts nothing', async () => {
      const { publisher, reads, pusher, counts, time } = setup({ answer: () => [] });
      for (let i = 0; i < 5; i++) {
        publisher.partial(partial());
        await publisher.settled();
        time.advance(100);
      }
      expect(reads).toHaveLength(1);
      expect(pusher.posts).toHaveLength(0);
      expect(counts).toEqual({});
    });

    it('a failed read is counted, not thrown, and not cached', async () => {
      let fail = true;
      const { publisher, reads, pusher, counts } = setup({
        answer: () => (fail ? new Error('ProvisionedThroughputExceededException') : ['conn-1']),
      });
      expect(() => publisher.partial(partial())).not.toThrow();
      await publisher.settled();
      expect(counts).toEqual({ partialsFailed: 1 });
      expect(pusher.posts).toHaveLength(0);
      fail = false;
      publisher.partial(partial());
      await publisher.settled();
      expect(reads).toHaveLength(2);
      expect(pusher.posts).toHaveLength(1);
      expect(counts).toEqual({ partialsFailed: 1, partialsSent: 1 });
    });
  });

  describe('posting', () => {
    it('never posts again to a connection that is gone, even after the list is read again', async () => {
      const pusher = new FakePusher((id) => (id === 'conn-gone' ? 'gone' : 'sent'));
      const { publisher, reads, time } = setup({ pusher, answer: () => ['conn-gone', 'conn-ok'] });
      publisher.partial(partial());
      await publisher.settled();
      expect(pusher.posts.map((x) => x.connectionId).sort()).toEqual(['conn-gone', 'conn-ok']);
      publisher.partial(partial());
      await publisher.settled();
      time.advance(1000);
      publisher.partial(partial());
      await publisher.settled();
      expect(reads).toHaveLength(2);
      expect(pusher.posts.map((x) => x.connectionId)).toEqual(expect.arrayContaining(['conn-ok']));
      expect(pusher.posts.filter((x) => x.connectionId === 'conn-gone')).toHaveLength(1);
      expect(pusher.posts).toHaveLength(4);
    });

    it('counts a failed post and still delivers to the other subscribers', async () => {
      const pusher = new FakePusher((id) => (id === 'conn-bad' ? new Error('socket hang up') : 'sent'));
      const { publisher, counts } = setup({ pusher, answer: () => ['conn-bad', 'conn-ok'] });
      publisher.partial(partial());
      await publisher.settled();
      expect(counts).toEqual({ partialsSent: 1, partialsFailed: 1 });
    });

    it('never throws into the caller, even when a collaborator does', () => {
      const { publisher } = setup({
        counters: {
          count() {
            throw new Error('broken counters');
          },
        },
        pusher: new FakePusher(),
      });
      publisher.partial(partial());
      expect(() => publisher.partial(partial())).not.toThrow();
      expect(() => publisher.partial(partial())).not.toThrow();
    });
  });

  describe('memory', () => {
    it('tracks at most maxConversations, dropping the least recently used', async () => {
      const { publisher, reads } = setup({ maxConversations: 2 });
      for (const id of ['conv-a', 'conv-b', 'conv-c']) publisher.partial(partial({ conversationId: id }));
      await publisher.settled();
      expect(publisher.trackedConversations).toBe(2);
      // conv-a was dropped with its cached list: its next partial reads the list again; conv-c's does not.
      publisher.partial(partial({ conversationId: 'conv-c' }));
      publisher.partial(partial({ conversationId: 'conv-a' }));
      await publisher.settled();
      expect(reads).toEqual(['conv-a', 'conv-b', 'conv-c', 'conv-a']);
    });

    it('forgets conversations idle for idleMs', async () => {
      const { publisher, time } = setup({ idleMs: 10_000 });
      publisher.partial(partial({ conversationId: 'conv-old' }));
      await publisher.settled();
      time.advance(5000);
      publisher.partial(partial({ conversationId: 'conv-recent' }));
      await publisher.settled();
      expect(publisher.trackedConversations).toBe(2);
      time.advance(6000);
      publisher.partial(partial({ conversationId: 'conv-new' }));
      await publisher.settled();
      expect(publisher.trackedConversations).toBe(2);
      time.advance(10_000);
      publisher.partial(partial({ conversationId: 'conv-new' }));
      expect(publisher.trackedConversations).toBe(1);
      await publisher.settled();
    });
  });
});
