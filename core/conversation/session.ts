/** An AudioHook session bound to a conversation, as the control layer records it. */

/** An AudioHook session bound to a conversation. */
export interface SessionRecord {
  conversationId: string;
  sessionId: string;
  /** Gateway task (ECS task id, or a local id) holding the WebSocket. */
  taskId: string;
  state: 'open' | 'closed';
  openedAt: string;
  closedAt?: string;
  closeReason?: string;
  /** Negotiated channel order, e.g. `["external","internal"]`. */
  channels?: string[];
  mediaFormat?: string;
  correlationId?: string;
  /** Expiry, epoch seconds. */
  ttl: number;
}
