/**
 * TIME-WAIT as a small record (RFC 9293 §3.10.7.4 TIME-WAIT state; the idea of Linux's timewait
 * sockets). A connection that enters TIME-WAIT has nothing left to send or deliver: its owner was
 * told it is closed, its buffers are empty. What the 2 MSL wait still needs is only what it takes to
 *
 *   - acknowledge a retransmitted FIN (our final ACK was lost) and restart the 2 MSL timeout,
 *   - answer other segments of the old incarnation with an ACK, ignore a RST (RFC 1337 §3, TW1),
 *   - tell a new SYN that may reopen the 4-tuple (RFC 1122 §4.2.2.13, RFC 6191) from an old duplicate.
 *
 * So the layer swaps the Connection (send buffer, receiver, scoreboard, the socket and HTTP objects
 * its callbacks reach) for a TimeWaitRecord of a few numbers, kept in its own 4-tuple map and in a
 * FIFO ordered by expiry: every record lives 2 MSL from its last restart, so a restarted record goes
 * to the back and the queue stays sorted without a heap. A cap bounds the records; when it is reached
 * the oldest is recycled first (Linux: tcp_max_tw_buckets, which drops the new one instead).
 */
import { ACK, FIN, RST, SYN } from '../wire/tcp.ts';
import { inWindow, seqAdd, seqGt, seqLt } from '../wire/seq.ts';
import { remoteKey } from './tuple.ts';

export class TimeWaitRecord {
  // 32-bit quantities are kept as signed int32 (`| 0`): V8 stores those inline (small integers)
  // instead of boxing each in a heap number, which is most of what makes a record small.
  private readonly remote: number;
  private readonly snd: number;
  private readonly rcv: number;
  private readonly tsRec: number;
  /** The next record with the same remote address and port (the table's chain, as in tuple.ts). */
  next: TimeWaitRecord | undefined = undefined;

  constructor(
    remoteAddr: number,
    readonly remotePort: number,
    readonly localPort: number,
    /** SND.NXT after our FIN: the sequence number of every ACK we still send. */
    sndNxt: number,
    /** RCV.NXT after the peer's FIN. */
    rcvNxt: number,
    /** The window field of our last segment, repeated in our ACKs. */
    readonly windowField: number,
    /** Our window scale (RFC 7323 §2.3): RCV.WND = windowField << rcvWscale. */
    readonly rcvWscale: number,
    /** RFC 7323 timestamps were negotiated: then TS.Recent (our clock offset is recomputed). */
    readonly tsOn: boolean,
    tsRecent: number,
    /** When 2 MSL run out (restarted by a retransmitted FIN). */
    public expiresAt: number,
  ) {
    this.remote = remoteAddr | 0;
    this.snd = sndNxt | 0;
    this.rcv = rcvNxt | 0;
    this.tsRec = tsRecent | 0;
  }

  get remoteAddr(): number {
    return this.remote >>> 0;
  }

  get sndNxt(): number {
    return this.snd >>> 0;
  }

  get rcvNxt(): number {
    return this.rcv >>> 0;
  }

  get tsRecent(): number {
    return this.tsRec >>> 0;
  }

  /** RCV.WND in bytes: the acceptability test's window. */
  get rcvWnd(): number {
    return this.windowField << this.rcvWscale;
  }
}

export class TimeWaitTable {
  /**
   * remoteKey -> the records of that remote endpoint, chained through `next` (one per local port):
   * the record is its own chain node, so a record costs no separate map entry object.
   */
  private readonly map = new Map<number, TimeWaitRecord>();
  private count = 0;
  /**
   * Queue entries in expiry order (oldest first): a record and the expiry it had when queued. An
   * entry is live while its record is still in the map with that same expiry; a deleted or restarted
   * record leaves a stale entry behind, skipped when it reaches the head.
   */
  private recs: (TimeWaitRecord | undefined)[] = [];
  private ats: number[] = [];
  private head = 0;
  /** Records recycled before their 2 MSL ran out because the cap was reached. */
  recycled = 0;

  /** `max`: the cap on records (at least 0). */
  constructor(readonly max: number) {}

  get size(): number {
    return this.count;
  }

  get(remoteAddr: number, remotePort: number, localPort: number): TimeWaitRecord | undefined {
    let r = this.map.get(remoteKey(remoteAddr, remotePort));
    while (r !== undefined && r.localPort !== localPort) r = r.next;
    return r;
  }

  /** Add a record (its tuple must not be present); at the cap, the oldest record makes room. */
  add(r: TimeWaitRecord): void {
    if (this.max <= 0) {
      this.recycled++;
      return;
    }
    while (this.count >= this.max && this.shiftLive() !== undefined) this.recycled++;
    const k = remoteKey(r.remoteAddr, r.remotePort);
    r.next = this.map.get(k);
    this.map.set(k, r);
    this.count++;
    this.enqueue(r);
  }

  /** A retransmitted FIN: the record lives 2 MSL from now, at the back of the queue. */
  restart(r: TimeWaitRecord, expiresAt: number): void {
    r.expiresAt = expiresAt;
    this.enqueue(r);
  }

  /** Remove the record if it is in the table. */
  delete(r: TimeWaitRecord): void {
    const k = remoteKey(r.remoteAddr, r.remotePort);
    let prev: TimeWaitRecord | undefined;
    let e = this.map.get(k);
    while (e !== undefined && e !== r) {
      prev = e;
      e = e.next;
    }
    if (e === undefined) return;
    if (prev !== undefined) prev.next = e.next;
    else if (e.next !== undefined) this.map.set(k, e.next);
    else this.map.delete(k);
    e.next = undefined;
    this.count--;
  }

  /** The earliest expiry, or Infinity. */
  nextExpiry(): number {
    return this.skipStale() ? this.ats[this.head]! : Infinity;
  }

  /** Remove and return a record whose 2 MSL are over, or undefined. */
  popExpired(now: number): TimeWaitRecord | undefined {
    if (!this.skipStale() || this.ats[this.head]! > now) return undefined;
    return this.shiftLive();
  }

  *values(): IterableIterator<TimeWaitRecord> {
    for (const head of this.map.values()) for (let r: TimeWaitRecord | undefined = head; r !== undefined; r = r.next) yield r;
  }

  private enqueue(r: TimeWaitRecord): void {
    this.recs.push(r);
    this.ats.push(r.expiresAt);
  }

  /** Remove the oldest live record from the queue and the map. */
  private shiftLive(): TimeWaitRecord | undefined {
    if (!this.skipStale()) return undefined;
    const r = this.recs[this.head]!;
    this.recs[this.head++] = undefined;
    this.delete(r);
    return r;
  }

  /** Advance the head past stale entries; true when a live entry is at the head. */
  private skipStale(): boolean {
    const recs = this.recs;
    while (this.head < recs.length) {
      const r = recs[this.head]!;
      if (r.expiresAt === this.ats[this.head] && this.get(r.remoteAddr, r.remotePort, r.localPort) === r) {
        if (this.head >= 4096 && this.head * 2 >= recs.length) {
          // Drop the consumed front so the arrays stay proportional to the records.
          this.recs = recs.slice(this.head);
          this.ats = this.ats.slice(this.head);
          this.head = 0;
        }
        return true;
      }
      recs[this.head++] = undefined;
    }
    // Empty: start over instead of growing forever.
    this.recs = [];
    this.ats = [];
    this.head = 0;
    return false;
  }
}

/** What a segment for a TIME-WAIT record calls for. */
export enum TimeWaitAction {
  /** Nothing to send. */
  None,
  /** Send the ACK again (seq SND.NXT, ack RCV.NXT). */
  Ack,
  /** A retransmitted FIN: ACK it and restart the 2 MSL timeout (RFC 9293 §3.10.7.4, TIME-WAIT). */
  AckRestart,
  /** A SYN that may reopen the tuple: drop the record and treat the SYN as new (to the listener). */
  Reopen,
  /** An old duplicate caught by PAWS (RFC 7323 §5.3): ACK it, count it. */
  PawsAck,
}

export interface TimeWaitSegment {
  readonly seq: number;
  readonly flags: number;
  readonly payloadLength: number;
  readonly tsValue: number | undefined;
}

/**
 * RFC 9293 §3.10.7.4 for a connection in TIME-WAIT, in the order the RFC checks: a RST is ignored
 * (RFC 1337 §3, TW1); a SYN without ACK reopens the tuple when its sequence number is beyond RCV.NXT
 * (RFC 1122 §4.2.2.13) or, with timestamps, its TSval is newer than TS.Recent (RFC 6191 §2), and a
 * listener wants it; PAWS (RFC 7323 §5.3); a retransmitted FIN is ACKed and restarts 2 MSL; any
 * other unacceptable segment, a SYN, or data is answered with an ACK; a bare acceptable ACK needs
 * nothing.
 */
export function timeWaitAction(r: TimeWaitRecord, s: TimeWaitSegment, listening: boolean): TimeWaitAction {
  const f = s.flags;
  if (f & RST) return TimeWaitAction.None;
  if ((f & (SYN | ACK | FIN)) === SYN && listening) {
    const newerSeq = seqGt(s.seq, r.rcvNxt);
    const newerTs = r.tsOn && s.tsValue !== undefined && seqGt(s.tsValue, r.tsRecent);
    if (newerSeq || newerTs) return TimeWaitAction.Reopen;
  }
  if (r.tsOn && s.tsValue !== undefined && seqLt(s.tsValue, r.tsRecent)) return TimeWaitAction.PawsAck;
  if (f & FIN) return TimeWaitAction.AckRestart;
  if (f & SYN) return TimeWaitAction.Ack;
  const segLen = s.payloadLength;
  // The acceptability test as for a live connection (connection.ts, step one).
  const acceptable =
    segLen === 0
      ? inWindow(s.seq, r.rcvNxt, r.rcvWnd + 1)
      : r.rcvWnd > 0 && (inWindow(s.seq, r.rcvNxt, r.rcvWnd) || inWindow(seqAdd(s.seq, segLen - 1), r.rcvNxt, r.rcvWnd));
  if (!acceptable) return TimeWaitAction.Ack;
  if (!(f & ACK)) return TimeWaitAction.None;
  return segLen > 0 ? TimeWaitAction.Ack : TimeWaitAction.None;
}
