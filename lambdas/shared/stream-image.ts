/**
 * DynamoDB Streams images (`AttributeValue` maps, as the Lambda event carries them) → plain values.
 * Small and local on purpose: the SDK's unmarshaller lives in a package we do not depend on directly.
 */
import type { AttributeValue } from 'aws-lambda';

/** One attribute value → a plain value (`N` → number, `B` → Buffer, sets → arrays). */
export function unmarshallValue(v: AttributeValue): unknown {
  if (v.S !== undefined) return v.S;
  if (v.N !== undefined) return Number(v.N);
  if (v.BOOL !== undefined) return v.BOOL;
  if (v.NULL !== undefined) return null;
  if (v.M !== undefined) return unmarshallImage(v.M);
  if (v.L !== undefined) return v.L.map(unmarshallValue);
  if (v.SS !== undefined) return [...v.SS];
  if (v.NS !== undefined) return v.NS.map(Number);
  if (v.B !== undefined) return Buffer.from(v.B, 'base64');
  if (v.BS !== undefined) return v.BS.map((b) => Buffer.from(b, 'base64'));
  return undefined;
}

/** A stream image → a plain object. */
export function unmarshallImage(image: Record<string, AttributeValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(image)) out[k] = unmarshallValue(v);
  return out;
}
