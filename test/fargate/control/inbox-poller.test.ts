import { describe, expect, it } from 'vitest';
import { InboxPoller, type InboxPort } from '../../../fargate/src/control/inbox-poller';
import type { InboxItem } from '../../../store/control-inbox';
import { StoreUnavailableError } from '../../../store/errors';
import { ManualTime, RecordingLogger, settle } from '../transcribe/helpers';

function item(conversationId: string, version: number): InboxItem {
  return { taskId: 't', conversationId, version, createdAt: new Date(0).toISOString() };
}

/** An inbox whose answers the test scripts; records polls (with their time) and acks. */
class ScriptedInbox implements InboxPort {
  items: InboxItem[] = [];
  failPolls = 0;
  pollGate: Promise<void> | undefined;
  readonly polls: number[] = [];
  readonly acks: string[] = [];
  constructor(private readonly time: ManualTime) {}
  async poll(): Promise<InboxItem[]> {
    this.polls.push(this.time.monotonic());
    await this.pollGate;
    if (this.failPolls > 0) {
      this.failPolls--;
      throw new StoreUnavailableError('throttled');
    }
    return [...this.items];
  }
  async ack(_task: string, conversationId: string, version: number): Promise<'acked'> {
    this.acks.push(`${conversationId}@${version}`);
    this.items = this.items.filter((i) => !(i.conversationId === conversationId && i.version <= version));
    return 'acked';
  }
}

function setup(apply: (item: InboxItem) => Promise<void> = async () => {}, random = () => 0.5) {
  const time = new ManualTime();
  const inbox = new ScriptedInbox(time);
  const logger = new RecordingLogger();
  const applied: string[] = [];
  const poller = new InboxPoller({
    taskId: 't',
    inbox,
    apply: async (i) => {
      applied.push(`${i.conversationId}@${i.version}`);
      await apply(i);
    },
    intervalMs: 200,
    maxBackoffMs: 5_000,
    timers: time,
    logger,
    random,
  });
  return { time, inbox, logger, applied, poller };
}

describe('InboxPoller', () => {
  it('polls every interval, jittered within ±20 %', async () => {
    const lows = setup(undefined, () => 0);
    lows.poller.start();
    await lows.time.advance(1_000);
    expect(lows.inbox.polls).toEqual([160, 320, 480, 640, 800, 960]);
    const highs = setup(undefined, () => 0.999);
    highs.poller.start();
    await highs.time.advance(1_000);
    expect(highs.inbox.polls).toEqual([240, 480, 720, 960]);
  });

  it('never overlaps polls: a slow poll delays the next one', async () => {
    const { time, inbox, poller } = setup();
    let release: () => void = () => {};
    inbox.pollGate = new Promise((r) => {
      release = r;
    });
    poller.start();
    await time.advance(1_000);
    expect(inbox.polls).toEqual([200]);
    inbox.pollGate = undefined;
    release();
    await time.advance(200);
    expect(inbox.polls).toEqual([200, 1_200]);
  });

  it('applies each item, then acks it with the version applied', async () => {
    const { time, inbox, applied, poller } = setup();
    inbox.items = [item('a', 1), item('b', 3)];
    poller.start();
    await time.advance(200);
    await poller.idle();
    expect(applied).toEqual(['a@1', 'b@3']);
    expect(inbox.acks).toEqual(['a@1', 'b@3']);
    await time.advance(400);
    expect(applied).toHaveLength(2);
  });

  it('does not re-apply an item whose apply is still running, and applies a newer version after it', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { time, inbox, applied, poller } = setup(async (i) => {
      if (i.version === 1) await gate;
    });
    inbox.items = [item('a', 1)];
    poller.start();
    await time.advance(600); // three polls while version 1 is being applied
    expect(applied).toEqual(['a@1']);
    inbox.items = [item('a', 2)];
    await time.advance(200);
    expect(applied).toEqual(['a@1']); // waits for the running apply of the same conversation
    release();
    await settle();
    await poller.idle();
    expect(applied).toEqual(['a@1', 'a@2']);
    expect(inbox.acks).toEqual(['a@1', 'a@2']);
  });

  it('keeps an item whose apply failed and retries it on the next poll', async () => {
    let failures = 1;
    const { time, inbox, applied, poller, logger } = setup(async () => {
      if (failures-- > 0) throw new StoreUnavailableError('down');
    });
    inbox.items = [item('a', 1)];
    poller.start();
    await time.advance(200);
    await poller.idle();
    expect(inbox.acks).toEqual([]);
    await time.advance(200);
    await poller.idle();
    expect(applied).toEqual(['a@1', 'a@1']);
    expect(inbox.acks).toEqual(['a@1']);
    expect(logger.messages('warn')[0]).toMatch(/stays in the inbox/);
  });

  it('backs off exponentially while polls fail, logs once per outage, and resumes the regular period', async () => {
    const { time, inbox, poller, logger } = setup(undefined, () => 0.5);
    inbox.failPolls = 4;
    poller.start();
    await time.advance(10_000);
    // Gaps after failures: 200 + jitter(0.5 × min(5000, 200·2ⁿ)) = 300, 400, 600, 1000; then 200 again.
    const gaps = inbox.polls.slice(1, 7).map((t, i) => t - (inbox.polls[i] as number));
    expect(gaps).toEqual([300, 400, 600, 1_000, 200, 200]);
    expect(logger.messages('warn')).toHaveLength(1);
    expect(logger.messages('info')).toContain('control inbox poll recovered');
  });

  it('stops polling on stop()', async () => {
    const { time, inbox, poller } = setup();
    poller.start();
    await time.advance(400);
    await poller.stop();
    await time.advance(2_000);
    expect(inbox.polls).toHaveLength(2);
  });
});
