/**
 * Flow control of one session as a single state (docs/audiohook-protocol.md §3.3, §4.3.3–§4.3.5): what
 * we last told the client (`startPaused`, `pause`, `resume`) crossed with what the client last reported
 * (`paused`, `resumed`). Each combination decides what an arriving audio frame is, so keeping them in one
 * value leaves no combination unaccounted for. The transitions are pure functions.
 */

/** Where a session's audio flow stands (before `opened` it is `streaming`; audio is refused then anyway). */
export type FlowState =
  /** We want audio and the client has not paused: frames are accepted. */
  | 'streaming'
  /**
   * We asked the client to hold audio (`pause`, or `opened` with `startPaused`) and it has not reported
   * `paused`: frames still arriving are stragglers, on the client's timeline but unwanted.
   */
  | 'held'
  /** The client reported `paused` and we want it paused. */
  | 'paused'
  /** The client reported `paused` while we want audio (it paused on its own, or our `resume` is in flight). */
  | 'client-paused';

/**
 * We told the client to hold audio (`paused = true`: `pause`, or `opened` with `startPaused`) or to stream
 * (`false`: `resume`, or a plain `opened`). Re-sending in the same state is allowed (§3.3).
 */
export function afterServerRequest(flow: FlowState, paused: boolean): FlowState {
  if (isClientPaused(flow)) return paused ? 'paused' : 'client-paused';
  return paused ? 'held' : 'streaming';
}

/** The client reported `paused` (`paused = true`) or `resumed` (`false`). */
export function afterClientReport(flow: FlowState, paused: boolean): FlowState {
  const wanted = wantsPause(flow);
  if (paused) return wanted ? 'paused' : 'client-paused';
  return wanted ? 'held' : 'streaming';
}

/** True when our last word to the client was to hold audio. */
export function wantsPause(flow: FlowState): boolean {
  return flow === 'held' || flow === 'paused';
}

/** True while the client says it is paused. */
export function isClientPaused(flow: FlowState): boolean {
  return flow === 'paused' || flow === 'client-paused';
}
