/** The pipeline's live partials wiring: built only when configured, and said once at start-up either way. */
import { describe, expect, it } from 'vitest';
import { systemClock, systemTimers } from '../../../core/ports';
import { createPipeline } from '../../../fargate/src/control/pipeline';
import { CaptureLogger } from '../../helpers/capture-logger';

const BASE = {
  taskId: 'task-1',
  conversationsTable: 'c-t',
  utterancesTable: 'u-t',
  region: 'us-east-1',
  dynamodbEndpoint: 'http://127.0.0.1:9',
  transcribeEndpoint: 'http://127.0.0.1:9',
};

describe('createPipeline live partials', () => {
  it('says they are off without a subscriptions table and management endpoint', async () => {
    const logger = new CaptureLogger();
    const pipeline = createPipeline(BASE, { clock: systemClock, timers: systemTimers, logger });
    expect(logger.find(/live partials off/)).toHaveLength(1);
    expect(logger.find(/live partials on/)).toHaveLength(0);
    await pipeline.close();
  });

  it('says they are on, naming the table, when configured', async () => {
    const logger = new CaptureLogger();
    const pipeline = createPipeline(
      { ...BASE, partials: { subscriptionsTable: 's-t', managementEndpoint: 'http://127.0.0.1:9/_management/x' } },
      { clock: systemClock, timers: systemTimers, logger },
    );
    const on = logger.find(/live partials on/);
    expect(on).toHaveLength(1);
    expect(on[0]?.obj).toMatchObject({ livePartials: 'on', subscriptionsTable: 's-t' });
    expect(logger.find(/live partials off/)).toHaveLength(0);
    await pipeline.close();
  });
});
