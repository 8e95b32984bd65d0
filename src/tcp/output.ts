/**
 * Output and loss recovery for a connection (the second half of the TCB; event processing is in
 * connection.ts, which extends this class):
 *
 *   dispatch(now)         runs due timers, then emits what is due: RST, SYN/SYN-ACK, retransmissions,
 *                         new data and FIN (windows, Nagle, SWS), pure ACKs, probes
 *
 * Loss recovery: fast retransmit / NewReno (RFC 5681, 6582) without SACK; with SACK (RFC 2018) a
 * scoreboard and "pipe" as in RFC 6675, early retransmit for small flights (RFC 5827), the tail loss
 * probe (RFC 8985 §7), Eifel undo of spurious retransmits (RFC 3522), and go-back-N from SND.UNA
 * after a retransmission timeout.
 */
import { ACK, FIN, PSH, RST, SYN, type TcpSegmentInit } from '../wire/tcp.ts';
import type { TcpOptions } from '../wire/tcp-options.ts';
import { seqAdd, seqGe, seqGt, seqLt, seqMax, seqSub } from '../wire/seq.ts';
import { State } from './state.ts';
import { TS_OPTION_BYTES, Tcb } from './tcb.ts';

export abstract class TcbOutput extends Tcb {
  abstract pollAt(): number;
  protected abstract runTimers(now: number): void;

  protected tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /** Run due timers, then emit whatever is due through host.output (which serializes and sends). */
  dispatch(now: number): void {
    this.dirty = false;
    if (this.pollAt() <= now) this.runTimers(now);
    if (this.rstPending) {
      this.rstPending = false;
      // RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>
      this.emitSegment(now, this.sndMax, RST | ACK, undefined, false);
      this.host.counters.resetsSent++;
      return;
    }
    const s = this.stateValue;
    if (s === State.CLOSED) return;

    if (this.needSyn) {
      this.needSyn = false;
      this.sendSyn(now);
      return;
    }
    if (s === State.SYN_SENT || s === State.SYN_RECEIVED) {
      // Data written before the handshake waits; only ACKs here (challenge / duplicate).
      if (this.rcv.ackNow && s === State.SYN_RECEIVED) this.emitSegment(now, this.sndNxt, ACK, undefined, false);
      return;
    }
    let sentSomething = false;
    if (this.rcv.ackNow && this.sackPermitted && !this.rcv.reasm.isEmpty) {
      // An ACK reporting out-of-order data goes alone, so that its SACK blocks fit (a full-size data
      // segment has no room for them) and the peer counts it as a duplicate ACK (RFC 5681 §4.2).
      this.emitSegment(now, this.sndMax, ACK, undefined, false);
    }
    if (this.retransmitHead) {
      this.retransmitHead = false;
      if (this.sndUna !== this.sndMax) {
        this.startRetransmitRound();
        this.sendRange(now, this.sndUna, true);
        this.rtoAt = now + this.rtt.rto;
        sentSomething = true;
        if (this.cc.sackRecovery) this.highRxt = seqMax(this.highRxt, seqAdd(this.sndUna, this.sndMss));
      }
    }
    if (this.cc.sackRecovery && s !== State.TIME_WAIT) sentSomething = this.sendSackHoles(now) || sentSomething;
    if (sentSomething && this.cc.inRecovery) this.armTlp(now);
    if (this.tlpNow) {
      this.tlpNow = false;
      if (this.sendTailLossProbe(now)) sentSomething = true;
    }
    if (s !== State.TIME_WAIT && s !== State.FIN_WAIT_2) sentSomething = this.sendData(now) || sentSomething;
    if (this.keepAliveProbeNow) {
      this.keepAliveProbeNow = false;
      this.emitSegment(now, seqAdd(this.sndUna, -1), ACK, undefined, false);
      sentSomething = true;
    }
    // A pure ACK carries SND.MAX, not a pulled-back SND.NXT (as 4.4BSD tcp_output): after a go-back-N
    // the peer may have received beyond SND.NXT, and would find an older sequence number unacceptable.
    if (!sentSomething && this.rcv.ackNow) this.emitSegment(now, this.sndMax, ACK, undefined, false);
  }

  protected sendSyn(now: number): void {
    const s = this.stateValue;
    const opts: { mss: number; windowScale?: number; sackPermitted?: boolean; timestamp?: { value: number; echo: number } } = {
      mss: this.rcvMss,
    };
    if (this.offerWscale >= 0) opts.windowScale = this.offerWscale;
    if (this.host.cfg.sack && (s === State.SYN_SENT || this.sackPermitted)) opts.sackPermitted = true;
    const passive = s === State.SYN_RECEIVED;
    if (this.host.cfg.timestamps && (!passive || this.tsOn)) opts.timestamp = { value: this.tsNow(now), echo: passive ? this.tsRecent : 0 };
    const flags = passive ? SYN | ACK : SYN;
    if (seqGt(this.sndMax, this.iss)) {
      this.retransmits++;
      this.host.counters.retransmits++;
    }
    const seg: TcpSegmentInit = {
      srcPort: this.localPort,
      dstPort: this.remotePort,
      seq: this.iss,
      ack: passive ? this.rcv.rcvNxt : 0,
      flags,
      window: this.rcv.windowField(this.rcvMss, true),
      options: opts,
    };
    if (passive) {
      this.lastAckSent = this.rcv.rcvNxt;
      this.rcv.onAckSent();
    }
    this.segmentsOut++;
    this.host.output(this, seg);
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = seqMax(this.sndMax, this.sndNxt);
    this.rtoAt = now + this.rtt.rto;
  }

  /** Send new (or go-back-N re-sent) data and the FIN as the windows, Nagle and SWS allow. */
  protected sendData(now: number): boolean {
    let sent = false;
    const mss = this.sndMss;
    const burst = this.superSegmentBytes();
    for (;;) {
      const off = seqSub(this.sndNxt, this.sndBase);
      const unsent = this.snd.size - off;
      const inflight = seqSub(this.sndNxt, this.sndUna);
      if (unsent <= 0) {
        // The FIN goes once all data is out (it needs no window); also after a go-back-N.
        if (this.finQueued && this.sndNxt === this.finSeq) {
          this.sendRange(now, this.sndNxt, false, 0);
          sent = true;
        }
        this.probeNow = false;
        break;
      }
      const limitedTransmit = !this.cc.inRecovery && this.cc.dupAcks > 0 && this.cc.dupAcks < 3 ? this.cc.dupAcks * mss : 0;
      const inPipe = this.cc.sackRecovery ? this.pipe() : inflight;
      const usable = Math.min(this.sndWnd - inflight, this.cc.cwnd + limitedTransmit - inPipe);
      if (this.probeNow) {
        this.probeNow = false;
        sent = true;
        if (usable <= 0) {
          // Persist timer expired with the window closed (RFC 9293 §3.8.6.1; RFC 1122 §4.2.2.17).
          // Like Linux (tcp_xmit_probe_skb), the probe carries an old sequence number (SND.UNA - 1)
          // and no data: the peer must answer it with an ACK stating its window, and no sequence
          // space is used, so SND.MAX never runs ahead of what the peer could accept (with a byte
          // beyond the window, our later ACKs would carry a sequence number the peer finds
          // unacceptable while its window stays closed).
          this.emitSegment(now, seqAdd(this.sndUna, -1), ACK, undefined, false);
          this.armPersist(now);
          break;
        }
        // SWS override (RFC 9293 §3.8.6.2.1): send what the small window allows.
        this.sendRange(now, this.sndNxt, false, Math.min(usable, unsent, mss));
        break;
      }
      let len = usable <= 0 ? 0 : Math.min(unsent, burst, usable);
      // A super-segment (TSO) is cut into MSS pieces below us: it carries whole MSS pieces only,
      // except at the end of the queued data, so that what reaches the wire is what sending one MSS
      // at a time would have sent (the window-limited remainder is left to the SWS rule below).
      // The same at the end of the queued data when Nagle would hold a short last piece (once the
      // whole pieces before it are out, data is unacknowledged): it waits, as it would without TSO.
      if (len > mss && (len < unsent || (!this.noDelay && !this.finQueued))) len -= len % mss;
      if (len > 0 && len < mss) {
        // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a window-limited piece only if it is at least
        // half the largest window the peer offered. Nagle (RFC 1122 §4.2.3.4): hold a small last piece
        // while data is unacknowledged, unless setNoDelay or a FIN goes with it.
        const all = len === unsent;
        if (!all && len < this.maxSndWnd >> 1) len = 0;
        else if (all && !this.noDelay && inflight > 0 && !this.finQueued) break;
      }
      if (len === 0) {
        if (inflight === 0 && this.persistAt === Infinity && this.rtoAt === Infinity) this.armPersist(now);
        break;
      }
      this.sendRange(now, this.sndNxt, false, len);
      sent = true;
    }
    return sent;
  }

  /** The persist timer: RTO with exponential backoff, at most maxRtoMs (RFC 9293 §3.8.6.1). */
  protected armPersist(now: number): void {
    this.persistAt = now + Math.min(this.host.cfg.maxRtoMs, this.rtt.rto * 2 ** this.persistBackoff);
  }

  /**
   * The most data one segment handed to the device may carry: one MSS, or with segmentation offload
   * (TSO, see link/device.ts) as many whole MSS as fit in the device's largest super-segment with
   * the IPv4 and TCP headers (and timestamps) in front: 45 x 1448 = 65160 bytes on a 1500-byte link.
   */
  protected superSegmentBytes(): number {
    const mss = this.sndMss;
    const max = this.host.tsoMaxSize - 40 - (this.tsOn ? TS_OPTION_BYTES : 0);
    return max >= 2 * mss ? max - (max % mss) : mss;
  }

  /**
   * RFC 6675 §5 (NextSeg rule 1, simplified): data in flight ("pipe") is what was sent, minus what
   * the receiver SACKed, minus the holes presumed lost that were not retransmitted yet.
   */
  protected pipe(): number {
    const from = seqMax(this.highRxt, this.sndUna);
    return seqSub(this.sndMax, this.sndUna) - this.sb.bytes - this.sb.holeBytesAbove(from);
  }

  /**
   * RFC 5827 early retransmit: with fewer than 4 segments outstanding and nothing new to send, the
   * duplicate-ACK threshold drops to (outstanding segments - 1), so a small flight can recover.
   */
  protected dupThresh(): number {
    const outSegs = Math.ceil(seqSub(this.sndMax, this.sndUna) / this.sndMss);
    const unsent = this.snd.size - seqSub(this.sndMax, this.sndBase);
    if (outSegs < 4 && (unsent <= 0 || seqSub(this.sndMax, this.sndUna) >= Math.min(this.sndWnd, this.cc.cwnd))) {
      return Math.max(1, outSegs - 1);
    }
    return this.reorderThresh;
  }

  /**
   * RFC 8985 §7.2: arm the tail loss probe at PTO = 2 * SRTT (+ the worst-case delayed ACK, 200 ms,
   * when a single segment is in flight), capped at the RTO. Only with SACK, which is what lets the
   * probe's ACK reveal the loss. During recovery the same timer stands in for RACK's reordering
   * timer (RFC 8985 §6, much simplified): if nothing moves for 2 * SRTT after a retransmission,
   * the retransmission at SND.UNA is presumed lost and sent again instead of waiting for the RTO.
   */
  protected armTlp(now: number): void {
    if (this.tlpOutstanding || !this.sackPermitted || this.sndUna === this.sndMax || this.rtt.srtt === undefined) {
      this.tlpAt = Infinity;
      return;
    }
    let pto = Math.max(2 * this.rtt.srtt, 10);
    if (seqSub(this.sndMax, this.sndUna) <= this.sndMss) pto += 200;
    // PTO = min(PTO, RTO) (RFC 8985 §7.2).
    const at = now + pto;
    this.tlpAt = at < this.rtoAt ? at : this.rtoAt;
  }

  /**
   * RFC 8985 §7.3: send one new segment if the receive window allows, else retransmit the last
   * segment sent. Either way the ACK it draws (with SACK blocks) can start fast recovery.
   */
  protected sendTailLossProbe(now: number): boolean {
    this.tlpOutstanding = true;
    this.tlpAt = Infinity;
    if (this.cc.inRecovery) {
      this.sendRange(now, this.sndUna, true);
      if (this.cc.sackRecovery) this.highRxt = seqMax(this.highRxt, seqAdd(this.sndUna, this.sndMss));
      this.startRetransmitRound();
      this.rtoAt = now + this.rtt.rto;
      this.armTlp(now);
      return true;
    }
    const unsent = this.snd.size - seqSub(this.sndNxt, this.sndBase);
    if (unsent > 0 && this.sndWnd - seqSub(this.sndNxt, this.sndUna) >= Math.min(unsent, this.sndMss)) {
      this.sendRange(now, this.sndNxt, false, Math.min(unsent, this.sndMss));
      return true;
    }
    const dataEnd = this.finQueued && seqGt(this.sndMax, this.finSeq) ? this.finSeq : this.sndMax;
    const start = seqSub(dataEnd, this.sndUna) > this.sndMss ? seqAdd(dataEnd, -this.sndMss) : this.sndUna;
    this.sendRange(now, start, true, seqSub(dataEnd, start));
    this.rtoAt = now + this.rtt.rto;
    return true;
  }

  /**
   * Eifel detection (RFC 3522 §3.2): the first ACK for the fast-retransmitted segment echoes a
   * timestamp older than the retransmission's, so the original arrived (it was reordered, not lost).
   * Response (in the spirit of RFC 4015): restore cwnd and ssthresh, leave recovery, and raise the
   * duplicate-ACK threshold so that this much reordering no longer looks like loss (as Linux adapts
   * its reordering metric).
   */
  protected eifelCheck(ack: number, ts: { value: number; echo: number } | undefined): void {
    const undoTsval = this.undoTsval;
    this.undoTsval = -1;
    if (ts === undefined || ts.echo === 0 || seqGe(ts.echo, undoTsval)) return;
    this.cc.cwnd = Math.max(this.cc.cwnd, this.undoCwnd);
    this.cc.ssthresh = Math.max(this.cc.ssthresh, this.undoSsthresh);
    this.cc.inRecovery = false;
    this.cc.sackRecovery = false;
    this.cc.recover = ack;
    this.reorderThresh = Math.min(this.reorderThresh + 1, 6);
    this.host.counters.spuriousRetransmits++;
  }

  protected startRetransmitRound(): void {
    this.dupsSinceRetransmit = 0;
    this.retransmitDupBudget = Math.ceil(seqSub(this.sndMax, this.sndUna) / this.sndMss) + 1;
  }

  /** During SACK recovery, retransmit presumed-lost holes while cwnd - pipe >= 1 SMSS. */
  protected sendSackHoles(now: number): boolean {
    let sent = false;
    for (let guard = 0; guard < 1000; guard++) {
      if (this.cc.cwnd - this.pipe() < this.sndMss) break;
      const hole = this.sb.nextLostHole(seqMax(this.highRxt, this.sndUna), this.sndMss);
      if (hole === undefined) break;
      this.sendRange(now, hole[0], true, hole[1]);
      this.highRxt = seqAdd(hole[0], hole[1]);
      sent = true;
    }
    return sent;
  }

  /**
   * Emit one segment starting at `seq`: up to `maxLen` data bytes (default MSS), with FIN when it
   * reaches the end of the queued data after shutdown(). `head`: a retransmission at SND.UNA that
   * does not move SND.NXT (fast retransmit, partial ACK).
   */
  protected sendRange(now: number, seq: number, head: boolean, maxLen = this.sndMss): void {
    const off = seqSub(seq, this.sndBase);
    const avail = Math.max(0, this.snd.size - Math.max(0, off));
    const len = Math.min(maxLen, avail);
    const end = seqAdd(seq, len);
    let flags = ACK;
    if (len > 0 && off + len === this.snd.size) flags |= PSH;
    if (this.finQueued && end === this.finSeq) flags |= FIN;
    const payload = len > 0 ? this.snd.read(off, len) : undefined;
    const isRetransmit = seqLt(seq, this.sndMax);
    if (isRetransmit) {
      this.retransmits++;
      this.host.counters.retransmits++;
    }
    this.emitSegment(now, seq, flags, payload, false);
    const segEnd = seqAdd(end, flags & FIN ? 1 : 0);
    if (!head) {
      if (!isRetransmit && this.rttStart < 0 && !this.tsOn) {
        this.rttStart = now;
        this.rttSeq = seq;
      }
      this.sndNxt = segEnd;
      if (seqGt(segEnd, this.sndMax)) this.sndMax = segEnd;
    }
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rtt.rto;
    if (!head && !isRetransmit) this.armTlp(now);
    if (flags & FIN) {
      if (this.stateValue === State.ESTABLISHED) this.setState(State.FIN_WAIT_1);
      else if (this.stateValue === State.CLOSE_WAIT) this.setState(State.LAST_ACK);
    }
  }

  protected emitSegment(now: number, seq: number, flags: number, payload: Uint8Array | undefined, syn: boolean): void {
    let options: TcpOptions | undefined;
    if (this.tsOn) options = { timestamp: { value: this.tsNow(now), echo: this.tsRecent } };
    if (this.sackPermitted && !this.rcv.reasm.isEmpty && (flags & RST) === 0) {
      // RFC 2018 §4: report what we hold beyond RCV.NXT, as far as the option space (40 bytes, 12 of
      // them timestamps) and the peer's MSS allow: options and data together must fit in it
      // (RFC 6691 §2). sndMss is already the MSS less the timestamps.
      const room = this.sndMss - (payload === undefined ? 0 : payload.length);
      const max = Math.min(this.tsOn ? 3 : 4, Math.floor((room - 4) / 8));
      if (max > 0) {
        const sack = this.rcv.reasm.blocks(max);
        options = options === undefined ? { sack } : { timestamp: options.timestamp!, sack };
      }
    }
    const seg: TcpSegmentInit = {
      srcPort: this.localPort,
      dstPort: this.remotePort,
      seq,
      ack: this.rcv.rcvNxt,
      flags,
      window: flags & RST ? 0 : this.rcv.windowField(this.rcvMss, syn),
      options,
      payload,
    };
    this.lastAckSent = this.rcv.rcvNxt;
    this.rcv.onAckSent();
    this.segmentsOut++;
    this.host.output(this, seg);
  }
}
