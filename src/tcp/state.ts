/**
 * The eleven connection states of RFC 9293 §3.3.2, as small integers (cheap to compare on the hot
 * path) with their RFC names for humans.
 */
import type { TcpStateName } from './api.ts';

export enum State {
  CLOSED = 0,
  LISTEN = 1,
  SYN_SENT = 2,
  SYN_RECEIVED = 3,
  ESTABLISHED = 4,
  FIN_WAIT_1 = 5,
  FIN_WAIT_2 = 6,
  CLOSE_WAIT = 7,
  CLOSING = 8,
  LAST_ACK = 9,
  TIME_WAIT = 10,
}

export const STATE_NAMES: readonly TcpStateName[] = Object.freeze([
  'CLOSED',
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSE-WAIT',
  'CLOSING',
  'LAST-ACK',
  'TIME-WAIT',
]);

/** States after the SYNs were exchanged (RFC 9293 §3.10.7.4 "Otherwise"): sequence numbers are in sync. */
export function isSynchronized(s: State): boolean {
  return s >= State.SYN_RECEIVED;
}

/** States in which data may still arrive from the peer (before its FIN). */
export function canReceive(s: State): boolean {
  return s === State.ESTABLISHED || s === State.FIN_WAIT_1 || s === State.FIN_WAIT_2;
}

/** States in which we may still queue data to send (before our FIN). */
export function canSend(s: State): boolean {
  return s === State.ESTABLISHED || s === State.CLOSE_WAIT || s === State.SYN_SENT || s === State.SYN_RECEIVED;
}
