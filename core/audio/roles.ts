/**
 * Roles of the two parties, and how AudioHook channel names map to them (api-contract.md §1.3 REC):
 * `external` is the customer side, `internal` the agent side. The negotiated channel order decides
 * which interleaved sample belongs to whom; it is never assumed.
 */
/** AudioHook channel names (§2.5): `external` is the customer side, `internal` the agent side. */
export type ChannelName = 'external' | 'internal';

export type Role = 'customer' | 'agent';

export const ROLE_OF_CHANNEL: Readonly<Record<ChannelName, Role>> = {
  external: 'customer',
  internal: 'agent',
};

/** Roles in negotiated channel order, e.g. `["internal","external"]` → `["agent","customer"]`. */
export function rolesOf(channels: readonly ChannelName[]): Role[] {
  return channels.map((c) => ROLE_OF_CHANNEL[c]);
}
