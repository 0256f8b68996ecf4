import { describe, expect, it } from 'vitest';
import type { Utterance } from '../../../core/transcript/utterance';
import { PipelineStats } from '../../../fargate/src/control/metrics';
import { UtteranceStoreError, UtteranceWriter } from '../../../fargate/src/control/utterance-writer';
import { StoreRequestRejectedError, StoreUnavailableError } from '../../../store/errors';
import type { FinalUtteranceInput, PutFinalResult } from '../../../store/utterances';
import { ManualTime, RecordingLogger, settle } from '../transcribe/helpers';

const SECRET_TEXT = 'my card number is 4111 1111 1111 1111';

const utterance: Utterance = {
  conversationId: 'c1',
  segment: 2,
  streamId: 's-agent',
  role: 'agent',
  resultId: 'r1',
  utteranceId: '0b7f6b5e-1d2c-5a3b-9c4d-5e6f7a8b9c0d',
  startMs: 1200,
  endMs: 3400,
  text: SECRET_TEXT,
  language: 'en-US',
};

/** A repository that fails the first `failures` puts with `error`, then stores. */
class FlakyRepository {
  readonly inputs: FinalUtteranceInput[] = [];
  constructor(
    private failures: number,
    private readonly error: Error = new StoreUnavailableError('throttled'),
    private readonly outcome: 'created' | 'duplicate' = 'created',
  ) {}
  async putFinal(input: FinalUtteranceInput): Promise<PutFinalResult> {
    this.inputs.push(input);
    if (this.failures > 0) {
      this.failures--;
      throw this.error;
    }
    return this.outcome === 'created'
      ? { outcome: 'created', item: {} as never }
      : { outcome: 'duplicate', conversationId: input.conversationId, sk: 'sk', utteranceId: input.utteranceId };
  }
}

function setup(repo: FlakyRepository) {
  const time = new ManualTime();
  const logger = new RecordingLogger();
  const stats = new PipelineStats();
  const writer = new UtteranceWriter({
    repository: repo,
    senderOf: (u) => (u.role === 'agent' ? 'agent-ext-7' : undefined),
    retry: { baseMs: 100, capMs: 1_000, maxHeld: 2, warnAfterAttempts: 3 },
    stats,
    timers: time,
    logger,
    random: () => 0.5,
  });
  return { time, logger, stats, writer };
}

describe('UtteranceWriter', () => {
  it('stores the utterance with its sender external id', async () => {
    const repo = new FlakyRepository(0);
    const { writer, stats } = setup(repo);
    await writer.put(utterance);
    expect(repo.inputs).toEqual([{ ...utterance, senderExternalId: 'agent-ext-7' }]);
    expect(stats.snapshot().counters.utterancesStored).toBe(1);
  });

  it('observes end of speech → stored for a stored utterance, not for a duplicate', async () => {
    const stats = new PipelineStats();
    const time = new ManualTime();
    const spokenAt: number[] = [];
    const make = (outcome: 'created' | 'duplicate') =>
      new UtteranceWriter({
        repository: new FlakyRepository(0, undefined, outcome),
        stats,
        timers: time,
        logger: new RecordingLogger(),
        spokenAt: (u) => {
          spokenAt.push(u.endMs);
          return 10_000;
        },
        monotonicNow: () => 10_750,
      });
    await make('created').put(utterance);
    await make('duplicate').put(utterance);
    expect(spokenAt).toEqual([3400]);
    expect(stats.snapshot().latencyMs.utteranceLatencyMs).toMatchObject({ count: 1, p50: 750 });
  });

  it('counts a duplicate (a replayed result) as done, not as a failure', async () => {
    const repo = new FlakyRepository(0, undefined, 'duplicate');
    const { writer, stats } = setup(repo);
    await writer.put(utterance);
    expect(stats.snapshot().counters).toMatchObject({ utterancesDuplicate: 1, utterancePutFailures: 0 });
  });

  it('retries while the store is unavailable, with growing jittered delays', async () => {
    const repo = new FlakyRepository(2);
    const { writer, time, stats } = setup(repo);
    let done = false;
    void writer.put(utterance).then(() => {
      done = true;
    });
    await settle();
    expect(repo.inputs).toHaveLength(1);
    await time.advance(49); // first delay: 0.5 × 100
    expect(repo.inputs).toHaveLength(1);
    await time.advance(1);
    expect(repo.inputs).toHaveLength(2);
    await time.advance(100); // second delay: 0.5 × 200
    expect(repo.inputs).toHaveLength(3);
    expect(done).toBe(true);
    expect(stats.snapshot().counters).toMatchObject({ utterancePutRetries: 2, utterancesStored: 1 });
  });

  it('holds an utterance through a long outage and stores it when the store is back (nothing dropped)', async () => {
    const repo = new FlakyRepository(40); // ~2 minutes of failures at the 1 s cap
    const { writer, time, stats, logger } = setup(repo);
    let done = false;
    const put = writer.put(utterance).then(() => {
      done = true;
    });
    await settle();
    expect(stats.snapshot().utterancesHeld).toBe(1);
    await time.advance(120_000);
    await put;
    expect(done).toBe(true);
    expect(repo.inputs).toHaveLength(41);
    expect(stats.snapshot()).toMatchObject({
      utterancesHeld: 0,
      counters: { utterancesStored: 1, utterancePutFailures: 0, utterancePutRetries: 40 },
    });
    const warns = logger.lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]?.obj).toMatchObject({
      code: 'PIPELINE_UTTERANCE_HELD',
      utteranceId: utterance.utteranceId,
      attempts: 3,
    });
    expect(logger.lines.some((l) => l.level === 'error')).toBe(false);
    expect(JSON.stringify(logger.lines)).not.toContain('4111');
  });

  it('gives up an utterance when the task already holds maxHeld: logs the id at error (never the text), counts it and rejects', async () => {
    const repo = new FlakyRepository(Number.POSITIVE_INFINITY);
    const { writer, stats, logger } = setup(repo);
    void writer.put({ ...utterance, utteranceId: 'u-1' });
    void writer.put({ ...utterance, utteranceId: 'u-2' });
    await settle();
    expect(stats.snapshot().utterancesHeld).toBe(2);
    const err = await writer.put(utterance).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UtteranceStoreError);
    expect(err).toMatchObject({
      code: 'PIPELINE_UTTERANCE_NOT_STORED',
      utteranceId: utterance.utteranceId,
      attempts: 1,
    });
    expect(stats.snapshot().counters.utterancePutFailures).toBe(1);
    expect(stats.snapshot().utterancesHeld).toBe(2); // the two held ones are still being retried
    const line = logger.lines.find((l) => l.level === 'error');
    expect(line?.obj).toMatchObject({
      utteranceId: utterance.utteranceId,
      code: 'PIPELINE_UTTERANCE_NOT_STORED',
      why: 'held-limit',
      maxHeld: 2,
    });
    expect(JSON.stringify(logger.lines)).not.toContain('4111');
    expect(String((err as Error).message)).not.toContain('4111');
  });

  it('does not retry a request the store rejected (retrying cannot help)', async () => {
    const repo = new FlakyRepository(99, new StoreRequestRejectedError('item too large'));
    const { writer, stats } = setup(repo);
    await expect(writer.put(utterance)).rejects.toBeInstanceOf(UtteranceStoreError);
    expect(repo.inputs).toHaveLength(1);
    expect(stats.snapshot().utterancesHeld).toBe(0);
  });
});
