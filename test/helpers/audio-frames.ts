/**
 * AudioFrames for tests. The gateway passes frames on as received (interleaved, channel order kept), so a
 * test that thinks in roles builds its frame here: L16 payload, channel c carrying the role `roles[c]`.
 */
import { channelSamples } from '../../core/audio/interleave';
import type { Role } from '../../core/audio/roles';
import type { AudioFrame } from '../../core/audiohook/ports';

/** The roles of a stereo session in the usual channel order (external = customer first). */
export const STEREO_ROLES: readonly Role[] = ['customer', 'agent'];

/** An L16 frame of `samples` samples per channel; channel c is `channels[c]` (missing or short: silence). */
export function l16Frame(position: number, samples: number, channels: readonly (Int16Array | undefined)[]): AudioFrame {
  const n = channels.length;
  const data = new Uint8Array(samples * n * 2);
  const view = new DataView(data.buffer);
  channels.forEach((src, c) => {
    for (let i = 0; i < samples; i++) view.setInt16((i * n + c) * 2, src?.[i] ?? 0, true);
  });
  return { position, samples, format: 'L16', channels: n, data };
}

/** A frame of the session whose channels carry `roles` (in order); a role missing from `pcm` is silence. */
export function frameOf(
  position: number,
  samples: number,
  pcm: Partial<Record<Role, Int16Array>>,
  roles: readonly Role[] = STEREO_ROLES,
): AudioFrame {
  return l16Frame(
    position,
    samples,
    roles.map((r) => pcm[r]),
  );
}

/** One role's samples of `frame` (a copy), given the session's roles in channel order. */
export function rolePcm(frame: AudioFrame, roles: readonly Role[], role: Role): Int16Array | undefined {
  const c = roles.indexOf(role);
  return c < 0 || c >= frame.channels ? undefined : channelSamples(frame, c);
}

/** Every role's samples of `frame` (copies), given the session's roles in channel order. */
export function pcmByRole(frame: AudioFrame, roles: readonly Role[]): Partial<Record<Role, Int16Array>> {
  const out: Partial<Record<Role, Int16Array>> = {};
  roles.forEach((role, c) => {
    if (c < frame.channels) out[role] = channelSamples(frame, c);
  });
  return out;
}
