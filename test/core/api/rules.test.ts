import { describe, expect, it } from 'vitest';
import { API_ERROR_CODES, ApiError, errorEnvelope, statusOf } from '../../../core/api/errors';
import { segmentContexts, toAsappMessage } from '../../../core/api/messages';
import { startResponseBody, stopResponseBody, toSummary } from '../../../core/api/responses';
import {
  canonicalLanguage,
  decideStart,
  type StartPolicy,
  type StartRequest,
  stopRefusalError,
} from '../../../core/api/start-stop-rules';
import { conversationStatusView } from '../../../core/api/status';
import { parseStartRequest } from '../../../lambdas/shared/schemas';

const POLICY: StartPolicy = {
  supportedLanguages: ['en-US', 'es-US'],
  defaultLanguage: 'en-US',
  redactionEnabled: true,
};
const REQ: StartRequest = { namespace: 'genesysaudiohook', guid: 'g-1', customerId: 'c', agentId: 'a' };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? err.code : 'not-an-ApiError';
  }
  return undefined;
}

describe('error codes', () => {
  it('derive the HTTP status from the code prefix for every code', () => {
    for (const code of API_ERROR_CODES) {
      expect(new ApiError(code).status).toBe(statusOf(code));
      expect(String(statusOf(code))).toBe(code.slice(0, 3));
    }
  });

  it('build the contract envelope', () => {
    expect(errorEnvelope('r-1', '409-201', 'Call transcription already stopped')).toEqual({
      error: { requestId: 'r-1', message: 'Call transcription already stopped', code: '409-201' },
    });
  });
});

describe('start rules', () => {
  it('apply the contract defaults', () => {
    expect(decideStart(REQ, POLICY)).toEqual({
      conversationId: 'g-1',
      params: {
        customerId: 'c',
        agentId: 'a',
        language: 'en-US',
        detailedToken: false,
        audioRecordingAllowed: false,
        redactionOutput: 'redacted',
      },
    });
  });

  it('match languages case-insensitively and answer the canonical spelling', () => {
    expect(canonicalLanguage('EN-us', POLICY.supportedLanguages)).toBe('en-US');
    expect(canonicalLanguage('de-DE', POLICY.supportedLanguages)).toBeUndefined();
    expect(decideStart({ ...REQ, autotranscribeParams: { language: 'es-us' } }, POLICY).params.language).toBe('es-US');
  });

  it.each([
    ['siprec namespace', { ...REQ, namespace: 'siprec' as const }, POLICY, '400-201'],
    ['unsupported language', { ...REQ, autotranscribeParams: { language: 'fr-FR' } }, POLICY, '400-202'],
    [
      'detailed tokens with default redaction',
      { ...REQ, autotranscribeParams: { detailedToken: true } },
      POLICY,
      '400-202',
    ],
    [
      'redaction without redaction configured',
      { ...REQ, autotranscribeParams: { redactionOutput: 'redacted_and_unredacted' as const } },
      { ...POLICY, redactionEnabled: false },
      '400-202',
    ],
  ])('reject %s', (_what, req, policy, code) => {
    expect(codeOf(() => decideStart(req, policy))).toBe(code);
  });

  it('default to unredacted when redaction is not configured, so detailed tokens work without the field', () => {
    const d = decideStart(
      { ...REQ, autotranscribeParams: { detailedToken: true } },
      { ...POLICY, redactionEnabled: false },
    );
    expect(d.params).toMatchObject({ redactionOutput: 'unredacted', detailedToken: true });
  });

  it('follow AudioHook language updates only when the start asks to ([EXT] followLanguageUpdates)', () => {
    const follow = decideStart({ ...REQ, autotranscribeParams: { followLanguageUpdates: true } }, POLICY);
    expect(follow.params.followLanguageUpdates).toBe(true);
    // Off is not stored: absent reads as false, as in items written before the field existed.
    const off = decideStart({ ...REQ, autotranscribeParams: { followLanguageUpdates: false } }, POLICY);
    expect(off.params).not.toHaveProperty('followLanguageUpdates');
    expect(decideStart(REQ, POLICY).params).not.toHaveProperty('followLanguageUpdates');
  });
});

describe('start-streaming body ([EXT] followLanguageUpdates)', () => {
  const BODY = { namespace: 'genesysaudiohook', guid: 'g-1', customerId: 'c', agentId: 'a' };

  it('parses the flag, and treats null as absent', () => {
    const on = parseStartRequest({ ...BODY, autotranscribeParams: { followLanguageUpdates: true } });
    expect(on.autotranscribeParams).toEqual({ followLanguageUpdates: true });
    const nulled = parseStartRequest({ ...BODY, autotranscribeParams: { followLanguageUpdates: null } });
    expect(nulled.autotranscribeParams).toEqual({});
  });

  it('rejects a value that is not a boolean with 400-202 and a message naming the field', () => {
    for (const value of ['true', 1, {}]) {
      let caught: unknown;
      try {
        parseStartRequest({ ...BODY, autotranscribeParams: { followLanguageUpdates: value } });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ApiError);
      expect((caught as ApiError).code).toBe('400-202');
      expect((caught as ApiError).status).toBe(400);
      expect((caught as ApiError).message).toBe('autotranscribeParams.followLanguageUpdates must be a boolean');
    }
  });
});

describe('stop refusals', () => {
  it.each([
    ['unknown', '400-203'],
    ['not-started', '409-201'],
    ['already-stopped', '409-201'],
    ['conflict', '409-202'],
  ] as const)('%s → %s', (outcome, code) => {
    expect(stopRefusalError(outcome).code).toBe(code);
  });
});

describe('responses', () => {
  it('shape start and stop bodies field for field', () => {
    const ids = { customer: 's-c', agent: 's-a' };
    expect(JSON.stringify(startResponseBody(ids))).toBe(
      '{"isOk":true,"autotranscribeResponse":{"customer":{"streamId":"s-c","status":{"code":1000,"description":"OK"}},"agent":{"streamId":"s-a","status":{"code":1000,"description":"OK"}}}}',
    );
    const stop = stopResponseBody(ids, {
      customer: { totalAudioBytes: 16, audioDurationMs: 1, streamingSeconds: 1, transcripts: 2 },
    });
    expect(stop.autotranscribeResponse.customer.summary).toEqual({
      totalAudioBytes: 16,
      audioDurationMs: 1,
      streamingSeconds: 1,
      transcripts: 2,
    });
    expect(stop.autotranscribeResponse.agent.summary).toEqual({
      totalAudioBytes: 0,
      audioDurationMs: 0,
      streamingSeconds: 0,
      transcripts: 0,
    });
  });

  it('normalize counters to non-negative integers', () => {
    expect(
      toSummary({ totalAudioBytes: 10.6, audioDurationMs: -3, streamingSeconds: Number.NaN, transcripts: '4' }),
    ).toEqual({
      totalAudioBytes: 11,
      audioDurationMs: 0,
      streamingSeconds: 0,
      transcripts: 0,
    });
  });
});

describe('message mapping', () => {
  const stored = {
    messageId: '01J9Z8X7W6V5T4S3R2Q1P0N9M8',
    role: 'customer' as const,
    text: 'Hi',
    startMs: 1_500,
    segment: 2,
    createdAt: '2025-01-15T14:02:05.310Z',
  };

  it('places clientTimestamp at the carrying session open plus the timeline offset', () => {
    const contexts = segmentContexts({
      segments: [{ segment: 2, sessionId: 's-1', params: { customerId: 'cust-1', agentId: 'ag-1' } }],
      sessions: [{ sessionId: 's-1', openedAt: '2025-01-15T14:00:00.000Z' }],
    });
    expect(toAsappMessage(stored, contexts.get(2))).toEqual({
      text: 'Hi',
      sender: { role: 'customer', externalId: 'cust-1' },
      messageId: stored.messageId,
      createdTimestamp: '2025-01-15T14:02:05.310Z',
      clientTimestamp: '2025-01-15T14:00:01.500Z',
    });
  });

  it('falls back to createdTimestamp and a null sender id when nothing else is known', () => {
    expect(toAsappMessage(stored, undefined)).toMatchObject({
      sender: { role: 'customer', externalId: null },
      clientTimestamp: '2025-01-15T14:02:05.310Z',
    });
    expect(toAsappMessage({ ...stored, senderExternalId: 'x' }, undefined).sender.externalId).toBe('x');
  });
});

describe('status view', () => {
  it('marks the session carrying the running segment as streaming and sorts segments', () => {
    const view = conversationStatusView(
      'g',
      { desired: 'on', desiredVersion: 3, status: 'transcribing', currentSegment: 2, createdAt: 't0', updatedAt: 't1' },
      [
        {
          segment: 2,
          state: 'active',
          streamIds: { customer: 'c2', agent: 'a2' },
          startedAt: 't',
          sessionId: 's-2',
          summary: {},
        },
        { segment: 1, state: 'closed', streamIds: { customer: 'c1', agent: 'a1' }, startedAt: 't', summary: {} },
      ],
      [
        { sessionId: 's-2', taskId: 't', state: 'open', openedAt: '2' },
        { sessionId: 's-1', taskId: 't', state: 'closed', openedAt: '1' },
      ],
    );
    expect(view.segments.map((s) => s.segment)).toEqual([1, 2]);
    expect(view.sessions.map((s) => [s.sessionId, s.health])).toEqual([
      ['s-1', 'closed'],
      ['s-2', 'streaming'],
    ]);
    expect(view).not.toHaveProperty('params');
  });
});
