/**
 * Property-based fuzzing of the REST API from docs/openapi.yaml (issue #14): reads the spec with `yaml` at
 * test time so every route it lists is fuzzed, validates bodies against the spec's own schemas (the
 * keyword subset the document uses), and builds fast-check arbitraries for request bodies, query strings
 * and path parameters derived from those schemas and then mutated: wrong types, missing required fields,
 * extra and prototype keys, non-JSON, invalid UTF-8, bodies past the size limit. The oracle that judges
 * the answers lives with the HTTP fuzz (test/local/api/fuzz.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';

/** A JSON Schema node as the spec writes it. */
export type Schema = Record<string, unknown>;

/** The parts of the OpenAPI document the fuzz reads. */
export interface OpenApiDoc {
  paths: Record<string, Record<string, OperationObject>>;
  components: { schemas: Record<string, Schema> };
}

interface OperationObject {
  operationId: string;
  parameters?: ParameterObject[];
  requestBody?: { content?: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}

/** One parameter of an operation. */
export interface ParameterObject {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  schema: Schema;
}

/** One route and method of the spec, flattened for the fuzz. */
export interface SpecOperation {
  method: string;
  /** The spec's path template, e.g. `/x/{guid}/status`. */
  path: string;
  operationId: string;
  parameters: ParameterObject[];
  /** The JSON request body's schema, when the operation declares one. */
  requestBody: Schema | undefined;
  /** Documented response statuses, and the JSON schema of each when it has one. */
  responses: Map<number, Schema | undefined>;
}

/** Reads and parses docs/openapi.yaml with a YAML parser (the file is JSON-compatible YAML). */
export function loadOpenApi(file = join(import.meta.dirname, '../../docs/openapi.yaml')): OpenApiDoc {
  const doc = parse(readFileSync(file, 'utf8')) as OpenApiDoc;
  if (typeof doc?.paths !== 'object' || typeof doc.components?.schemas !== 'object') {
    throw new Error(`${file} has no paths or components.schemas: not an OpenAPI document`);
  }
  return doc;
}

/** Every operation of the spec (each path × HTTP method). */
export function operationsOf(doc: OpenApiDoc): SpecOperation[] {
  const methods = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);
  const out: SpecOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!methods.has(method)) continue;
      const responses = new Map<number, Schema | undefined>();
      for (const [status, r] of Object.entries(op.responses)) {
        responses.set(Number(status), r.content?.['application/json']?.schema);
      }
      out.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        parameters: op.parameters ?? [],
        requestBody: op.requestBody?.content?.['application/json']?.schema,
        responses,
      });
    }
  }
  return out;
}

/** Follows a local `$ref` (`#/components/schemas/X`). */
export function resolve(doc: OpenApiDoc, schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
  const target = name === undefined ? undefined : doc.components.schemas[name];
  if (!target) throw new Error(`unresolvable $ref ${ref}`);
  return resolve(doc, target);
}

/** The `type` keyword as a list (it may be one name or several). */
export function typesOf(schema: Schema): string[] {
  const t = schema.type;
  if (Array.isArray(t)) return t as string[];
  return typeof t === 'string' ? [t] : [];
}

/** Strings that tend to break parsers, key lookups and storage layers. */
const NASTY_STRINGS = [
  '',
  ' ',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '*',
  '../../etc/passwd',
  '%00',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  'null',
  '{"a":1}',
  '😀'.repeat(64),
  'é',
  '\u202e',
  "'; DROP TABLE x; --",
  'x'.repeat(256),
];

/** A string: short ASCII/unicode, a lone surrogate, or one of {@link NASTY_STRINGS}. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
);

/** Any JSON value, including the nasty strings, as a wrong-typed replacement. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -0.5, 2 ** 53 + 1, [], {}),
  nastyString,
  fc.array(fc.oneof(fc.integer(), nastyString), { maxLength: 3 }),
  fc.dictionary(nastyString, fc.oneof(fc.integer(), nastyString), { maxKeys: 3 }),
);

/**
 * Known-good values by property or parameter name (e.g. guids of calls that exist), mixed into generated
 * values so a fuzz reaches past the "not found" answers.
 */
export type Hints = Readonly<Record<string, readonly unknown[]>>;

function hinted(hints: Hints, name: string, arb: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const known = Object.hasOwn(hints, name) ? hints[name] : undefined;
  if (!known || known.length === 0) return arb;
  return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: arb });
}

/** A value that conforms to `schema` (best effort; strings honour enum and length bounds). */
export function validValue(doc: OpenApiDoc, schema: Schema, hints: Hints = {}, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(doc, schema);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  const types = typesOf(s).filter((t) => t !== 'null');
  const type = types[0] ?? 'string';
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, Schema>;
      const required = new Set((s.required ?? []) as string[]);
      if (depth > 3 || Object.keys(props).length === 0) return fc.constant({});
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, p] of Object.entries(props)) record[k] = hinted(hints, k, validValue(doc, p, hints, depth + 1));
      return fc.record(record, { requiredKeys: Object.keys(props).filter((k) => required.has(k)) });
    }
    case 'array':
      return fc.array(validValue(doc, (s.items ?? {}) as Schema, hints, depth + 1), { maxLength: 3 });
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({
        min: typeof s.minimum === 'number' ? s.minimum : -1000,
        max: typeof s.maximum === 'number' ? s.maximum : 100_000,
      });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    default: {
      const minLength = typeof s.minLength === 'number' ? s.minLength : 0;
      const maxLength = Math.min(typeof s.maxLength === 'number' ? s.maxLength : 40, 40);
      return fc.oneof(fc.uuid(), fc.string({ minLength, maxLength })).filter((v) => v.length >= minLength);
    }
  }
}

/** A request body as sent on the wire, with a label for failure reports. */
export interface FuzzBody {
  kind: string;
  /** Raw bytes; undefined = no body. */
  bytes: Buffer | undefined;
  /** Content-Type header; undefined = none sent. */
  contentType: string | undefined;
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/vnd.example+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  ';;;',
  '',
];

/** Byte sequences that are not valid UTF-8. */
const BAD_UTF8 = [
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xff]),
  Buffer.from([0x80, 0x80]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0xe2, 0x82]),
];

/** Applies one structural mutation to a valid object body. */
function mutateObject(doc: OpenApiDoc, schema: Schema, hints: Hints): fc.Arbitrary<{ kind: string; value: unknown }> {
  const s = resolve(doc, schema);
  const props = Object.keys((s.properties ?? {}) as Record<string, unknown>);
  const required = (s.required ?? []) as string[];
  const valid = validValue(doc, s, hints);
  const asObject = (v: unknown) => ({ ...(v as Record<string, unknown>) });
  const mutations: fc.Arbitrary<{ kind: string; value: unknown }>[] = [
    valid.map((value) => ({ kind: 'valid', value })),
    fc.tuple(valid, fc.dictionary(nastyString, anyJson, { minKeys: 1, maxKeys: 4 })).map(([v, extra]) => ({
      kind: 'extra-fields',
      value: { ...asObject(v), ...extra },
    })),
    fc.tuple(valid, fc.constantFrom('__proto__', 'constructor', 'prototype'), anyJson).map(([v, key, x]) => {
      // Built with defineProperty so `__proto__` is an own key, as JSON.parse would make it.
      const o = asObject(v);
      Object.defineProperty(o, key, { value: x, enumerable: true, configurable: true, writable: true });
      return { kind: `prototype-key ${key}`, value: o };
    }),
    anyJson.map((value) => ({ kind: 'not-an-object', value })),
  ];
  if (required.length > 0) {
    mutations.push(
      fc.tuple(valid, fc.constantFrom(...required)).map(([v, key]) => {
        const o = asObject(v);
        delete o[key];
        return { kind: `missing ${key}`, value: o };
      }),
    );
  }
  if (props.length > 0) {
    mutations.push(
      fc.tuple(valid, fc.constantFrom(...props), anyJson).map(([v, key, x]) => ({
        kind: `wrong-type ${key}`,
        value: { ...asObject(v), [key]: x },
      })),
    );
  }
  return fc.oneof(...mutations);
}

/**
 * Request bodies for an operation: schema-derived values mutated (see {@link mutateObject}), non-JSON
 * text, invalid UTF-8 inside a JSON string, bodies over `maxBodyBytes`, and odd Content-Types.
 */
export function bodyArbitrary(
  doc: OpenApiDoc,
  op: SpecOperation,
  maxBodyBytes: number,
  hints: Hints = {},
): fc.Arbitrary<FuzzBody> {
  const schema = op.requestBody ?? { type: 'object' };
  const json = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
  const contentType = fc.oneof(
    { weight: 6, arbitrary: fc.constant('application/json') },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  );
  const structured = fc
    .tuple(mutateObject(doc, schema, hints), contentType)
    .map(([m, ct]) => ({ kind: m.kind, bytes: json(m.value), contentType: ct }));
  const nonJson = fc
    .tuple(fc.oneof(fc.string({ maxLength: 64 }), fc.constantFrom('{"a":', '{', '[1,', 'nul', '{"a":1}}')), contentType)
    .map(([text, ct]) => ({ kind: 'non-json', bytes: Buffer.from(text, 'utf8'), contentType: ct }));
  const badUtf8 = fc.tuple(validValue(doc, schema, hints), fc.constantFrom(...BAD_UTF8)).map(([v, bad]) => {
    // Invalid bytes inside the first string value (or the whole body when there is none).
    const text = JSON.stringify(v) ?? '{}';
    const at = text.indexOf('":"');
    const bytes =
      at < 0
        ? Buffer.concat([Buffer.from('{"x":"'), bad, Buffer.from('"}')])
        : Buffer.concat([Buffer.from(text.slice(0, at + 3)), bad, Buffer.from(text.slice(at + 3))]);
    return { kind: 'bad-utf8', bytes, contentType: 'application/json' };
  });
  const huge = fc.tuple(validValue(doc, schema, hints), fc.integer({ min: 1, max: 64 * 1024 })).map(([v, extra]) => {
    const o = typeof v === 'object' && v !== null ? { ...(v as Record<string, unknown>) } : {};
    o.pad = 'x'.repeat(maxBodyBytes + extra);
    return { kind: 'too-large', bytes: json(o), contentType: 'application/json' };
  });
  const empty = contentType.map((ct) => ({ kind: 'empty', bytes: undefined, contentType: ct }));
  return fc
    .oneof(
      { weight: 10, arbitrary: structured },
      { weight: 2, arbitrary: nonJson },
      { weight: 2, arbitrary: badUtf8 },
      { weight: 1, arbitrary: huge },
      { weight: 1, arbitrary: empty },
    )
    .map(printable);
}

/** Gives a body a short form in fast-check's counterexample reports (a 100 KiB buffer would drown them). */
function printable(body: FuzzBody): FuzzBody {
  const preview =
    body.bytes === undefined
      ? 'no body'
      : `${body.bytes.length} B ${JSON.stringify(body.bytes.subarray(0, 160).toString('latin1'))}`;
  return Object.assign(body, {
    [fc.toStringMethod]: () => `{${body.kind}, content-type ${JSON.stringify(body.contentType)}, ${preview}}`,
  });
}

/** Percent-encodes any string as UTF-8 (a lone surrogate becomes U+FFFD, where encodeURIComponent throws). */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A query-string value: schema-valid, or a mutation (nasty text, bad %-escapes, numbers out of range). */
function queryValue(doc: OpenApiDoc, p: ParameterObject, hints: Hints): fc.Arbitrary<string> {
  const valid = hinted(hints, p.name, validValue(doc, p.schema, hints)).map((v) => percentEncode(String(v)));
  const raw = fc.constantFrom(
    '%',
    '%ZZ',
    '%C3%28',
    '%FF',
    '%ED%A0%80',
    '-1',
    '0',
    '1e3',
    '1.5',
    '99999999999999999999',
  );
  return fc.oneof(valid, nastyString.map(percentEncode), raw);
}

/** A query string (`?a=b&…`, or '') for an operation: its parameters, repeated, missing, plus unknown ones. */
export function queryArbitrary(doc: OpenApiDoc, op: SpecOperation, hints: Hints = {}): fc.Arbitrary<string> {
  const params = op.parameters.filter((p) => p.in === 'query');
  const pairs = params.map((p) =>
    fc.array(
      queryValue(doc, p, hints).map((v) => `${percentEncode(p.name)}=${v}`),
      { maxLength: 2 },
    ),
  );
  const unknown = fc.array(
    fc.tuple(nastyString, nastyString).map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`),
    { maxLength: 2 },
  );
  return fc.tuple(fc.tuple(...pairs), unknown).map(([known, extra]) => {
    const all = [...known.flat(), ...extra];
    return all.length === 0 ? '' : `?${all.join('&')}`;
  });
}

/** The concrete path for an operation: each `{param}` filled with a valid or mutated, escaped value. */
export function pathArbitrary(doc: OpenApiDoc, op: SpecOperation, hints: Hints = {}): fc.Arbitrary<string> {
  const names = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
  if (names.length === 0) return fc.constant(op.path);
  const value = (name: string) => {
    const p = op.parameters.find((x) => x.in === 'path' && x.name === name);
    const schema = p?.schema ?? { type: 'string', minLength: 1 };
    const valid = hinted(hints, name, validValue(doc, schema, hints)).map((v) => percentEncode(String(v)));
    const raw = fc.constantFrom('%ZZ', '%C3%28', '%2F', '%00', '..', '%2e%2e', 'x'.repeat(300), '%E2%80%AE');
    return fc.oneof(valid, nastyString.filter((s) => s.length > 0).map(percentEncode), raw);
  };
  return fc.tuple(...names.map(value)).map((values) => {
    let out = op.path;
    names.forEach((n, i) => {
      out = out.replace(`{${n}}`, values[i] as string);
    });
    return out;
  });
}
