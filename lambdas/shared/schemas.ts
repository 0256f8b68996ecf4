/**
 * zod schemas of the request inputs (api-contract.md §1.1, §1.2, §2.1) and their mapping to contract codes.
 * They check shapes and types only; meaning (which namespace is served, languages, redaction rules) is
 * decided in core/api. No message here quotes the caller's value: each names the field and the rule only.
 *
 * Unknown-fields policy: unknown fields are tolerated and ignored, at the top level and inside
 * `autotranscribeParams` (zod's default `strip`). Existing integrations send vendor-specific extras
 * (`siprecParams`, `twilioParams`, `amazonConnectParams`, Genesys template leftovers); rejecting them would
 * break the drop-in promise. `null` counts as absent for optional fields, because Genesys data-action
 * templates render unset variables as `null`.
 */
import { z } from 'zod';
import { ApiError, type ApiErrorCode } from '../../core/api/errors';
import {
  MAX_GUID_LENGTH,
  MAX_LANGUAGE_LENGTH,
  NAMESPACES,
  REDACTION_OUTPUTS,
  type StartRequest,
  type StopRequest,
} from '../../core/api/start-stop-rules';

/** Longest customerId / agentId / externalId we store. */
export const MAX_ID_LENGTH = 255;

/** `undefined` for `null`, so optional fields accept both. */
const nullish = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === null ? undefined : v), schema.optional());

const namespace = z.enum(NAMESPACES, { error: () => `namespace must be one of ${NAMESPACES.join(', ')}` });

const guid = z
  .string({ error: (i) => (i.input === undefined ? 'guid is required' : 'guid must be a string') })
  .min(1, { error: 'guid must not be empty' })
  .max(MAX_GUID_LENGTH, { error: `guid must be at most ${MAX_GUID_LENGTH} characters` });

const participantId = (name: string) =>
  z
    .string({ error: (i) => (i.input === undefined ? `${name} is required` : `${name} must be a string`) })
    .max(MAX_ID_LENGTH, { error: `${name} must be at most ${MAX_ID_LENGTH} characters` });

/** start-streaming's body (api-contract.md §1.1). */
export const startRequestSchema = z.object({
  namespace,
  guid,
  customerId: participantId('customerId'),
  agentId: participantId('agentId'),
  autotranscribeParams: nullish(
    z.object(
      {
        language: nullish(
          z
            .string({ error: 'autotranscribeParams.language must be a string' })
            .min(1, { error: 'autotranscribeParams.language must not be empty' })
            .max(MAX_LANGUAGE_LENGTH, {
              error: `autotranscribeParams.language must be at most ${MAX_LANGUAGE_LENGTH} characters`,
            }),
        ),
        detailedToken: nullish(z.boolean({ error: 'autotranscribeParams.detailedToken must be a boolean' })),
        audioRecordingAllowed: nullish(
          z.boolean({ error: 'autotranscribeParams.audioRecordingAllowed must be a boolean' }),
        ),
        redactionOutput: nullish(
          z.enum(REDACTION_OUTPUTS, {
            error: () => `autotranscribeParams.redactionOutput must be one of ${REDACTION_OUTPUTS.join(', ')}`,
          }),
        ),
        // [EXT] (api-contract.md): follow the AudioHook session's language updates.
        followLanguageUpdates: nullish(
          z.boolean({ error: 'autotranscribeParams.followLanguageUpdates must be a boolean' }),
        ),
      },
      { error: 'autotranscribeParams must be an object' },
    ),
  ),
});

/** stop-streaming's body (api-contract.md §1.2; both fields required, §7 A8). */
export const stopRequestSchema = z.object({ namespace, guid });

/** The messages route's inputs, after the externalId aliases are resolved (api-contract.md §2.1, §7 A1). */
export const messagesQuerySchema = z.object({
  externalId: z
    .string({ error: 'externalId is required' })
    .min(1, { error: 'externalId is required' })
    .max(MAX_GUID_LENGTH, { error: `externalId must be at most ${MAX_GUID_LENGTH} characters` }),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, { error: 'limit must be a whole number between 1 and 1000' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(1, { error: 'limit must be a whole number between 1 and 1000' })
        .max(1000, { error: 'limit must be a whole number between 1 and 1000' }),
    )
    .optional(),
  nextToken: z
    .string()
    .min(1, { error: 'nextToken must not be empty' })
    .max(4096, { error: 'nextToken is invalid' })
    .optional(),
});

/** The status route's path parameter. */
export const conversationIdSchema = z
  .string({ error: 'conversation id is required' })
  .min(1, { error: 'conversation id is required' })
  .max(MAX_GUID_LENGTH, { error: `conversation id must be at most ${MAX_GUID_LENGTH} characters` });

/** The first issue, as one human-readable line that names the field. */
function firstIssue(error: z.ZodError): { path: PropertyKey[]; message: string } {
  const issue = error.issues[0];
  if (!issue) return { path: [], message: 'invalid request' };
  const field = issue.path.map(String).join('.');
  const message = field && !issue.message.includes(field) ? `${field}: ${issue.message}` : issue.message;
  return { path: issue.path, message };
}

function requireObject(body: unknown, code: ApiErrorCode): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(code, 'Request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/**
 * Parses start-streaming's body. Wrong or missing top-level fields are `400-201`; a wrong
 * `autotranscribeParams` field is a transcription parameter problem, `400-202`.
 */
export function parseStartRequest(body: unknown): StartRequest {
  const parsed = startRequestSchema.safeParse(requireObject(body, '400-201'));
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new ApiError(path[0] === 'autotranscribeParams' ? '400-202' : '400-201', message);
  }
  const { autotranscribeParams: p, ...rest } = parsed.data;
  const params = p ? Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) : undefined;
  return { ...rest, ...(params && { autotranscribeParams: params }) };
}

/** Parses stop-streaming's body; any problem is `400-201`. */
export function parseStopRequest(body: unknown): StopRequest {
  const parsed = stopRequestSchema.safeParse(requireObject(body, '400-201'));
  if (!parsed.success) throw new ApiError('400-201', firstIssue(parsed.error).message);
  return parsed.data;
}

/** Parses the messages route's resolved inputs; any problem is `400-01`. */
export function parseMessagesQuery(input: Record<string, string | undefined>): z.infer<typeof messagesQuerySchema> {
  const parsed = messagesQuerySchema.safeParse(input);
  if (!parsed.success) throw new ApiError('400-01', firstIssue(parsed.error).message);
  return parsed.data;
}
