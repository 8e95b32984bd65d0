/**
 * The receive side (RFC 9293 §3.3.1 receive sequence space, §3.8.6.2 window management):
 *
 *  - Buffer accounting: bytes handed to the owner (onData) stay counted until the owner says
 *    `consumed(n)`, so the window we advertise is the real free space: backpressure reaches the peer.
 *  - Window advertisement with receiver-side SWS avoidance (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3):
 *    the right edge never moves left (RFC 9293 §3.8.6: "shrinking the window" is strongly discouraged), and it
 *    only moves right once the increase reaches min(buffer/2, MSS).
 *  - Window scale (RFC 7323 §2.3): the 16-bit field carries window >> rcvWscale, never scaled in a SYN.
 *  - Delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2, RFC 1122 §4.2.3.2): an ACK at least every second
 *    full-size segment, else after a delay; we use 40 ms, Linux's minimum delayed-ACK timeout
 *    (TCP_DELACK_MIN = HZ/25), well under the 500 ms bound. Out-of-order segments, and segments that
 *    fill a hole, are acknowledged at once (RFC 5681 §4.2, §3.2).
 *  - Memory budgets (rx-budget.ts): unread bytes are also reserved in the layer-wide budget, and the
 *    reassembly queue charges its ranges to it; close() gives everything back.
 *  - Receive buffer autotuning (`autotune`), as Linux's dynamic right-sizing (tcp_rcv_space_adjust):
 *    a window must hold what the path carries in one round trip (RFC 7323 §1.1, the bandwidth*delay
 *    product), so once per round trip the buffer grows to twice what the owner consumed in the last
 *    one, when that was more than in any round before, up to `maxSize`. It follows the reader, not
 *    the peer: a peer that sends faster than the owner reads fills the buffer and gains nothing.
 *    Only grows, since the right edge already offered must stay (RFC 9293 §3.8.6.2.2, RFC 7323
 *    §2.4), and only while the layer-wide budget could hold the increase. SO_RCVBUF fixes the
 *    size (maxSize = bufSize), as on Linux.
 *
 * One of the TCB's owners: docs/architecture.md, "The TCP control block", says who changes what.
 */
import { seqAdd, seqGt, seqSub } from '../wire/seq.ts';
import { Reassembly } from './reassembly.ts';
import { unlimitedRxBudget, type RxBudget } from './rx-budget.ts';

export const DELAYED_ACK_MS = 40;

/**
 * The shortest round autotuning measures (ms): the timestamp clock's tick (timestamps.ts), below
 * which an echo cannot tell one round trip from another. On a sub-millisecond path a round then
 * covers several real ones, and the buffer grows to twice what the owner reads per millisecond.
 */
export const AUTOTUNE_MIN_ROUND_MS = 1;

export class Receiver {
  rcvNxt = 0;
  irs = 0;
  /** Bytes delivered to the owner and not yet consumed (reserved in the budget). */
  buffered = 0;
  /** The furthest right edge (RCV.NXT + window) we have advertised: what the peer may send up to. */
  advRight = 0;
  wscale = 0;
  readonly reasm: Reassembly;
  /** Bytes received in order since the last ACK we sent. */
  unackedBytes = 0;
  /** An ACK must go out in the next dispatch. */
  ackNow = false;
  /** Deadline of the delayed ACK, or Infinity. */
  ackAt = Infinity;
  /**
   * A duplicate segment to report in the next ACK's first SACK block (D-SACK, RFC 2883 §4): the
   * first one since the last ACK, once.
   */
  private dsackL = 0;
  private dsackR = 0;
  private dsack = false;
  /** Why the owed ACK is owed, when that is not plain "ack" (for the trace: config.ts SendReason). */
  private why: 'ack' | 'delayed-ack' | 'window-update' = 'ack';
  /** In-order data segments still to be ACKed at once (ConnectionConfig.quickAckSegments). */
  quickAcks = 0;

  /** The receive buffer in bytes: what unread data and the window may reach; grown by autotune(). */
  private size: number;
  /** How far autotune() may grow `size` (equal to it when SO_RCVBUF fixed it). */
  readonly maxSize: number;
  /** Bytes the owner consumed since the connection began (autotune's measure of the reader). */
  private consumedTotal = 0;
  /** When the current autotuning round began (ms), or -1 before the first in-order data. */
  private roundStart = -1;
  /** consumedTotal when the current round began. */
  private roundConsumed = 0;
  /** The most the owner consumed in one round so far. */
  private roundBest = 0;
  /** The round trip as our timestamps' echoes measure it (ms, smoothed), or -1 before a sample. */
  private tsRtt = -1;
  /** The last echoed TSval sampled: each one gives one sample. */
  private lastEcho = 0;
  /**
   * Without timestamps (onWindowArrival): the round trip as the time one window of data takes to
   * arrive, the smallest such time seen (ms), or -1 before the first; when the window being timed
   * was offered (ms, -1: none is timed) and the sequence number that ends it.
   */
  private seqRtt = -1;
  private seqMarkAt = -1;
  private seqMarkEnd = 0;

  /** After close(): nothing is reserved any more, later consumption gives nothing back. */
  private released = false;
  private _peerFin = false;

  /**
   * `bufSize`: the buffer to start with; `maxSize`: how far autotune() may grow it (default
   * `bufSize`: fixed, as SO_RCVBUF makes it).
   */
  constructor(
    bufSize: number,
    private readonly budget: RxBudget = unlimitedRxBudget(),
    maxOooSegments?: number,
    maxSize = bufSize,
  ) {
    this.size = bufSize;
    this.maxSize = Math.max(bufSize, maxSize);
    this.reasm = new Reassembly(maxOooSegments, budget);
  }

  /** The receive buffer now (bytes): the most the window offered and unread data may reach. */
  get bufSize(): number {
    return this.size;
  }

  /** The peer's FIN was processed (RCV.NXT covers it): nothing more will arrive. */
  get peerFin(): boolean {
    return this._peerFin;
  }

  /** The peer's FIN, in order (RFC 9293 §3.10.7.4 eighth step): RCV.NXT advances over it, ACK at once. */
  onFin(): void {
    this._peerFin = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
  }

  /** Would the layer-wide budget take `n` more unread bytes? */
  mayHold(n: number): boolean {
    return this.budget.mayHoldRcv(n);
  }

  /** `n` bytes were delivered to the owner: they count against the window and the budget. */
  hold(n: number): void {
    this.buffered += n;
    if (!this.released) this.budget.holdRcv(n);
  }

  /** The owner consumed `n` bytes. */
  consume(n: number): void {
    const k = Math.min(n, this.buffered);
    this.buffered -= k;
    this.consumedTotal += k;
    if (!this.released) this.budget.releaseRcv(k);
  }

  /**
   * A data segment carried a timestamp echo (RFC 7323 §3.2: the peer echoes the TSval of our
   * latest segment it took, an ACK of ours during a transfer); `sample` is our clock minus that echo
   * (Timestamps.rttSample, -1 for none). One sample per echoed value, smoothed as RFC 6298 §2.3
   * smooths SRTT (gain 1/8). An echo of a segment sent before an idle spell reads long, which
   * makes rounds longer for a while: growth can only come sooner, still bounded by maxSize.
   */
  onTimestampEcho(echo: number, sample: number): void {
    if (sample < 0 || echo === this.lastEcho) return;
    this.lastEcho = echo;
    this.tsRtt = this.tsRtt < 0 ? sample : this.tsRtt + (sample - this.tsRtt) / 8;
  }

  /**
   * In-order data arrived at `now` on a connection without timestamps: the round trip measured on
   * the sequence space, as Linux's receiver does (tcp_rcv_rtt_measure). The last byte of the window
   * offered when timing began cannot arrive sooner than a round trip after the ACK that offered it
   * (the peer learns of the edge from that ACK, and its data takes the way back), so the time until
   * RCV.NXT passes that edge is about a round trip (less by the time since that ACK) or more: more
   * when the sender did not fill the window, which is why the smallest such time is kept. Then the
   * next window is timed. Without it, the only round trip a receiving-only connection has is its
   * handshake's, stale once queues grow.
   */
  onWindowArrival(now: number): void {
    if (this.seqMarkAt >= 0 && !seqGt(this.seqMarkEnd, this.rcvNxt)) {
      const sample = now - this.seqMarkAt;
      if (this.seqRtt < 0 || sample < this.seqRtt) this.seqRtt = sample;
      this.seqMarkAt = -1;
    }
    if (this.seqMarkAt < 0 && this.window > 0) {
      this.seqMarkAt = now;
      this.seqMarkEnd = this.advRight;
    }
  }

  /**
   * The round trip autotune() measures over: timestamps' when sampled, else the sequence space's
   * (onWindowArrival), else the connection's.
   */
  roundTrip(connectionRtt: number): number {
    const r = this.tsRtt >= 0 ? this.tsRtt : this.seqRtt >= 0 ? this.seqRtt : connectionRtt;
    return r > AUTOTUNE_MIN_ROUND_MS ? r : AUTOTUNE_MIN_ROUND_MS;
  }

  /**
   * In-order data arrived at `now`: once a round trip (`rtt`, ms, at least AUTOTUNE_MIN_ROUND_MS)
   * has passed since the round began, look at what the owner consumed in it. When that is more
   * than in any round before, the buffer grows to twice it plus 16 segments (room for the round in
   * flight and for a sender still doubling its window), up to maxSize, if the layer-wide budget
   * could hold the increase. The window offered follows at the next segment (offer()).
   */
  autotune(now: number, rtt: number, mss: number): void {
    if (this.size >= this.maxSize) return;
    if (this.roundStart < 0) {
      this.roundStart = now;
      this.roundConsumed = this.consumedTotal;
      return;
    }
    if (now - this.roundStart < Math.max(rtt, AUTOTUNE_MIN_ROUND_MS)) return;
    const copied = this.consumedTotal - this.roundConsumed;
    this.roundStart = now;
    this.roundConsumed = this.consumedTotal;
    if (copied <= this.roundBest) return;
    this.roundBest = copied;
    const target = Math.min(this.maxSize, 2 * copied + 16 * mss);
    if (target > this.size && this.budget.mayHoldRcv(target - this.size)) this.size = target;
  }

  /** The connection is closed: give back everything reserved (idempotent). */
  close(): void {
    if (this.released) return;
    this.released = true;
    this.budget.releaseRcv(this.buffered);
    this.reasm.clear();
  }

  /** RCV.WND as used for the acceptability test: what we advertised, from RCV.NXT. */
  get window(): number {
    const w = seqSub(this.advRight, this.rcvNxt);
    return w > 0 ? w : 0;
  }

  get free(): number {
    const f = this.bufSize - this.buffered;
    return f > 0 ? f : 0;
  }

  /** The window we would offer now (bytes), applying SWS avoidance; does not commit it. */
  private offer(mss: number): number {
    const current = this.window;
    const free = this.free;
    const threshold = Math.min(this.bufSize >> 1, mss);
    if (free - current >= threshold) return free;
    return current;
  }

  /**
   * The 16-bit window field for an outgoing segment, committing the right edge it implies.
   * `syn`: the field is never scaled in a SYN or SYN-ACK (RFC 7323 §2.2).
   */
  windowField(mss: number, syn: boolean): number {
    if (syn) {
      const f = Math.min(this.free, 0xffff);
      this.advRight = seqAdd(this.rcvNxt, f);
      return f;
    }
    let w = this.offer(mss);
    const unit = 1 << this.wscale; // at most 2^14 (RFC 7323 §2.3)
    let field = Math.min(0xffff, Math.floor(w / unit));
    // Rounding down would move the right edge left (RFC 9293 §3.8.6: shrinking is strongly
    // discouraged): round up and keep what we promised, while the buffer holds the promise. Once
    // earlier round-ups promised more than it holds (window > free), round down: the edge retracts
    // by less than one unit of the scale, the retraction RFC 7323 Appendix F foresees (a sender
    // copes with it, RFC 1122 §4.2.2.16). Rounding up every time would move the edge right by up to
    // unit - 1 bytes per ACK while the reader reads nothing: segments smaller than that would never
    // close the window. So the promise exceeds the buffer by less than one unit.
    if (field * unit < this.window && this.window <= this.free) field = Math.min(0xffff, Math.ceil(this.window / unit));
    // The edge a peer may send up to is the furthest we ever offered: a field rounded down retracts
    // the edge by less than one unit, but what the peer sent (or will ACK from, its SND.NXT) within
    // the earlier edge stays acceptable (RFC 9293 §3.8.6, SHLD-14: the window should not shrink; RFC 7323
    // Appendix F). Taking the retracted edge as RCV.WND made a full window drop the peer's ACKs whose
    // SEG.SEQ lay past it: our send side then waited on ACKs it discarded, for tens of seconds.
    const edge = seqAdd(this.rcvNxt, field * unit);
    if (seqGt(edge, this.advRight)) this.advRight = edge;
    return field;
  }

  /** Would a window update be worth sending after the owner consumed data? (Linux: doubling.) */
  wantsWindowUpdate(mss: number): boolean {
    const current = this.window;
    const offered = this.offer(mss);
    return offered > current && offered >= 2 * current && offered - current >= Math.min(this.bufSize >> 1, mss);
  }

  /** In-order data arrived: decide between an immediate and a delayed ACK. */
  onInOrderData(now: number, len: number, mss: number): void {
    this.unackedBytes += len;
    if (this.quickAcks > 0) {
      this.quickAcks--;
      this.ackNow = true;
    } else if (this.unackedBytes >= 2 * mss) this.ackNow = true;
    else if (this.ackAt === Infinity) this.ackAt = now + DELAYED_ACK_MS;
  }

  /** The delayed-ACK timer expired: the ACK is owed now. */
  onAckTimer(): void {
    this.ackAt = Infinity;
    this.ackNow = true;
    this.why = 'delayed-ack';
  }

  /** The owner read enough to make a window update worth sending (RFC 9293 §3.8.6.2.2). */
  requestWindowUpdate(): void {
    this.ackNow = true;
    if (this.why === 'ack') this.why = 'window-update';
  }

  /** What the owed ACK is, for the trace. */
  get ackReason(): 'ack' | 'delayed-ack' | 'window-update' {
    return this.why;
  }

  /** Data [l, r) arrived again (below RCV.NXT, or already held out of order): report it once (RFC 2883). */
  noteDuplicate(l: number, r: number): void {
    if (this.dsack || l === r) return;
    this.dsack = true;
    this.dsackL = l;
    this.dsackR = r;
    this.ackNow = true;
  }

  /** The D-SACK block owed, if any (valid until the next ACK is sent). */
  get dsackBlock(): [number, number] | undefined {
    return this.dsack ? [this.dsackL, this.dsackR] : undefined;
  }

  /** An ACK (any segment carrying our current RCV.NXT) was sent. */
  onAckSent(): void {
    this.dsack = false;
    this.why = 'ack';
    this.unackedBytes = 0;
    this.ackNow = false;
    this.ackAt = Infinity;
  }
}
