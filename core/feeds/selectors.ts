/**
 * File Exporter request values (api-contract.md §4, ambiguity A11): the six selectors arrive either bare
 * (`1`, `jsonl`, `2025-01-15`, `hr=14`) or prefixed as in the guide's sample (`version=1`, `format=jsonl`,
 * `dt=2025-01-15`), and the file as `fileName` or `file`. Everything is normalized to the bare form we emit.
 *
 * A value that cannot be a selector at all (not a string, empty, a day that does not exist, a path) is the
 * caller's mistake ({@link FeedSelectorError} → `400-01`); a well-formed value we simply have no data for
 * is decided later by the handler (`404-01`).
 */
import { AppError } from '../errors';

/** Names of the selectors, as the request body spells them. */
export type SelectorName = 'feed' | 'version' | 'format' | 'date' | 'interval' | 'fileName';

/** Normalized selectors. `interval` is the bare hour `HH`; `intervalLabel` the emitted form `hr=HH`. */
export interface FeedSelectors {
  feed?: string;
  version?: string;
  format?: string;
  date?: string;
  interval?: string;
  fileName?: string;
}

/** A selector that is missing or malformed. */
export class FeedSelectorError extends AppError {
  override readonly name = 'FeedSelectorError';
  declare readonly code: 'FEED_INVALID_SELECTOR';
  constructor(
    readonly field: SelectorName,
    message: string,
  ) {
    super('FEED_INVALID_SELECTOR', message);
  }
}

const MAX_LENGTH = 128;

function stripPrefix(value: string, prefix: string): string {
  return value.toLowerCase().startsWith(prefix) ? value.slice(prefix.length) : value;
}

function isRealDay(day: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return false;
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10) === day;
}

const NORMALIZERS: Readonly<Record<SelectorName, (raw: string) => string | undefined>> = {
  feed: (v) => (/^[A-Za-z0-9_-]+$/.test(v) ? v : undefined),
  version: (v) => {
    const bare = stripPrefix(v, 'version=');
    return /^[A-Za-z0-9._-]+$/.test(bare) ? bare : undefined;
  },
  format: (v) => {
    const bare = stripPrefix(v, 'format=').toLowerCase();
    return /^[a-z0-9]+$/.test(bare) ? bare : undefined;
  },
  date: (v) => {
    const bare = stripPrefix(v, 'dt=');
    return isRealDay(bare) ? bare : undefined;
  },
  interval: (v) => {
    // Hourly feed: `hr=HH`, `HH`, with or without a trailing slash. A finer interval (`hr=01/mi=15`) is
    // well-formed but one we never have; it is kept so the handler answers 404, not 400.
    const m = /^(?:hr=)?(\d{1,2})\/?$/i.exec(v);
    if (m) {
      const h = Number(m[1]);
      return h <= 23 ? String(h).padStart(2, '0') : undefined;
    }
    return /^hr=\d{2}\/mi=\d{2}\/?$/i.test(v) ? v : undefined;
  },
  // A bare name (`part-00000.jsonl.gz`, unique within an interval) or one qualified by its hour
  // (`hr=14/part-00000.jsonl.gz`, as listfeedfiles lists a whole day).
  fileName: (v) => (/^(hr=\d{2}\/)?[A-Za-z0-9_-][A-Za-z0-9._=-]*$/.test(v) ? v : undefined),
};

const EXPECTED: Readonly<Record<SelectorName, string>> = {
  feed: 'a feed name, e.g. utterances',
  version: 'a version, e.g. 1 or version=1',
  format: 'a format, e.g. jsonl or format=jsonl',
  date: 'a UTC day YYYY-MM-DD (or dt=YYYY-MM-DD)',
  interval: 'an hour interval, e.g. hr=14',
  fileName: 'a file name from listfeedfiles, e.g. part-00000.jsonl.gz',
};

function rawValue(body: Record<string, unknown>, name: SelectorName): unknown {
  if (name === 'fileName') return body.fileName ?? body.file;
  return body[name];
}

/**
 * Reads the named selectors from a request body (`undefined` counts as `{}`). `null` counts as absent.
 * Throws {@link FeedSelectorError} for a missing required one or any malformed one.
 */
export function parseSelectors(
  body: unknown,
  required: readonly SelectorName[],
  optional: readonly SelectorName[] = [],
): FeedSelectors {
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    throw new FeedSelectorError(required[0] ?? 'feed', 'Request body must be a JSON object');
  }
  const input = (body ?? {}) as Record<string, unknown>;
  const out: FeedSelectors = {};
  for (const name of [...required, ...optional]) {
    const raw = rawValue(input, name);
    if (raw === undefined || raw === null) {
      if (required.includes(name)) throw new FeedSelectorError(name, `${name} is required: ${EXPECTED[name]}`);
      continue;
    }
    if (typeof raw !== 'string') throw new FeedSelectorError(name, `${name} must be a string: ${EXPECTED[name]}`);
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.length > MAX_LENGTH) {
      throw new FeedSelectorError(name, `${name} must be ${EXPECTED[name]}`);
    }
    const value = NORMALIZERS[name](trimmed);
    if (value === undefined) throw new FeedSelectorError(name, `${name} must be ${EXPECTED[name]}`);
    out[name] = value;
  }
  return out;
}

/** The emitted form of an hour interval (`hr=HH`). */
export function intervalLabel(hour: string): string {
  return `hr=${hour}`;
}
