/**
 * The API benchmark's read fixture: utterances stored into segment 1 of a call that had a real start/stop,
 * up to the requested count, so GET messages reads a conversation of the size asked for.
 */
import { utteranceIdOf } from '../core/transcript/utterance';
import type { ConversationsRepository } from '../store/conversations';
import type { UtterancesRepository } from '../store/utterances';
import { closedLoop, mustSucceed } from './api-client';

const SENTENCES = [
  'thanks for calling, how can I help you today',
  'I would like to check the status of my order from last week',
  'sure, can I have the order number please',
  'it is one two three four five six',
  'thank you, I can see it shipped yesterday and should arrive on Friday',
  'great, and can I change the delivery address',
  'yes, what is the new address',
];

/**
 * Stores utterances into segment 1 of `readGuid` until it holds `count` (what the real segment already
 * stored counts first); returns how many it holds.
 */
export async function seedUtterances(
  conversations: ConversationsRepository,
  utterances: UtterancesRepository,
  readGuid: string,
  count: number,
): Promise<number> {
  const seg = await conversations.getSegment(readGuid, 1);
  if (!seg) throw new Error('the read fixture has no segment 1');
  let existing = 0;
  for (let token: string | undefined, first = true; first || token; first = false) {
    const page = await utterances.listByConversation(readGuid, {
      consistentRead: true,
      ...(token !== undefined && { nextToken: token }),
    });
    existing += page.items.length;
    token = page.nextToken;
  }
  const toSeed = Math.max(0, count - existing);
  const seededFrom = Date.now() - 3_600_000;
  const seeding = await closedLoop(toSeed, 16, async (i) => {
    const role = i % 2 === 0 ? 'customer' : 'agent';
    const streamId = seg.streamIds[role];
    const resultId = `bench-${i}`;
    const created = await utterances.putFinal({
      conversationId: readGuid,
      segment: 1,
      streamId,
      role,
      resultId,
      utteranceId: utteranceIdOf(readGuid, streamId, resultId),
      startMs: 10_000 + i * 2900,
      endMs: 10_000 + i * 2900 + 2400,
      text: SENTENCES[i % SENTENCES.length] as string,
      language: 'en-US',
      confidence: 0.91,
      senderExternalId: role === 'customer' ? 'c-1' : 'a-1',
      createdAt: seededFrom + i * 2900,
    });
    if (created.outcome !== 'created') throw new Error('seeding wrote a duplicate');
    return [];
  });
  mustSucceed('seeding', seeding);
  return existing + toSeed;
}
