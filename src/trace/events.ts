/**
 * Trace events: what an observer of the link sees. Observability costs nothing when unused
 * (docs/design.md rule 10): the stack only wraps its device in a TapDevice when someone listens, so an
 * untraced packet path has no branch, no call and no allocation for tracing.
 */

/** 'in': received from the link (towards the stack). 'out': sent by the stack (towards the link). */
export type PacketDirection = 'in' | 'out';

/**
 * Called synchronously for each packet. The observer must not modify or keep the buffer beyond the
 * call (copy it if needed): the stack or the device owns it. `now` is the stack's clock, in ms.
 */
export type PacketObserver = (dir: PacketDirection, packet: Uint8Array, now: number) => void;

/** A recorded packet event (for the ladder view and tests). */
export interface PacketEvent {
  readonly dir: PacketDirection;
  readonly packet: Uint8Array;
  readonly now: number;
}
