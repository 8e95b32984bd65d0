/**
 * The send side of a connection (RFC 9293 §3.3.1, send sequence space):
 *
 *        1         2          3          4
 *   ----------|----------|----------|----------
 *          SND.UNA    SND.NXT    SND.UNA + SND.WND
 *
 * It owns the sequence variables (ISS, SND.UNA, SND.NXT, SND.MAX, SND.WND, SND.WL1, SND.WL2 and
 * the largest window the peer offered), the send buffer they index (send-buffer.ts), the queued
 * FIN, the send MSS, the Nagle switch, and the two timers of the send side: retransmission (RFC
 * 6298) and persist (RFC 9293 §3.8.6.1). Others read these; only the methods below change them.
 *
 * SND.MAX is the highest sequence number sent + 1: SND.NXT is pulled back to SND.UNA after a
 * retransmission timeout, SND.MAX never moves back.
 *
 * One of the TCB's owners: docs/architecture.md, "The TCP control block", says who changes what.
 */
import { seqAdd, seqGt, seqLe, seqLt, seqMax, seqSub } from '../wire/seq.ts';
import { SendBuffer } from './send-buffer.ts';

export const DEFAULT_MSS = 536; // RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: when the peer sends no MSS option

export class Sender {
  private _iss = 0;
  private _una = 0;
  private _nxt = 0;
  private _max = 0;
  private _wnd = 0;
  private wl1 = 0;
  private wl2 = 0;
  private _maxWnd = 0;
  /** Sequence number of send buffer byte 0 (ISS + 1 until the buffer is acknowledged past it). */
  private base = 0;
  private _finQueued = false;
  /** The peer's window scale (RFC 7323 §2.3): SEG.WND << wscale. */
  wscale = 0;
  /** The largest segment we send (the peer's MSS option, less our options; RFC 9293 §3.7.1). */
  mss = DEFAULT_MSS;
  /** setNoDelay: Nagle's rule (RFC 1122 §4.2.3.4) off. */
  noDelay = false;
  /** write() took less than offered: tell the owner once space opens. */
  private wantWritable = false;

  // Retransmission timer (RFC 6298 §5) and the count of expiries without progress.
  rtoAt = Infinity;
  retries = 0;
  // Persist timer (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17).
  persistAt = Infinity;
  persistBackoff = 0;
  /** The persist timer fired: the next output sends a window probe. */
  probeNow = false;
  /** Karn's timed segment (RFC 6298 §3), when timestamps do not give samples: its seq and send time. */
  private rttSeq = 0;
  private rttStart = -1;

  readonly buf: SendBuffer;
  /** How far autotune may grow the buffer (the starting size when SO_SNDBUF fixed it). */
  private readonly maxCapacity: number;

  constructor(capacity: number, maxCapacity = capacity) {
    this.buf = new SendBuffer(capacity);
    this.maxCapacity = Math.max(capacity, maxCapacity);
  }

  /**
   * Send buffer autotuning, as Linux's tcp_sndbuf_expand: room for twice the congestion window, so
   * that a window's worth can be in flight while the next is written, up to maxCapacity. A fixed
   * 1 MiB held a 20 ms path to 1 MiB per round trip (52 MB/s) while Linux's sender, autotuned to its
   * tcp_wmem maximum, ran on. Only grows (as Linux's), and only with a window the peer's ACKs earned.
   */
  autotune(cwnd: number): void {
    if (this.buf.capacity < this.maxCapacity) this.buf.growTo(Math.min(2 * cwnd, this.maxCapacity));
  }

  get iss(): number {
    return this._iss;
  }
  get una(): number {
    return this._una;
  }
  get nxt(): number {
    return this._nxt;
  }
  get max(): number {
    return this._max;
  }
  get wnd(): number {
    return this._wnd;
  }
  get maxWnd(): number {
    return this._maxWnd;
  }
  get finQueued(): boolean {
    return this._finQueued;
  }

  /** Bytes sent and not acknowledged (SND.MAX - SND.UNA): RFC 5681's FlightSize. */
  get flight(): number {
    return seqSub(this._max, this._una);
  }
  /** SND.NXT - SND.UNA. */
  get inflight(): number {
    return seqSub(this._nxt, this._una);
  }
  /** Everything sent is acknowledged. */
  get idle(): boolean {
    return this._una === this._max;
  }
  /** Bytes queued and not yet sent (beyond SND.NXT). */
  get unsent(): number {
    return this.buf.size - seqSub(this._nxt, this.base);
  }
  /** Bytes queued beyond SND.MAX. */
  get unsentBeyondMax(): number {
    return this.buf.size - seqSub(this._max, this.base);
  }
  /** Free space for write(). */
  get free(): number {
    return this.buf.free;
  }
  /** Bytes held (unacknowledged + unsent). */
  get queued(): number {
    return this.buf.size;
  }

  /** Sequence number of our FIN (valid once a FIN is queued). */
  get finSeq(): number {
    return seqAdd(this.base, this.buf.size);
  }
  get finAcked(): boolean {
    return this._finQueued && seqGt(this._una, this.finSeq);
  }
  /** The end of the data (our FIN's sequence number when it went, else SND.MAX). */
  get dataEnd(): number {
    return this._finQueued && seqGt(this._max, this.finSeq) ? this.finSeq : this._max;
  }

  init(iss: number): void {
    this._iss = this._una = this._nxt = this._max = iss;
    this.base = seqAdd(iss, 1);
  }

  /** A SYN-ACK that cookies stand for is out: SND.NXT = SND.MAX = ISS + 1. */
  synOut(): void {
    this._nxt = seqAdd(this._iss, 1);
    this._max = seqMax(this._max, this._nxt);
  }

  /** Our SYN is to be sent again (timeout, simultaneous open, retransmitted SYN): SND.NXT = ISS. */
  rewindToIss(): void {
    this._nxt = this._iss;
  }

  /** The window of a SYN or SYN-ACK (never scaled, RFC 7323 §2.2), or of the ACK that completes a handshake. */
  setInitialWindow(window: number, seq: number, ack: number): void {
    this._wnd = window;
    this._maxWnd = Math.max(this._maxWnd, window);
    this.wl1 = seq;
    this.wl2 = ack;
  }

  /** SEG.ACK acknowledges our SYN (SYN-SENT or SYN-RECEIVED). */
  synAcked(ack: number): void {
    this._una = ack;
    if (seqLt(this._nxt, ack)) this._nxt = ack;
  }

  queueFin(): void {
    this._finQueued = true;
  }

  /** Queue bytes; returns how many fit. */
  write(data: Uint8Array): number {
    const n = this.buf.write(data);
    if (n < data.length) this.wantWritable = true;
    return n;
  }

  /**
   * SND.UNA advances to `ack` (RFC 9293 §3.10.7.4 fifth step): acknowledged data leaves the buffer
   * (the SYN and FIN occupy no buffer byte). Returns the data bytes released.
   */
  ackTo(ack: number): number {
    this._una = ack;
    if (seqLt(this._nxt, ack)) this._nxt = ack;
    const dataAcked = Math.min(Math.max(0, seqSub(ack, this.base)), this.buf.size);
    if (dataAcked > 0) {
      this.buf.consume(dataAcked);
      this.base = seqAdd(this.base, dataAcked);
    }
    return dataAcked;
  }

  /** Space opened after write() took less than offered: true once (the owner's onWritable). */
  takeWritable(): boolean {
    if (!this.wantWritable) return false;
    this.wantWritable = false;
    return true;
  }

  /**
   * RFC 9293 §3.10.7.4: update the window if SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and
   * SND.WL2 =< SEG.ACK). Returns true when the window grew.
   */
  updateWindow(seq: number, ack: number, window: number): boolean {
    if (!(seqLt(this.wl1, seq) || (this.wl1 === seq && seqLe(this.wl2, ack)))) return false;
    const opened = window > this._wnd;
    this._wnd = window;
    if (window > this._maxWnd) this._maxWnd = window;
    this.wl1 = seq;
    this.wl2 = ack;
    if (window > 0) {
      this.persistAt = Infinity;
      this.persistBackoff = 0;
    }
    return opened;
  }

  /** The payload for [seq, seq + len): a view valid until the next read (send-buffer.ts). */
  read(seq: number, len: number): Uint8Array {
    return this.buf.read(seqSub(seq, this.base), len);
  }

  /** Data bytes available from `seq` on (0 at or past the end of the buffer). */
  availableFrom(seq: number): number {
    return Math.max(0, this.buf.size - Math.max(0, seqSub(seq, this.base)));
  }

  /** Does [seq, seq + len) end at the last queued byte? (PSH, and FIN once queued.) */
  endsBuffer(seq: number, len: number): boolean {
    return seqSub(seq, this.base) + len === this.buf.size;
  }

  /**
   * A segment [seq, end) went out. `head`: a retransmission that does not move SND.NXT (fast
   * retransmit, partial ACK, a SACK hole, a probe). Otherwise SND.NXT moves to `end` (and SND.MAX
   * with it). New data starts Karn's timed segment when timestamps give no samples.
   */
  onSent(now: number, seq: number, end: number, head: boolean, timeIt: boolean): void {
    if (head) return;
    if (timeIt && this.rttStart < 0 && !seqLt(seq, this._max)) {
      this.rttStart = now;
      this.rttSeq = seq;
    }
    this._nxt = end;
    if (seqGt(end, this._max)) this._max = end;
  }

  /** Go back N (RFC 5681 §3.1 after a timeout): resend from SND.UNA. */
  goBackN(): void {
    this._nxt = this._una;
  }

  /** Karn (RFC 6298 §3): the timed segment was retransmitted, its sample would be ambiguous. */
  cancelRttTiming(): void {
    this.rttStart = -1;
  }

  /** The RTT sample an ACK of the timed segment gives, or -1. */
  rttSampleFor(now: number, ack: number): number {
    if (this.rttStart < 0 || !seqGt(ack, this.rttSeq)) return -1;
    const r = now - this.rttStart;
    this.rttStart = -1;
    return r;
  }

  /** Drop all queued data (RST received, abort). */
  clear(): void {
    this.buf.clear();
  }
}
