/**
 * An AudioHook simulator audio source whose content is decided while the call runs: the soak's call
 * driver places tone-coded utterances (local/transcribe/tone-code.ts) just ahead of what the simulator
 * has read, only when it knows whether transcription is on, so every utterance has a known fate. The
 * simulator's position clock advances one sample per sample read whether or not audio is sent (paused
 * time keeps counting), so a sample index here is a position on the session's AudioHook timeline.
 */
import { SAMPLE_RATE } from '../../core/audio/format';
import { encodeMulaw } from '../../core/audio/mulaw';
import { PCMU_SILENCE } from '../../core/audio/tone';
import type { AudioSource } from '../../local/simulator/audio-source';
import { synthesizeToneUtterance } from '../../local/transcribe/tone-code';

/** One utterance placed on the source's timeline. */
export interface PlacedUtterance {
  id: number;
  channel: 0 | 1;
  startSample: number;
  endSample: number;
  /** Wall-clock ms when the simulator read the utterance's last sample (sent it), once it has. */
  sentAtMs?: number;
  /** Samples of it the simulator has read (sent): less than its length if it was skipped or cut. */
  sentSamples: number;
}

interface Placement extends PlacedUtterance {
  pcmu: Uint8Array;
}

/** A stereo PCMU source of `durationMs` silence, plus the utterances placed with {@link LiveCallSource.say}. */
export class LiveCallSource implements AudioSource {
  readonly format = 'PCMU' as const;
  readonly channels = 2 as const;
  readonly durationSamples: number;
  readonly label: string;
  private readonly placed: Placement[] = [];
  private readonly lastEnd: [number, number] = [0, 0];
  /** End of what the simulator has read so far: the session's "now" on its timeline. */
  private readUpTo = 0;
  private firstReadAt: number | undefined;

  constructor(durationMs: number, label: string) {
    this.durationSamples = Math.round((durationMs * SAMPLE_RATE) / 1000);
    this.label = label;
  }

  /**
   * The session's "now" on its timeline (samples): what has been read, or, while paused (nothing is read
   * but the position clock runs in real time), the time since the first read.
   */
  get position(): number {
    const clock = this.firstReadAt === undefined ? 0 : msToSamples(Date.now() - this.firstReadAt);
    return Math.max(this.readUpTo, clock);
  }

  /** Whether the simulator has started reading (the session is open). */
  get started(): boolean {
    return this.firstReadAt !== undefined;
  }

  /**
   * Places utterance `id` on `channel` at the first position that is at least `leadMs` ahead of what has
   * been read, `gapMs` after the channel's previous utterance and outside every `blocked` window
   * (`[start, end)` samples). Returns the placement, or undefined when it would not fit before the end.
   */
  say(
    id: number,
    channel: 0 | 1,
    opts: { leadMs: number; gapMs: number; blocked?: readonly (readonly [number, number])[] },
  ): PlacedUtterance | undefined {
    const pcm = synthesizeToneUtterance(id, SAMPLE_RATE);
    let start = Math.max(this.position + msToSamples(opts.leadMs), this.lastEnd[channel] + msToSamples(opts.gapMs));
    // Move past blocked windows (pause, discard) until the whole utterance fits between them.
    for (let moved = true; moved; ) {
      moved = false;
      for (const [b0, b1] of opts.blocked ?? []) {
        if (start < b1 && start + pcm.length > b0) {
          start = b1;
          moved = true;
        }
      }
    }
    if (start + pcm.length > this.durationSamples) return undefined;
    const p: Placement = {
      id,
      channel,
      startSample: start,
      endSample: start + pcm.length,
      pcmu: encodeMulaw(pcm),
      sentSamples: 0,
    };
    this.placed.push(p);
    this.lastEnd[channel] = p.endSample;
    return p;
  }

  /** Every placement so far (live objects: `sentAtMs` is filled in as they are read). */
  utterances(): readonly PlacedUtterance[] {
    return this.placed;
  }

  read(start: number, count: number): Uint8Array {
    const end = Math.min(start + count, this.durationSamples);
    const n = Math.max(0, end - start);
    const out = new Uint8Array(n * 2).fill(PCMU_SILENCE);
    const now = Date.now();
    this.firstReadAt ??= now;
    for (const p of this.placed) {
      if (p.endSample <= start || p.startSample >= end) continue;
      const from = Math.max(start, p.startSample);
      const to = Math.min(end, p.endSample);
      for (let s = from; s < to; s++) out[(s - start) * 2 + p.channel] = p.pcmu[s - p.startSample] as number;
      p.sentSamples += to - from;
      if (p.endSample <= end) p.sentAtMs ??= now;
    }
    this.readUpTo = Math.max(this.readUpTo, end);
    return out;
  }
}

export function msToSamples(ms: number): number {
  return Math.round((ms * SAMPLE_RATE) / 1000);
}

export function samplesToMs(samples: number): number {
  return (samples * 1000) / SAMPLE_RATE;
}
