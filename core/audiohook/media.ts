/**
 * Media offer selection for `opened` (docs/audiohook-protocol.md §4.3.1). The client matches the
 * selected entry exactly (format, rate, type, channel count and order), so we return one offered entry
 * unchanged, and prefer stereo — transcription wants both parties — and PCMU, which is what Genesys
 * offers in practice and costs half the bytes of L16.
 */
import { SAMPLE_RATE } from '../audio/format';
import type { ChannelName } from '../audio/roles';
import type { MediaParameter } from './messages';

const CHANNEL_NAMES: ReadonlySet<string> = new Set<ChannelName>(['external', 'internal']);

/**
 * True when an offer entry is one this server can decode: audio, PCMU or L16, 8 kHz, one or two
 * distinct known channels. The edge decoder already enforces this; core re-checks because it must not
 * depend on who built the message.
 */
export function isAcceptableMedia(media: MediaParameter): boolean {
  if (media.type !== 'audio' || media.rate !== SAMPLE_RATE) return false;
  if (media.format !== 'PCMU' && media.format !== 'L16') return false;
  const { channels } = media;
  if (!Array.isArray(channels) || channels.length < 1 || channels.length > 2) return false;
  if (!channels.every((c) => CHANNEL_NAMES.has(c))) return false;
  return channels.length === 1 || channels[0] !== channels[1];
}

/** Lower is better: PCMU stereo, L16 stereo, PCMU mono, L16 mono. */
function rank(media: MediaParameter): number {
  const stereo = media.channels.length === 2 ? 0 : 2;
  return stereo + (media.format === 'PCMU' ? 0 : 1);
}

/**
 * Picks the best acceptable offer, ties going to the client's own order (it lists offers by
 * preference). Returns a copy holding exactly the wire fields of that entry, so nothing the decoder let
 * through can leak into `opened`; `undefined` when nothing is acceptable.
 */
export function selectMedia(offers: readonly MediaParameter[]): MediaParameter | undefined {
  let best: MediaParameter | undefined;
  for (const offer of offers) {
    if (!isAcceptableMedia(offer)) continue;
    if (best === undefined || rank(offer) < rank(best)) best = offer;
  }
  if (best === undefined) return undefined;
  return { type: best.type, format: best.format, channels: [...best.channels], rate: best.rate };
}
