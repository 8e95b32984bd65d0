/**
 * The timestamps option of one connection (RFC 7323): whether it is on, our clock's offset, TS.Recent
 * and when it was last updated, and Last.ACK.sent, which decides when TS.Recent may be updated.
 *
 *  - §3.2  on only if both SYNs carried it
 *  - §4.3  TS.Recent is updated from a segment that covers Last.ACK.sent (SEG.SEQ =< Last.ACK.sent)
 *  - §5.3  PAWS: a segment whose TSval is older than TS.Recent is an old duplicate
 *  - §5.4  our clock is offset per connection, so TSvals do not reveal uptime across connections
 *  - §5.5  a TS.Recent idle for more than 24 days is no longer a reference
 */
import { seqGe, seqLe, seqLt } from '../wire/seq.ts';

/** RFC 7323 §5.5: 24 days, after which TS.Recent is invalid. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

export class Timestamps {
  private _on = false;
  private _recent = 0;
  private recentAt = 0;
  private lastAckSent = 0;

  constructor(private readonly offset: number) {}

  get on(): boolean {
    return this._on;
  }

  /** TS.Recent: what our segments echo. */
  get recent(): number {
    return this._recent;
  }

  /** Our TSval at `now` (ms clock, offset per connection). */
  now(now: number): number {
    return (Math.floor(now) + this.offset) >>> 0;
  }

  /** The peer's SYN (or SYN-ACK) decided: on if it carried the option and we allow it. */
  negotiate(enabled: boolean, peer: { value: number } | undefined, at: number): void {
    this._on = enabled && peer !== undefined;
    if (this._on) this._recent = peer!.value;
    this.recentAt = at;
  }

  /** TS.Recent from the SYN-ACK that completes an active open. */
  setRecent(value: number): void {
    this._recent = value;
  }

  /**
   * PAWS (§5.3): true when the segment must be dropped as an old duplicate. A TS.Recent idle for
   * longer than 24 days is replaced instead (§5.5).
   */
  pawsRejects(now: number, tsval: number): boolean {
    if (!seqLt(tsval, this._recent)) return false;
    if (now - this.recentAt <= PAWS_IDLE_MS) return true;
    this._recent = tsval;
    return false;
  }

  /** §4.3: a segment at or before Last.ACK.sent with a TSval not older than TS.Recent updates it. */
  onAcceptable(now: number, seq: number, tsval: number): void {
    if (seqLe(seq, this.lastAckSent) && seqGe(tsval, this._recent)) {
      this._recent = tsval;
      this.recentAt = now;
    }
  }

  /** A segment acknowledging `rcvNxt` went out. */
  onAckSent(rcvNxt: number): void {
    this.lastAckSent = rcvNxt;
  }

  /** The round trip that an echoed TSval measures (RFC 7323 §4.1), or -1 if none. */
  rttSample(now: number, echo: number): number {
    if (echo === 0) return -1;
    const r = (this.now(now) - echo) >>> 0;
    return r < 0x80000000 ? r : -1;
  }
}
