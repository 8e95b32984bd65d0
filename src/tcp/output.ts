/**
 * What a connection sends, and why (RFC 9293 §3.10 SEND, §3.8.6 window management, RFC 5681/6675
 * retransmission, RFC 8985 §7 probes). One dispatch emits, in this order, what is due:
 *
 *   RST (ABORT, a FIN-WAIT-2 timeout)  ->  SYN or SYN-ACK  ->  an ACK carrying SACK blocks
 *   ->  the retransmission at SND.UNA (fast retransmit, partial ACK, lost retransmission)
 *   ->  the holes loss recovery presumes lost  ->  a tail loss probe
 *   ->  new data and the FIN, as the windows, Nagle and SWS avoidance allow (or a window probe)
 *   ->  a keep-alive probe  ->  a pure ACK if one is owed and nothing else carried it
 *
 * Every segment goes to the layer (ConnectionHost.output) with its reason (config.ts SendReason).
 * Output reads the connection's owners and changes them only through their methods; the order in
 * which it emits is in docs/architecture.md, "Per dispatch".
 */
import type { TcpOptions, TcpTimestamp } from '../wire/tcp-options.ts';
import { ACK, FIN, PSH, RST, SYN, type TcpSegmentInit } from '../wire/tcp.ts';
import { seqAdd, seqGt, seqLt, seqSub } from '../wire/seq.ts';
import { TS_OPTION_BYTES, type SendReason } from './config.ts';
import type { Connection } from './connection.ts';
import type { Retransmit } from './recovery.ts';
import { State } from './state.ts';

type Writable<T> = { -readonly [K in keyof T]: T[K] };

// What emit() sends, filled in place for each segment: TcpLayer.output serializes it at once and keeps
// no reference (nor do its onSegmentSent listeners), so one object of each serves every segment of
// every connection instead of three new ones per packet. SACK blocks (rare) still get their own.
const SEGMENT: Writable<TcpSegmentInit> = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, options: undefined, payload: undefined };
const TIMESTAMP: Writable<TcpTimestamp> = { value: 0, echo: 0 };
const TIMESTAMP_ONLY: TcpOptions = Object.freeze({ timestamp: TIMESTAMP });

export class Output implements Retransmit {
  private now = 0;

  constructor(private readonly c: Connection) {}

  /** Retransmit (recovery.ts): where loss recovery's retransmissions go. */
  retransmit(seq: number, len: number, reason: SendReason): void {
    this.sendRange(this.now, seq, true, len, reason);
    // The segment at SND.UNA resent: the retransmission timer starts over (as for the fast
    // retransmit of recovery without SACK below; RFC 6298 §5.3 restarts it on new ACKs only).
    if (seq === this.c.snd.una) this.c.snd.rtoAt = this.now + this.c.rtt.rto;
  }

  /** Emit whatever is due now (the timers have run). */
  send(now: number): void {
    const c = this.c;
    const snd = c.snd;
    const rcv = c.rcv;
    this.now = now;
    if (c.takeRstDue()) {
      // RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>
      this.emit(now, snd.max, RST | ACK, undefined, 'rst');
      c.host.counters.resetsSent++;
      return;
    }
    const s = c.stateValue;
    if (s === State.CLOSED) return;
    if (c.takeSynDue()) {
      this.sendSyn(now);
      return;
    }
    if (s === State.SYN_SENT || s === State.SYN_RECEIVED) {
      // Data written before the handshake waits; only ACKs here (challenge / duplicate).
      if (rcv.ackNow && s === State.SYN_RECEIVED) this.emit(now, snd.nxt, ACK, undefined, 'ack');
      return;
    }
    let sentSomething = false;
    if (rcv.ackNow && c.sackOk && (!rcv.reasm.isEmpty || rcv.dsackBlock !== undefined)) {
      // An ACK reporting out-of-order data goes alone, so that its SACK blocks fit (a full-size data
      // segment has no room for them) and the peer counts it as a duplicate ACK (RFC 5681 §4.2).
      this.emit(now, snd.max, ACK, undefined, 'dup-ack');
    }
    const rec = c.recovery;
    if (rec.takeRetransmitHead() && !snd.idle) {
      rec.onHeadRetransmitted();
      this.sendRange(now, snd.una, true, snd.mss, 'fast-retransmit');
      snd.rtoAt = now + c.rtt.rto;
      sentSomething = true;
    }
    if (s !== State.TIME_WAIT && rec.retransmitLost(this)) sentSomething = true;
    if (sentSomething && rec.inRecovery) c.armTlp(now);
    if (c.tlp.take()) {
      this.sendTailLossProbe(now);
      sentSomething = true;
    }
    if (s !== State.TIME_WAIT && s !== State.FIN_WAIT_2) sentSomething = this.sendData(now) || sentSomething;
    if (c.keepAlive.takeProbe()) {
      // RFC 1122 §4.2.3.6: an old sequence number (SND.UNA - 1, as Linux) and no data elicits an ACK
      // from a live peer.
      this.emit(now, seqAdd(snd.una, -1), ACK, undefined, 'keepalive');
      sentSomething = true;
    }
    // A pure ACK carries SND.MAX, not a pulled-back SND.NXT (as 4.4BSD tcp_output): after a go-back-N
    // the peer may have received beyond SND.NXT, and would find an older sequence number unacceptable.
    if (!sentSomething && rcv.ackNow) this.emit(now, snd.max, ACK, undefined, rcv.ackReason);
    // RFC 6298 §5.1: the retransmission timer runs whenever data is outstanding.
    if (snd.rtoAt === Infinity && !snd.idle && s !== State.TIME_WAIT) snd.rtoAt = now + c.rtt.rto;
  }

  private sendSyn(now: number): void {
    const c = this.c;
    const snd = c.snd;
    const s = c.stateValue;
    const cfg = c.host.cfg;
    const passive = s === State.SYN_RECEIVED;
    // Every SYN's options in one shape, the absent ones undefined: an object grown option by option
    // would have hidden classes that die with it, and take the option writer's compiled code along
    // (docs/architecture.md, "Compiled code across idle periods").
    const opts: TcpOptions = {
      mss: c.rcvMss,
      windowScale: c.offeredWscale >= 0 ? c.offeredWscale : undefined,
      sackPermitted: cfg.sack && (s === State.SYN_SENT || c.sackOk) ? true : undefined,
      timestamp: cfg.timestamps && (!passive || c.ts.on) ? { value: c.ts.now(now), echo: passive ? c.ts.recent : 0 } : undefined,
    };
    if (seqGt(snd.max, snd.iss)) {
      c.retransmits++;
      c.host.counters.retransmits++;
    }
    const seg: TcpSegmentInit = {
      srcPort: c.localPort,
      dstPort: c.remotePort,
      seq: snd.iss,
      ack: passive ? c.rcv.rcvNxt : undefined, // our first SYN has no ACK (RFC 9293 §3.5)
      flags: passive ? SYN | ACK : SYN,
      window: c.rcv.windowField(c.rcvMss, true),
      options: opts,
    };
    if (passive) {
      c.ts.onAckSent(c.rcv.rcvNxt);
      c.rcv.onAckSent();
    }
    c.segmentsOut++;
    c.host.output(c, seg, passive ? 'syn-ack' : 'syn');
    snd.synOut();
    snd.rtoAt = now + c.rtt.rto;
  }

  /** Send new (or go-back-N re-sent) data and the FIN as the windows, Nagle and SWS allow. */
  private sendData(now: number): boolean {
    const c = this.c;
    const snd = c.snd;
    const rec = c.recovery;
    let sent = false;
    const mss = snd.mss;
    const burst = this.superSegmentBytes();
    for (;;) {
      const unsent = snd.unsent;
      const inflight = snd.inflight;
      if (unsent <= 0) {
        // The FIN goes once all data is out (it needs no window); also after a go-back-N.
        if (snd.finQueued && snd.nxt === snd.finSeq) {
          this.sendRange(now, snd.nxt, false, 0, seqLt(snd.nxt, snd.max) ? 'rto-retransmit' : 'fin');
          sent = true;
        }
        snd.probeNow = false;
        break;
      }
      const usable = Math.min(snd.wnd - inflight, rec.window() + rec.limitedTransmit() - rec.inPipe());
      if (snd.probeNow) {
        snd.probeNow = false;
        sent = true;
        if (usable <= 0) {
          // Persist timer expired with the window closed (RFC 9293 §3.8.6.1; RFC 1122 §4.2.2.17).
          // Like Linux (tcp_xmit_probe_skb), the probe carries an old sequence number (SND.UNA - 1)
          // and no data: the peer must answer it with an ACK stating its window, and no sequence
          // space is used, so SND.MAX never runs ahead of what the peer could accept (with a byte
          // beyond the window, our later ACKs would carry a sequence number the peer finds
          // unacceptable while its window stays closed).
          this.emit(now, seqAdd(snd.una, -1), ACK, undefined, 'window-probe');
          this.armPersist(now);
          break;
        }
        // SWS override (RFC 9293 §3.8.6.2.1): send what the small window allows.
        this.sendRange(now, snd.nxt, false, Math.min(usable, unsent, mss), 'window-probe');
        break;
      }
      let len = usable <= 0 ? 0 : Math.min(unsent, burst, usable);
      // A super-segment (TSO) is cut into MSS pieces below us: it carries whole MSS pieces only,
      // except at the end of the queued data, so that what reaches the wire is what sending one MSS
      // at a time would have sent (the window-limited remainder is left to the SWS rule below).
      // The same at the end of the queued data when Nagle would hold a short last piece (once the
      // whole pieces before it are out, data is unacknowledged): it waits, as it would without TSO.
      if (len > mss && (len < unsent || (!snd.noDelay && !snd.finQueued))) len -= len % mss;
      if (len > 0 && len < mss) {
        // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a window-limited piece only if it is at least
        // half the largest window the peer offered. Nagle (RFC 1122 §4.2.3.4): hold a small last piece
        // while data is unacknowledged, unless setNoDelay or a FIN goes with it.
        // Data sent before (go-back-N re-sending it) is not held back: it was due long ago.
        const all = len === unsent;
        if (!all && len < snd.maxWnd >> 1) len = 0;
        else if (all && !snd.noDelay && inflight > 0 && !snd.finQueued && !seqLt(snd.nxt, snd.max)) break;
      }
      if (len === 0) {
        if (inflight === 0 && snd.persistAt === Infinity && snd.rtoAt === Infinity) this.armPersist(now);
        break;
      }
      // Re-sent after a timeout (go-back-N) until SND.NXT reaches SND.MAX again.
      this.sendRange(now, snd.nxt, false, len, seqLt(snd.nxt, snd.max) ? 'rto-retransmit' : 'data');
      sent = true;
    }
    return sent;
  }

  /** The persist timer: RTO with exponential backoff, at most maxRtoMs (RFC 9293 §3.8.6.1). */
  private armPersist(now: number): void {
    const c = this.c;
    c.snd.persistAt = now + Math.min(c.host.cfg.maxRtoMs, c.rtt.rto * 2 ** c.snd.persistBackoff);
  }

  /**
   * The most data one segment handed to the device may carry: one MSS, or with segmentation offload
   * (TSO, see link/device.ts) as many whole MSS as fit in the device's largest super-segment with
   * the IPv4 and TCP headers (and timestamps) in front: 45 x 1448 = 65160 bytes on a 1500-byte link.
   */
  private superSegmentBytes(): number {
    const c = this.c;
    const mss = c.snd.mss;
    const max = c.host.tsoMaxSize - 40 - (c.ts.on ? TS_OPTION_BYTES : 0);
    return max >= 2 * mss ? max - (max % mss) : mss;
  }

  /**
   * RFC 8985 §7.3: new data if the receive window allows, else the last segment sent again. Either
   * way the ACK it draws (with SACK blocks) can start fast recovery.
   *
   * The new data is two segments where there are two (RFC 8985 §7.3 sends one): the probe often
   * follows a flight that all arrived but whose one ACK was lost, and a receiver may hold its ACK
   * of a single in-order segment (RFC 5681 §4.2 allows up to 500 ms; Linux waits 40 ms), while it
   * acknowledges every second full-sized segment at once. With one segment, each lost last ACK of
   * a flight cost PTO + 40 ms against a Linux receiver (seeded runs of bench:loss, corrupt=1%: two
   * such stalls per 8 MiB download); QUIC's probe timeout likewise sends up to two packets
   * (RFC 9002 §6.2.4).
   */
  private sendTailLossProbe(now: number): void {
    const c = this.c;
    const snd = c.snd;
    const rec = c.recovery;
    const unsent = snd.unsent;
    const room = snd.wnd - snd.inflight;
    if (unsent > 0 && room >= Math.min(unsent, snd.mss)) {
      const first = Math.min(unsent, snd.mss);
      this.sendRange(now, snd.nxt, false, first, 'tlp');
      const second = Math.min(unsent - first, snd.mss);
      if (second > 0 && room - first >= second) this.sendRange(now, snd.nxt, false, second, 'tlp');
      rec.onProbeSent(snd.max, false);
      return;
    }
    const last = rec.probeSegment();
    if (last !== undefined) this.sendRange(now, last[0], true, last[1], 'tlp');
    else {
      const dataEnd = snd.dataEnd;
      const start = seqSub(dataEnd, snd.una) > snd.mss ? seqAdd(dataEnd, -snd.mss) : snd.una;
      this.sendRange(now, start, true, seqSub(dataEnd, start), 'tlp');
    }
    rec.onProbeSent(snd.max, true);
    snd.rtoAt = now + c.rtt.rto;
  }

  /**
   * Emit one segment starting at `seq`: up to `maxLen` data bytes, with FIN when it reaches the end
   * of the queued data after shutdown(). `head`: a retransmission that does not move SND.NXT (fast
   * retransmit, partial ACK, a SACK hole, a probe).
   */
  private sendRange(now: number, seq: number, head: boolean, maxLen: number, reason: SendReason): void {
    const c = this.c;
    const snd = c.snd;
    const len = Math.min(maxLen, snd.availableFrom(seq));
    const end = seqAdd(seq, len);
    let flags = ACK;
    if (len > 0 && snd.endsBuffer(seq, len)) flags |= PSH;
    if (snd.finQueued && end === snd.finSeq) flags |= FIN;
    const payload = len > 0 ? snd.read(seq, len) : undefined;
    const isRetransmit = seqLt(seq, snd.max);
    if (isRetransmit) {
      c.retransmits++;
      c.host.counters.retransmits++;
    }
    this.emit(now, seq, flags, payload, reason);
    const segEnd = seqAdd(end, flags & FIN ? 1 : 0);
    snd.onSent(now, seq, segEnd, head, !c.ts.on);
    c.recovery.onSent(now, seq, segEnd, isRetransmit);
    if (snd.rtoAt === Infinity) snd.rtoAt = now + c.rtt.rto;
    if (!head && !isRetransmit) c.armTlp(now);
    if (flags & FIN) c.onFinSent();
  }

  private emit(now: number, seq: number, flags: number, payload: Uint8Array | undefined, reason: SendReason): void {
    const c = this.c;
    const rcv = c.rcv;
    let options: TcpOptions | undefined;
    if (c.ts.on) {
      TIMESTAMP.value = c.ts.now(now);
      TIMESTAMP.echo = c.ts.recent;
      options = TIMESTAMP_ONLY;
    }
    const dsack = rcv.dsackBlock;
    if (c.sackOk && (!rcv.reasm.isEmpty || dsack !== undefined) && (flags & RST) === 0) {
      // RFC 2018 §4: report what we hold beyond RCV.NXT, as far as the option space (40 bytes, 12 of
      // them timestamps) and the peer's MSS allow: options and data together must fit in it
      // (RFC 6691 §2). The send MSS is already the MSS less the timestamps. A D-SACK block (RFC 2883
      // §4) goes first, once.
      const room = c.snd.mss - (payload === undefined ? 0 : payload.length);
      const max = Math.min(c.ts.on ? 3 : 4, Math.floor((room - 4) / 8));
      if (max > 0) {
        let sack = rcv.reasm.isEmpty ? [] : rcv.reasm.blocks(dsack !== undefined ? max - 1 : max);
        if (dsack !== undefined) {
          sack = [dsack, ...sack];
          c.host.counters.dsacksSent++;
        }
        options = options === undefined ? { sack } : { timestamp: { value: TIMESTAMP.value, echo: TIMESTAMP.echo }, sack };
      }
    }
    const seg = SEGMENT;
    seg.srcPort = c.localPort;
    seg.dstPort = c.remotePort;
    seg.seq = seq;
    seg.ack = rcv.rcvNxt; // synchronized: every segment carries ACK (RFC 9293 §3.4), `flags` say so too
    seg.flags = flags;
    seg.window = flags & RST ? 0 : rcv.windowField(c.rcvMss, false);
    seg.options = options;
    seg.payload = payload;
    c.ts.onAckSent(rcv.rcvNxt);
    rcv.onAckSent();
    c.segmentsOut++;
    c.host.output(c, seg, reason);
    seg.payload = undefined; // not pinning the send buffer's chunk
  }
}
