import { describe, expect, it } from 'vitest';
import {
  UTTERANCES_GLUE_COLUMNS,
  UTTERANCES_GLUE_PARTITION_KEYS,
  utterancesGlueTable,
} from '../../../contract/glue-schema';
import { feedLine, toFeedRow, UTTERANCE_FEED_COLUMNS } from '../../../core/feeds/feed-row';

const stored = {
  conversationId: 'c-1',
  segment: 2,
  streamId: 's-agent',
  role: 'agent',
  utteranceId: '0b5c2a34-8f1e-5d2c-9a7b-1c2d3e4f5a6b',
  messageId: '01JH0000000000000000000000',
  senderExternalId: 'agent-7',
  startMs: 1200,
  endMs: 3400,
  text: 'my card is ####',
  confidence: 0.91,
  language: 'en-US',
  createdAt: '2025-01-15T23:59:59.999Z',
  unredactedText: 'my card is 1234',
};

describe('utterances feed row', () => {
  it('maps a stored utterance to the v1 columns, partitioned by the UTC day and hour of createdAt', () => {
    const row = toFeedRow(stored, { companyMarker: 'acme' });
    expect(row).toEqual({
      instance_ts: '2025-01-15T23:00:00.000Z',
      conversation_id: 'c-1',
      external_conversation_id: 'c-1',
      stream_id: 's-agent',
      segment: 2,
      sender_role: 'agent',
      sender_id: 'agent-7',
      agent_id: 'agent-7',
      utterance: 'my card is ####',
      utterance_start_ms: 1200,
      utterance_end_ms: 3400,
      created_ts: '2025-01-15T23:59:59.999Z',
      event_uuid: stored.utteranceId,
      message_id: stored.messageId,
      language: 'en-US',
      confidence: 0.91,
      company_marker: 'acme',
      dt: '2025-01-15',
      hr: '23',
    });
    expect(Object.keys(row)).toEqual(UTTERANCE_FEED_COLUMNS);
  });

  it('never carries unredacted text, and gives customer turns no agent_id', () => {
    const line = feedLine(toFeedRow({ ...stored, role: 'customer', senderExternalId: 'cust-1' }));
    expect(line.endsWith('\n')).toBe(true);
    expect(line).not.toContain('1234');
    expect(JSON.parse(line)).toMatchObject({ sender_id: 'cust-1', agent_id: null, company_marker: null });
  });

  it('matches the Glue table: same columns in order, dt/hr as partition keys, projection over dt and hr', () => {
    expect([...UTTERANCES_GLUE_COLUMNS, ...UTTERANCES_GLUE_PARTITION_KEYS].map((c) => c.name)).toEqual(
      UTTERANCE_FEED_COLUMNS,
    );
    const table = utterancesGlueTable({ bucketName: 'b' });
    expect(table.parameters['storage.location.template']).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's placeholders, not JavaScript's
      's3://b/feeds/utterances/version=1/format=jsonl/dt=${dt}/hr=${hr}/',
    );
    expect(table.parameters['projection.enabled']).toBe('true');
    expect(table.parameters['projection.hr.digits']).toBe('2');
  });
});
