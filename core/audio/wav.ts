/**
 * Minimal RIFF/WAVE reading and writing for the two AudioHook sample formats (§2.5): 16-bit
 * little-endian PCM (`L16`, WAVE format 1) and G.711 µ-law (`PCMU`, WAVE format 7), mono or stereo,
 * plain or WAVE_FORMAT_EXTENSIBLE. Used for fixtures, the simulator's WAV source and the WAV sink.
 * The sample rate is reported rather than enforced: callers decide whether 8 kHz is required.
 */
import { AppError } from '../errors';
import type { MediaFormat } from './format';

/** Stable codes of {@link WavFormatError} (listed in docs/errors.md). */
export type WavErrorCode =
  | 'WAV_NOT_RIFF_WAVE'
  | 'WAV_TRUNCATED'
  | 'WAV_MISSING_CHUNK'
  | 'WAV_UNSUPPORTED_FORMAT'
  | 'WAV_UNSUPPORTED_CHANNELS'
  | 'WAV_INCONSISTENT_FORMAT'
  | 'WAV_PARTIAL_SAMPLE_FRAME'
  | 'WAV_INVALID_OPTIONS'
  | 'WAV_TOO_LARGE';

/** A WAV file this module cannot read, or options it cannot encode. */
export class WavFormatError extends AppError {
  override readonly name = 'WavFormatError';
  declare readonly code: WavErrorCode;
  constructor(code: WavErrorCode, message: string) {
    super(code, message);
  }
}

/** What {@link parseWav} found. */
export interface WavInfo {
  format: MediaFormat;
  channels: 1 | 2;
  /** As declared by the file; not checked against 8000. */
  sampleRate: number;
  /** Raw interleaved payload of the `data` chunk (a view into the input, not a copy). */
  data: Uint8Array;
  /** Samples per channel. */
  durationSamples: number;
}

/** Parameters of a WAV header. */
export interface WavHeaderOptions {
  format: MediaFormat;
  channels: 1 | 2;
  sampleRate: number;
  /** Length of the `data` payload in bytes (whole sample-frames). */
  dataBytes: number;
}

const FORMAT_PCM = 1;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;
/** Bytes 2..15 shared by the KSDATAFORMAT_SUBTYPE_* GUIDs whose first two bytes are a WAVE format code. */
const SUBTYPE_GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
/** Some streaming writers leave the size fields at this value when they cannot seek back. */
const UNKNOWN_SIZE = 0xffffffff;
const U32_MAX = 0xffffffff;

/** Header length written by {@link encodeWavHeader}: 44 bytes for PCM, 58 for µ-law (fmt with cbSize + fact). */
export function wavHeaderBytes(format: MediaFormat): number {
  return format === 'L16' ? 44 : 58;
}

function bytesPerSample(format: MediaFormat): 1 | 2 {
  return format === 'PCMU' ? 1 : 2;
}

function fourcc(view: DataView, offset: number): string {
  return String.fromCharCode(
    view.getUint8(offset),
    view.getUint8(offset + 1),
    view.getUint8(offset + 2),
    view.getUint8(offset + 3),
  );
}

function formatName(code: number): string {
  const known: Record<number, string> = { 1: 'PCM', 2: 'MS ADPCM', 3: 'IEEE float', 6: 'A-law', 7: 'µ-law' };
  return `${known[code] ?? 'format'} (0x${code.toString(16).padStart(4, '0')})`;
}

interface FmtChunk {
  format: MediaFormat;
  channels: 1 | 2;
  sampleRate: number;
  blockAlign: number;
}

function readFmt(view: DataView, offset: number, size: number): FmtChunk {
  if (size < 16) throw new WavFormatError('WAV_INCONSISTENT_FORMAT', `fmt chunk of ${size} bytes is too short`);
  let code = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const blockAlign = view.getUint16(offset + 12, true);
  const bits = view.getUint16(offset + 14, true);
  if (code === FORMAT_EXTENSIBLE) {
    const cbSize = size >= 18 ? view.getUint16(offset + 16, true) : 0;
    if (size < 40 || cbSize < 22) {
      throw new WavFormatError('WAV_INCONSISTENT_FORMAT', 'WAVE_FORMAT_EXTENSIBLE fmt chunk is too short');
    }
    const sub = offset + 24;
    const tailMatches = SUBTYPE_GUID_TAIL.every((b, i) => view.getUint8(sub + 2 + i) === b);
    if (!tailMatches) {
      throw new WavFormatError('WAV_UNSUPPORTED_FORMAT', 'WAVE_FORMAT_EXTENSIBLE with a non-standard subformat GUID');
    }
    code = view.getUint16(sub, true);
  }
  let format: MediaFormat;
  if (code === FORMAT_PCM && bits === 16) format = 'L16';
  else if (code === FORMAT_MULAW && bits === 8) format = 'PCMU';
  else {
    throw new WavFormatError(
      'WAV_UNSUPPORTED_FORMAT',
      `${formatName(code)} with ${bits} bits per sample is not supported (only 16-bit PCM and 8-bit µ-law)`,
    );
  }
  if (channels !== 1 && channels !== 2) {
    throw new WavFormatError('WAV_UNSUPPORTED_CHANNELS', `${channels} channels are not supported (only 1 or 2)`);
  }
  if (sampleRate === 0) throw new WavFormatError('WAV_INCONSISTENT_FORMAT', 'fmt chunk declares a sample rate of 0');
  const expectedAlign = channels * bytesPerSample(format);
  if (blockAlign !== expectedAlign) {
    throw new WavFormatError(
      'WAV_INCONSISTENT_FORMAT',
      `block align ${blockAlign} does not match ${channels} channel(s) of ${format} (expected ${expectedAlign})`,
    );
  }
  return { format, channels, sampleRate, blockAlign };
}

/**
 * Parses a RIFF/WAVE file holding 16-bit PCM or 8-bit µ-law, mono or stereo. Unknown chunks (LIST,
 * fact, cue…) are skipped, honouring the pad byte after odd-sized chunks.
 * @throws {@link WavFormatError} for anything else, with a code saying what is wrong.
 */
export function parseWav(buf: Uint8Array): WavInfo {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 12 || fourcc(view, 0) !== 'RIFF' || fourcc(view, 8) !== 'WAVE') {
    const what = buf.byteLength >= 4 ? fourcc(view, 0) : 'too short';
    throw new WavFormatError('WAV_NOT_RIFF_WAVE', `not a little-endian RIFF/WAVE file (${JSON.stringify(what)})`);
  }
  // The RIFF size is not trusted: streaming writers leave it 0 or 0xFFFFFFFF and some writers get it
  // wrong. Chunks are walked to the end of the buffer and the walk stops once fmt and data are found,
  // so trailing tags (ID3 after the data) are never read.
  const riffEnd = buf.byteLength;

  let fmt: FmtChunk | undefined;
  let data: { offset: number; size: number } | undefined;
  let offset = 12;
  while (offset + 8 <= riffEnd && (fmt === undefined || data === undefined)) {
    const id = fourcc(view, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'data') {
      const available = buf.byteLength - body;
      if (size === UNKNOWN_SIZE) data = { offset: body, size: available };
      else if (size > available) {
        throw new WavFormatError('WAV_TRUNCATED', `data chunk declares ${size} bytes but only ${available} follow`);
      } else data = { offset: body, size };
    } else if (id === 'fmt ') {
      if (body + size > buf.byteLength) throw new WavFormatError('WAV_TRUNCATED', 'fmt chunk runs past the end');
      fmt = readFmt(view, body, size);
    }
    offset = body + size + (size & 1);
  }
  if (fmt === undefined) throw new WavFormatError('WAV_MISSING_CHUNK', 'no fmt chunk');
  if (data === undefined) throw new WavFormatError('WAV_MISSING_CHUNK', 'no data chunk');

  let size = data.size;
  if (size % fmt.blockAlign !== 0) {
    // Only a streamed file of unknown length may end mid sample-frame; a declared size must be whole.
    if (view.getUint32(data.offset - 4, true) !== UNKNOWN_SIZE) {
      throw new WavFormatError(
        'WAV_PARTIAL_SAMPLE_FRAME',
        `data chunk of ${size} bytes is not a whole number of ${fmt.blockAlign}-byte sample frames`,
      );
    }
    size -= size % fmt.blockAlign;
  }
  return {
    format: fmt.format,
    channels: fmt.channels,
    sampleRate: fmt.sampleRate,
    data: buf.subarray(data.offset, data.offset + size),
    durationSamples: size / fmt.blockAlign,
  };
}

function validateHeaderOptions(opts: WavHeaderOptions): number {
  const { format, channels, sampleRate, dataBytes } = opts;
  if (format !== 'PCMU' && format !== 'L16') {
    throw new WavFormatError('WAV_INVALID_OPTIONS', `format must be PCMU or L16, got ${String(format)}`);
  }
  if (channels !== 1 && channels !== 2) {
    throw new WavFormatError('WAV_INVALID_OPTIONS', `channels must be 1 or 2, got ${String(channels)}`);
  }
  const blockAlign = channels * bytesPerSample(format);
  if (!Number.isInteger(sampleRate) || sampleRate <= 0 || sampleRate * blockAlign > U32_MAX) {
    throw new WavFormatError('WAV_INVALID_OPTIONS', `sampleRate must be a positive integer, got ${sampleRate}`);
  }
  if (!Number.isSafeInteger(dataBytes) || dataBytes < 0 || dataBytes % blockAlign !== 0) {
    throw new WavFormatError(
      'WAV_INVALID_OPTIONS',
      `dataBytes must be a whole number of ${blockAlign}-byte sample frames, got ${dataBytes}`,
    );
  }
  if (wavHeaderBytes(format) - 8 + dataBytes + (dataBytes & 1) > U32_MAX) {
    throw new WavFormatError('WAV_TOO_LARGE', `${dataBytes} bytes of audio do not fit in a RIFF file (4 GiB)`);
  }
  return blockAlign;
}

function writeAscii(view: DataView, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
}

/**
 * Encodes a WAV header for `dataBytes` of payload: the canonical 44-byte header for 16-bit PCM; for
 * µ-law an 18-byte fmt chunk (non-PCM formats carry cbSize) plus the `fact` chunk they require. When
 * `dataBytes` is odd (mono µ-law) the RIFF size counts the pad byte the caller must append after the data.
 * @throws {@link WavFormatError} `WAV_INVALID_OPTIONS` or `WAV_TOO_LARGE`.
 */
export function encodeWavHeader(opts: WavHeaderOptions): Uint8Array {
  const blockAlign = validateHeaderOptions(opts);
  const { format, channels, sampleRate, dataBytes } = opts;
  const headerBytes = wavHeaderBytes(format);
  const out = new Uint8Array(headerBytes);
  const view = new DataView(out.buffer);
  writeAscii(view, 0, 'RIFF');
  view.setUint32(4, headerBytes - 8 + dataBytes + (dataBytes & 1), true);
  writeAscii(view, 8, 'WAVE');
  writeAscii(view, 12, 'fmt ');
  const fmtSize = format === 'L16' ? 16 : 18;
  view.setUint32(16, fmtSize, true);
  view.setUint16(20, format === 'L16' ? FORMAT_PCM : FORMAT_MULAW, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, bytesPerSample(format) * 8, true);
  let offset = 36;
  if (format === 'PCMU') {
    view.setUint16(36, 0, true); // cbSize: no extra format bytes
    writeAscii(view, 38, 'fact');
    view.setUint32(42, 4, true);
    view.setUint32(46, dataBytes / blockAlign, true);
    offset = 50;
  }
  writeAscii(view, offset, 'data');
  view.setUint32(offset + 4, dataBytes, true);
  return out;
}

/**
 * Encodes a complete WAV file around an interleaved payload (header, data, and the pad byte an odd-sized
 * data chunk needs).
 * @throws {@link WavFormatError} `WAV_INVALID_OPTIONS` or `WAV_TOO_LARGE`.
 */
export function encodeWav(opts: Omit<WavHeaderOptions, 'dataBytes'> & { data: Uint8Array }): Uint8Array {
  const header = encodeWavHeader({
    format: opts.format,
    channels: opts.channels,
    sampleRate: opts.sampleRate,
    dataBytes: opts.data.byteLength,
  });
  const pad = opts.data.byteLength & 1;
  const out = new Uint8Array(header.byteLength + opts.data.byteLength + pad);
  out.set(header, 0);
  out.set(opts.data, header.byteLength);
  return out;
}
