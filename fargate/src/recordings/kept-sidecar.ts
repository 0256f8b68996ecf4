/**
 * The sidecar of a kept recording: a small JSON file next to a WAV whose upload failed (`<name>.json`
 * beside `<name>.wav`) holding what a later upload needs (bucket, key, object metadata; nothing secret),
 * so a process started later on the same disk can store it.
 *
 * A sidecar is written atomically (a temporary file, synced, then renamed), so a crash leaves either no
 * sidecar or a whole one. A WAV without a sidecar is therefore a spool that was still being written or
 * uploaded when its process ended: the scan reports it and leaves it alone.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RECORDINGS_PREFIX } from '../../../core/transcript/recording-key';
import { RecordingError } from './errors';

/** What a sidecar holds (format version 1). */
export interface KeptSidecar {
  readonly version: 1;
  /** The bucket the recording was meant for (the retry stores it in the configured bucket). */
  readonly bucket: string;
  readonly key: string;
  /** The object's user metadata (core/transcript/recording-key.ts `recordingMetadata`). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Upload attempts made before the recording was kept. */
  readonly attempts: number;
  /** When the recording was kept (ISO 8601). */
  readonly keptAt: string;
}

/** A kept recording found in a spool directory. */
export interface FoundKeptRecording {
  readonly wavPath: string;
  readonly sidecarPath: string;
  readonly sidecar: KeptSidecar;
}

/** What {@link scanSpoolDir} found. */
export interface SpoolScan {
  /** WAVs with a valid sidecar: kept recordings to upload. */
  readonly kept: FoundKeptRecording[];
  /** WAVs without a sidecar (unfinished spools of an ended process): left in place. */
  readonly unfinished: string[];
  /** Sidecars that cannot be read or are not valid: left in place, with their WAV. */
  readonly invalid: { path: string; error: RecordingError }[];
  /** Leftovers removed: sidecars whose WAV is gone, temporary files of an interrupted sidecar write. */
  readonly removed: string[];
}

const WAV = '.wav';
const JSON_EXT = '.json';
/** `<name>.json.<8 hex>.tmp`: a sidecar being written. */
const TEMP_SIDECAR = /\.json\.[0-9a-f]{8}\.tmp$/;

/** The sidecar path of a spool WAV. */
export function sidecarPathOf(wavPath: string): string {
  if (!wavPath.endsWith(WAV)) throw new RangeError(`a spool recording ends in ${WAV}: ${wavPath}`);
  return `${wavPath.slice(0, -WAV.length)}${JSON_EXT}`;
}

/**
 * Writes the sidecar of `wavPath` atomically (mode 0600) and returns its path.
 * @throws RecordingError `RECORDING_SIDECAR_FAILED` when it could not be written (no partial file is left)
 */
export async function writeSidecar(wavPath: string, sidecar: KeptSidecar): Promise<string> {
  const path = sidecarPathOf(wavPath);
  const temp = `${path}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = await open(temp, 'wx', 0o600);
    try {
      await file.writeFile(`${JSON.stringify(sidecar)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw new RecordingError('RECORDING_SIDECAR_FAILED', `writing the recording sidecar ${path} failed`, {
      cause: err,
    });
  }
  return path;
}

/**
 * Parses a sidecar's text.
 * @throws RecordingError `RECORDING_SIDECAR_INVALID`, naming the file and the first problem found
 */
export function parseSidecar(text: string, path: string): KeptSidecar {
  const invalid = (problem: string) =>
    new RecordingError('RECORDING_SIDECAR_INVALID', `recording sidecar ${path} is not valid: ${problem}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RecordingError('RECORDING_SIDECAR_INVALID', `recording sidecar ${path} is not JSON`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('not a JSON object');
  const o = value as Record<string, unknown>;
  if (o.version !== 1) throw invalid(`version is ${JSON.stringify(o.version)}, expected 1`);
  for (const field of ['bucket', 'key', 'keptAt'] as const) {
    if (typeof o[field] !== 'string' || o[field] === '') throw invalid(`"${field}" must be a non-empty string`);
  }
  if (!(o.key as string).startsWith(RECORDINGS_PREFIX)) throw invalid(`"key" must start with ${RECORDINGS_PREFIX}`);
  if (typeof o.attempts !== 'number' || !Number.isInteger(o.attempts) || o.attempts < 0) {
    throw invalid('"attempts" must be a whole number ≥ 0');
  }
  const metadata = o.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw invalid('"metadata" must be an object');
  }
  for (const [name, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw invalid(`metadata "${name}" must be a string`);
  }
  return {
    version: 1,
    bucket: o.bucket as string,
    key: o.key as string,
    metadata: { ...(metadata as Record<string, string>) },
    attempts: o.attempts,
    keptAt: o.keptAt as string,
  };
}

/**
 * Lists what earlier processes left in a spool directory: kept recordings (WAV + valid sidecar) to upload,
 * unfinished spools, invalid sidecars; removes only leftovers that hold no audio. Synchronous: it runs
 * once when the directory first becomes usable, before any segment is recorded in it.
 * @throws when the directory cannot be listed
 */
export function scanSpoolDir(dir: string): SpoolScan {
  const names = new Set(readdirSync(dir));
  const scan: SpoolScan = { kept: [], unfinished: [], invalid: [], removed: [] };
  for (const name of [...names].sort()) {
    const path = join(dir, name);
    if (name.endsWith(WAV)) {
      const sidecarPath = sidecarPathOf(path);
      if (!names.has(`${name.slice(0, -WAV.length)}${JSON_EXT}`)) {
        scan.unfinished.push(path);
        continue;
      }
      try {
        scan.kept.push({
          wavPath: path,
          sidecarPath,
          sidecar: parseSidecar(readFileSync(sidecarPath, 'utf8'), sidecarPath),
        });
      } catch (err) {
        const error =
          err instanceof RecordingError
            ? err
            : new RecordingError('RECORDING_SIDECAR_INVALID', `recording sidecar ${sidecarPath} cannot be read`, {
                cause: err,
              });
        scan.invalid.push({ path: sidecarPath, error });
      }
    } else if (
      TEMP_SIDECAR.test(name) ||
      (name.endsWith(JSON_EXT) && !names.has(`${name.slice(0, -JSON_EXT.length)}${WAV}`))
    ) {
      // An interrupted sidecar write, or a sidecar whose recording was stored (or removed) before it.
      try {
        unlinkSync(path);
        scan.removed.push(path);
      } catch {
        // gone already, or not ours to remove: harmless either way
      }
    }
  }
  return scan;
}
