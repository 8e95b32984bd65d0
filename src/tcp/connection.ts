/**
 * A connection: the TCB's event processing (RFC 9293 §3.10). No I/O (docs/design.md rule 4):
 *
 *   process(now, seg)    a parsed segment for this 4-tuple, handled in the order of §3.10.7.3/§3.10.7.4
 *   dispatch(now)        runs due timers, then hands out the segments to send (output.ts)
 *   pollAt()             the earliest deadline (retransmission, tail loss probe, persist, delayed ACK,
 *                        keep-alive, FIN-WAIT-2, TIME-WAIT), or Infinity
 *
 * The class chain keeps each file readable: Tcb (tcb.ts: state variables, collaborators, the owner's
 * calls) <- TcbOutput (output.ts: sending and loss recovery) <- Connection (this file: arrivals and
 * timers). Collaborators: SendBuffer, Receiver (+ Reassembly), RttEstimator (RFC 6298), NewReno
 * (RFC 5681/6582/3042), Scoreboard (SACK, RFC 2018/6675).
 */
import { ACK, FIN, RST, SYN, type TcpSegment } from '../wire/tcp.ts';
import { inWindow, seqAdd, seqGe, seqGt, seqLe, seqLt, seqSub } from '../wire/seq.ts';
import { countDrop } from './counters.ts';
import { DupAckAction } from './congestion.ts';
import { State, canReceive } from './state.ts';
import { TS_OPTION_BYTES } from './tcb.ts';
import { TcbOutput } from './output.ts';

export type { ConnectionConfig, ConnectionHost } from './tcb.ts';


/** RFC 7323 §5.5: 24 days, after which TS.Recent is invalid. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

export class Connection extends TcbOutput {
  // ---------------------------------------------------------------------------------------------
  // Segment arrival (RFC 9293 §3.10.7)

  process(now: number, seg: TcpSegment): void {
    this.segmentsIn++;
    switch (this.stateValue) {
      case State.CLOSED:
        return;
      case State.SYN_SENT:
        this.processSynSent(now, seg);
        break;
      default:
        this.processSynchronized(now, seg);
    }
    if (this.rcv.ackNow || this.rcv.ackAt !== Infinity || this.current() === State.CLOSED) this.host.markDirty(this);
  }

  /** RFC 9293 §3.10.7.3. */
  private processSynSent(now: number, seg: TcpSegment): void {
    const f = seg.flags;
    // first: the ACK bit
    if (f & ACK) {
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!(f & RST)) this.host.sendReset(now, this, seg.ack, 0, false);
        return;
      }
    }
    // second: the RST bit (acceptable only with an acceptable ACK; RFC 5961 §3.2 leaves SYN-SENT so)
    if (f & RST) {
      if (f & ACK) {
        this.host.counters.resetsReceived++;
        this.host.counters.failedAttempts++;
        this.fail('ECONNREFUSED', `connect ECONNREFUSED ${this.remoteAddress}:${this.remotePort}`);
      }
      return;
    }
    // fourth: the SYN bit
    if (!(f & SYN) || (f & FIN) !== 0) return; // SYN+FIN dropped, as Linux does
    this.lastRecvAt = now;
    this.rcv.irs = seg.seq;
    this.rcv.rcvNxt = seqAdd(seg.seq, 1);
    // The window our SYN offered, now anchored at RCV.NXT (it was sent before IRS was known).
    this.rcv.advRight = seqAdd(this.rcv.rcvNxt, Math.min(this.rcv.free, 0xffff));
    this.negotiate(seg);
    if (f & ACK) {
      this.sndUna = seg.ack;
      if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
    }
    if (seqGt(this.sndUna, this.iss)) {
      // Our SYN is acknowledged: ESTABLISHED.
      this.sndWnd = seg.window << 0; // a SYN-ACK's window is never scaled
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.onSynAcked(now, seg);
      this.setState(State.ESTABLISHED);
      this.rcv.ackNow = true;
      this.host.markDirty(this);
      this.events?.onEstablished();
      if (this.current() !== State.ESTABLISHED) return;
      // Data in the SYN-ACK would be processed in step six; we do not expect any and drop it (the
      // peer retransmits it once we acknowledge only the SYN).
    } else {
      // Simultaneous open (RFC 9293 §3.5 figure 7): SYN-RECEIVED, send SYN-ACK with our ISS.
      this.sndWnd = seg.window;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.sndNxt = this.iss;
      this.needSyn = true;
      this.setState(State.SYN_RECEIVED);
      this.host.markDirty(this);
    }
  }

  private onSynAcked(now: number, seg: TcpSegment): void {
    this.handshakeRtt = now - this.handshakeStart;
    if (this.handshakeStart < 0) this.handshakeRtt = undefined; // a SYN cookie: the SYN-ACK's time is unknown
    else if (this.retries === 0) this.rtt.sample(now - this.handshakeStart); // Karn: not after a SYN retransmit
    else this.rtt.resetBackoff();
    this.retries = 0;
    this.rtoAt = this.sndMax === this.sndUna ? Infinity : now + this.rtt.rto;
    if (this.tsOn && seg.options.timestamp !== undefined) this.tsRecent = seg.options.timestamp.value;
    this.host.markDirty(this);
  }

  /** RFC 9293 §3.10.7.4, for SYN-RECEIVED and every later state. */
  private processSynchronized(now: number, seg: TcpSegment): void {
    const f = seg.flags;
    const dataLen = seg.payload.length;
    const segLen = dataLen + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
    const rcvNxt = this.rcv.rcvNxt;
    const wnd = this.rcv.window;

    // RFC 7323 §5.3 PAWS: a segment whose TSval is older than TS.Recent is an old duplicate (its
    // sequence number may have wrapped into the window): ACK it (unless RST) and drop it. A TS.Recent
    // idle for more than 24 days is no longer a reference (§5.5).
    const ts = seg.options.timestamp;
    if (this.tsOn && ts !== undefined && (f & RST) === 0 && seqLt(ts.value, this.tsRecent)) {
      if (now - this.tsRecentAt <= PAWS_IDLE_MS) {
        this.host.counters.pawsRejected++;
        this.rcv.ackNow = true;
        return;
      }
      this.tsRecent = ts.value;
    }

    // first: check the sequence number
    let acceptable: boolean;
    // A zero-length segment is accepted up to and including the right edge (RCV.NXT + RCV.WND), as
    // Linux does (tcp_sequence): a peer that filled our window sends its ACKs with SEG.SEQ exactly
    // there, and the strict RFC 9293 test would discard the acknowledgments it carries.
    if (segLen === 0) acceptable = inWindow(seg.seq, rcvNxt, wnd + 1);
    else if (wnd === 0) acceptable = false;
    else acceptable = inWindow(seg.seq, rcvNxt, wnd) || inWindow(seqAdd(seg.seq, segLen - 1), rcvNxt, wnd);
    // "special allowance should be made to accept valid ACKs, URGs, and RSTs" with a zero window.
    const zeroWindowAllowance = !acceptable && wnd === 0 && seg.seq === rcvNxt;
    if (!acceptable && !zeroWindowAllowance) {
      if (!(f & RST)) {
        // RFC 9293 §3.10.7.4: send an ACK (this also answers a retransmitted FIN in TIME-WAIT).
        if (this.stateValue === State.TIME_WAIT && (f & FIN) !== 0) this.timeWaitAt = now + 2 * this.host.cfg.mslMs;
        this.rcv.ackNow = true;
      } else countDrop(this.host.counters, 'rst-out-of-window');
      return;
    }
    this.lastRecvAt = now;
    this.keepAliveSent = 0;
    if (this.stateValue === State.FIN_WAIT_2) this.timeWaitAt = now + this.host.cfg.finWait2TimeoutMs;

    // second: the RST bit (RFC 5961 §3.2: exact match resets, in window -> challenge ACK)
    if (f & RST) {
      if (seg.seq !== rcvNxt) {
        this.challengeAck(now);
        return;
      }
      this.host.counters.resetsReceived++;
      switch (this.stateValue) {
        case State.SYN_RECEIVED:
          if (this.passive) {
            // Back to LISTEN: for us, the embryonic connection simply goes away.
            this.finish(undefined);
          } else this.fail('ECONNREFUSED', `connect ECONNREFUSED ${this.remoteAddress}:${this.remotePort}`);
          return;
        case State.ESTABLISHED:
        case State.FIN_WAIT_1:
        case State.FIN_WAIT_2:
        case State.CLOSE_WAIT:
          this.host.counters.establishedResets++;
          this.snd.clear();
          this.fail('ECONNRESET', 'read ECONNRESET');
          return;
        case State.TIME_WAIT:
          // RFC 1337 §3 (TIME-WAIT assassination, fix TW1): ignore RST in TIME-WAIT.
          return;
        default:
          // CLOSING, LAST-ACK: close.
          this.finish(undefined);
          return;
      }
    }

    // RFC 7323 §4.3: TS.Recent from a segment that covers Last.ACK.sent.
    if (this.tsOn && ts !== undefined && seqLe(seg.seq, this.lastAckSent) && seqGe(ts.value, this.tsRecent)) {
      this.tsRecent = ts.value;
      this.tsRecentAt = now;
    }

    // fourth: the SYN bit (RFC 5961 §4.2: challenge ACK, whatever the sequence number)
    if (f & SYN) {
      if (this.stateValue === State.SYN_RECEIVED && this.passive && seg.seq === seqAdd(this.rcv.irs, 0)) {
        // A retransmitted SYN: answer with our SYN-ACK again (RFC 9293 §3.10.7.4 allows the
        // SYN-RECEIVED passive case to return to LISTEN; retransmitting is what Linux does).
        this.needSyn = true;
        this.sndNxt = this.iss;
        return;
      }
      this.challengeAck(now);
      return;
    }

    // fifth: the ACK field
    if (!(f & ACK)) return;
    if (this.stateValue === State.SYN_RECEIVED) {
      if (seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax)) {
        this.sndWnd = seg.window * 2 ** this.sndWscale;
        this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
        this.sndWl1 = seg.seq;
        this.sndWl2 = seg.ack;
        this.sndUna = seg.ack;
        if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
        this.onSynAcked(now, seg);
        this.setState(State.ESTABLISHED);
        if (this.passive) this.host.passiveEstablished(this);
        else this.events?.onEstablished();
        if (this.current() !== State.ESTABLISHED) return;
      } else {
        this.host.sendReset(now, this, seg.ack, 0, false);
        return;
      }
    }
    if (!this.processAck(now, seg, dataLen)) return;

    // sixth: URG is ignored (RFC 9293 §3.8.5 / RFC 6093: applications should not rely on it).

    // seventh: the segment text
    let seq = seg.seq;
    let data = seg.payload;
    let fin = (f & FIN) !== 0;
    if (dataLen > 0 && canReceive(this.stateValue)) {
      const skip = seqSub(this.rcv.rcvNxt, seq);
      if (skip > 0) {
        data = data.subarray(Math.min(skip, data.length));
        seq = this.rcv.rcvNxt;
      }
      const room = seqSub(this.rcv.advRight, seq);
      if (data.length > room) {
        data = data.subarray(0, Math.max(0, room));
        fin = false; // the FIN lies beyond the window
      }
      if (data.length > 0) {
        if (seq === this.rcv.rcvNxt && !this.rcv.mayHold(data.length)) {
          // Over the layer-wide budget for unread data (rx-budget.ts): drop it unacknowledged; the
          // peer retransmits it once readers have made room.
          countDrop(this.host.counters, 'rcv-budget');
          this.rcv.ackNow = true;
          fin = false;
        } else if (seq === this.rcv.rcvNxt) {
          this.rcv.rcvNxt = seqAdd(seq, data.length);
          const hadHoles = !this.rcv.reasm.isEmpty;
          this.deliver(data);
          if (this.current() === State.CLOSED) return;
          if (hadHoles) {
            for (let more = this.rcv.reasm.takeAt(this.rcv.rcvNxt); more !== undefined; more = this.rcv.reasm.takeAt(this.rcv.rcvNxt)) {
              this.rcv.rcvNxt = seqAdd(this.rcv.rcvNxt, more.length);
              this.deliver(more);
              if (this.current() === State.CLOSED) return;
            }
            this.rcv.ackNow = true; // a segment that fills a hole: ACK at once (RFC 5681 §4.2)
          } else this.rcv.onInOrderData(now, data.length, this.rcvMss - (this.tsOn ? TS_OPTION_BYTES : 0));
        } else {
          if (!this.rcv.reasm.insert(seq, data)) countDrop(this.host.counters, this.rcv.reasm.dropReason);
          this.rcv.ackNow = true; // out of order: immediate duplicate ACK (RFC 5681 §4.2)
        }
      }
    } else if (dataLen > 0) {
      // Data after the peer's FIN, or in a closing state: acknowledge and ignore.
      this.rcv.ackNow = true;
    }

    // eighth: the FIN bit
    if (fin && !this.peerFinReceived) {
      const finAt = seqAdd(seg.seq, dataLen);
      if (finAt === this.rcv.rcvNxt) this.processFin(now);
      else if (seqGt(finAt, this.rcv.rcvNxt)) this.rcv.reasm.finSeq = finAt;
    } else if (!this.peerFinReceived && this.rcv.reasm.finSeq !== undefined && this.rcv.reasm.finSeq === this.rcv.rcvNxt) {
      this.processFin(now);
    } else if (fin && this.stateValue === State.TIME_WAIT) {
      // A retransmitted FIN: acknowledge it and restart the 2 MSL timeout.
      this.rcv.ackNow = true;
      this.timeWaitAt = now + 2 * this.host.cfg.mslMs;
    }
  }

  private processFin(now: number): void {
    this.peerFinReceived = true;
    this.rcv.rcvNxt = seqAdd(this.rcv.rcvNxt, 1);
    this.rcv.ackNow = true;
    switch (this.stateValue) {
      case State.SYN_RECEIVED:
      case State.ESTABLISHED:
        this.setState(State.CLOSE_WAIT);
        break;
      case State.FIN_WAIT_1:
        // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
        this.setState(State.CLOSING);
        break;
      case State.FIN_WAIT_2:
        this.enterTimeWait(now);
        break;
      default:
        break;
    }
    this.deliverFin();
  }

  /** RFC 5961 §3.2/§4.2 challenge ACK, rate limited (§7). */
  private challengeAck(now: number): void {
    if (this.host.allowChallengeAck(now)) {
      this.host.counters.challengeAcks++;
      this.rcv.ackNow = true;
    } else this.host.counters.challengeAcksSuppressed++;
  }

  /**
   * Step five for synchronized states past SYN-RECEIVED. Returns false when processing of the
   * segment stops here.
   */
  private processAck(now: number, seg: TcpSegment, dataLen: number): boolean {
    const ack = seg.ack;
    if (seqGt(ack, this.sndMax)) {
      // Acknowledges something not yet sent: send an ACK, drop (RFC 9293 §3.10.7.4; RFC 5961 §5.2).
      this.rcv.ackNow = true;
      return false;
    }
    // RFC 5961 §5.2: an ACK older than SND.UNA - MAX.SND.WND is dropped (with a challenge ACK).
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.challengeAck(now);
      return false;
    }
    this.retries = 0; // the peer is alive (keeps zero-window probing going indefinitely)
    const window = seg.window * 2 ** this.sndWscale;
    const oldUna = this.sndUna;
    if (seqGt(ack, this.sndUna)) {
      const acked = seqSub(ack, this.sndUna);
      this.sndUna = ack;
      this.sb.advance(ack);
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
      // Release acknowledged data from the send buffer (the SYN and FIN occupy no buffer byte).
      const dataAcked = Math.min(Math.max(0, seqSub(ack, this.sndBase)), this.snd.size);
      if (dataAcked > 0) {
        this.snd.consume(dataAcked);
        this.sndBase = seqAdd(this.sndBase, dataAcked);
        this.bytesOut += dataAcked;
        if (this.wantWritable && this.events !== undefined) {
          this.wantWritable = false;
          this.events.onWritable();
          if (this.current() === State.CLOSED) return false;
        }
      }
      // RTT (RFC 7323 §4 with timestamps, else RFC 6298 §3 Karn's timed segment).
      const ts = seg.options.timestamp;
      if (this.tsOn && ts !== undefined && ts.echo !== 0) {
        const r = (this.tsNow(now) - ts.echo) >>> 0;
        if (r < 0x80000000) this.rtt.sample(r);
      } else if (this.rttStart >= 0 && seqGt(ack, this.rttSeq)) {
        this.rtt.sample(now - this.rttStart);
        this.rttStart = -1;
      }
      if (this.undoTsval >= 0 && seqGt(ack, this.undoSeq)) this.eifelCheck(ack, ts);
      const flight = seqSub(this.sndMax, oldUna);
      if (this.cc.onNewAck(ack, acked, flight)) {
        // NewReno partial ACK (RFC 6582 §3.2 step 3): retransmit the next hole, re-arm the timer.
        this.retransmitHead = true;
      }
      // RFC 6298 §5.2/§5.3: stop the timer when all is acknowledged, else restart it.
      this.rtoAt = this.sndUna === this.sndMax ? Infinity : now + this.rtt.rto;
      this.tlpOutstanding = false;
      this.armTlp(now);
      this.host.markDirty(this);
    }
    // RFC 2018 §3 / RFC 6675: the SACK blocks (after SND.UNA moved).
    let newlySacked = 0;
    if (this.sackPermitted && seg.options.sack !== undefined && this.sndUna !== this.sndMax) {
      newlySacked = this.sb.update(seg.options.sack, this.sndUna, this.sndMax, this.sndMss);
      this.host.counters.sackBlocksIgnored += this.sb.lastIgnored;
      this.host.counters.sackBlocksDropped += this.sb.lastDropped;
    }
    if (this.sackPermitted) {
      // RFC 6675 §5: an ACK that SACKs new data counts as a duplicate ACK even with data or a window
      // change on it; recovery starts after DupThresh of them or once IsLost(SND.UNA) holds.
      const plainDup = dataLen === 0 && window === this.sndWnd && (seg.flags & (SYN | FIN)) === 0;
      if (ack === oldUna && this.sndUna !== this.sndMax && (newlySacked > 0 || plainDup)) {
        this.cc.dupAcks++;
        this.host.markDirty(this);
        // Only an ACK that SACKs new data is evidence here (RFC 6675 §2's "duplicate"): a flood of
        // identical duplicate ACKs must not buy a retransmission round each (an amplifier otherwise).
        if (this.cc.sackRecovery && newlySacked > 0 && ++this.dupsSinceRetransmit > this.retransmitDupBudget) {
          // More duplicate ACKs since this retransmission round began than segments were in flight:
          // some were caused by segments sent after our retransmissions, so holes that are still
          // not SACKed lost their retransmission too. Start a new round from SND.UNA instead of
          // waiting for the RTO (the idea of Linux's lost-retransmit detection).
          this.highRxt = this.sndUna;
          this.startRetransmitRound();
          this.host.counters.lostRetransmits++;
        }
      }
      const prevCwnd = this.cc.cwnd;
      const prevSsthresh = this.cc.ssthresh;
      if (
        !this.cc.inRecovery &&
        this.sndUna !== this.sndMax &&
        (this.cc.dupAcks >= this.dupThresh() || this.sb.sackedAbove(this.sndUna) >= this.dupThresh() * this.sndMss) &&
        this.cc.enterSackRecovery(ack, seqSub(this.sndMax, this.sndUna), this.sndMax)
      ) {
        if (this.tsOn) {
          // Remember enough to undo the reduction if the retransmission proves spurious (RFC 3522).
          this.undoSeq = this.sndUna;
          this.undoTsval = this.tsNow(now);
          this.undoCwnd = prevCwnd;
          this.undoSsthresh = prevSsthresh;
        }
        this.highRxt = this.sndUna;
        this.startRetransmitRound();
        this.retransmitHead = true;
        this.host.counters.fastRetransmits++;
        this.rttStart = -1;
        this.host.markDirty(this);
      }
    } else if (
      ack === oldUna &&
      dataLen === 0 &&
      (seg.flags & (SYN | FIN)) === 0 &&
      this.sndUna !== this.sndMax &&
      window === this.sndWnd
    ) {
      // A duplicate ACK (RFC 5681 §2).
      const act = this.cc.onDupAck(ack, seqSub(this.sndMax, this.sndUna), this.sndMax);
      if (act === DupAckAction.FastRetransmit) {
        this.retransmitHead = true;
        this.host.counters.fastRetransmits++;
        this.rttStart = -1;
      } else if (this.cc.inRecovery && ++this.dupsSinceRetransmit > this.retransmitDupBudget) {
        // Lost retransmission: more duplicate ACKs arrived since the head was retransmitted than
        // segments were in flight then, so some were caused by segments sent after it; on a path
        // that keeps order the retransmission itself must be lost. Send it again rather than wait
        // for the RTO (the idea of Linux's lost-retransmit detection, here without SACK).
        this.retransmitHead = true;
        this.host.counters.lostRetransmits++;
      }
      this.host.markDirty(this);
    }
    // Window update (RFC 9293 §3.10.7.4: if SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)).
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const opened = window > this.sndWnd;
      this.sndWnd = window;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (window > 0) {
        this.persistAt = Infinity;
        this.persistBackoff = 0;
      }
      if (opened) this.host.markDirty(this);
    }

    // State-specific parts of step five.
    switch (this.stateValue) {
      case State.FIN_WAIT_1:
        if (this.finAcked) {
          this.setState(State.FIN_WAIT_2);
          this.timeWaitAt = now + this.host.cfg.finWait2TimeoutMs;
        }
        break;
      case State.CLOSING:
        if (this.finAcked) {
          this.enterTimeWait(now);
          return false;
        }
        break;
      case State.LAST_ACK:
        if (this.finAcked) {
          this.finish(undefined);
          return false;
        }
        break;
      case State.TIME_WAIT:
        break;
      default:
        break;
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  pollAt(): number {
    let t = this.rtoAt;
    if (this.persistAt < t) t = this.persistAt;
    if (this.rcv.ackAt < t) t = this.rcv.ackAt;
    if (this.timeWaitAt < t) t = this.timeWaitAt;
    if (this.keepAliveAt < t) t = this.keepAliveAt;
    if (this.tlpAt < t) t = this.tlpAt;
    return t;
  }

  protected runTimers(now: number): void {
    if (this.timeWaitAt <= now) {
      this.timeWaitAt = Infinity;
      // FIN-WAIT-2 timeout: reset the silent peer, as Linux does (tcp_send_active_reset).
      if (this.stateValue === State.FIN_WAIT_2) this.rstPending = true;
      this.finish(undefined);
      return;
    }
    if (this.tlpAt <= now) {
      // Checked before the RTO: a probe due at the same instant replaces it (RFC 8985 §7.3).
      this.tlpAt = Infinity;
      if (this.sndUna !== this.sndMax) {
        this.tlpNow = true;
        this.rtoAt = now + this.rtt.rto;
        this.host.counters.tailLossProbes++;
      }
    }
    if (this.rtoAt <= now) this.onRetransmitTimeout(now);
    if (this.current() === State.CLOSED) return;
    if (this.persistAt <= now) {
      this.persistAt = Infinity;
      // RFC 1122 §4.2.2.17: probe indefinitely while the peer answers; give up like the
      // retransmission timer when it does not (any acceptable ACK resets `retries`).
      if (++this.retries > this.host.cfg.maxRetries) {
        this.fail('ETIMEDOUT', 'write ETIMEDOUT (zero window)');
        return;
      }
      this.probeNow = true;
      this.persistBackoff++;
    }
    if (this.rcv.ackAt <= now) {
      this.rcv.ackAt = Infinity;
      this.rcv.ackNow = true;
    }
    if (this.keepAliveAt <= now) this.onKeepAliveTimer(now);

  }

  private onRetransmitTimeout(now: number): void {
    this.rtoAt = Infinity;
    if (this.sndUna === this.sndMax && !this.needSyn) return;
    this.retries++;
    this.host.counters.timeouts++;
    const s = this.stateValue;
    const limit =
      s === State.SYN_RECEIVED && this.passive
        ? this.host.synAckRetries(this)
        : s === State.SYN_SENT || s === State.SYN_RECEIVED
          ? this.host.cfg.synRetries
          : this.host.cfg.maxRetries;
    if (this.retries > limit) {
      if (s === State.SYN_SENT) this.host.counters.failedAttempts++;
      // Linux sends no RST here (tcp_write_err); the peer is presumed gone.
      this.fail('ETIMEDOUT', `${s === State.SYN_SENT ? 'connect' : 'read'} ETIMEDOUT`);
      return;
    }
    this.rtt.backoff(); // RFC 6298 §5.5
    this.rttStart = -1; // Karn (RFC 6298 §3)
    if (s === State.SYN_SENT || s === State.SYN_RECEIVED) {
      this.needSyn = true;
      this.sndNxt = this.iss;
      return;
    }
    // RFC 5681 §3.1 eq. (4): ssthresh from the flight size; cwnd = 1 SMSS; go back to SND.UNA.
    this.cc.onTimeout(seqSub(this.sndMax, this.sndUna), this.sndMax, this.rtt.backoffs <= 1);
    this.sndNxt = this.sndUna;
    this.retransmitHead = false;
    this.sb.clear(); // RFC 2018 §8: after a timeout, ignore prior SACK information
    this.undoTsval = -1;
  }

  private onKeepAliveTimer(now: number): void {
    this.keepAliveAt = Infinity;
    if (this.keepAliveIdle === 0) return;
    const s = this.stateValue;
    if (s !== State.ESTABLISHED && s !== State.CLOSE_WAIT) return;
    const cfg = this.host.cfg;
    const due = this.lastRecvAt + this.keepAliveIdle + this.keepAliveSent * cfg.keepAliveIntervalMs;
    if (now < due) {
      this.keepAliveAt = due;
      return;
    }
    if (this.keepAliveSent >= cfg.keepAliveProbes) {
      this.fail('ETIMEDOUT', 'read ETIMEDOUT (keep-alive)');
      return;
    }
    // RFC 1122 §4.2.3.6: an old sequence number (SND.UNA - 1, as Linux; SND.NXT - 1 when nothing is
    // outstanding) and no data elicits an ACK from a live peer.
    this.keepAliveSent++;
    this.keepAliveProbeNow = true;
    this.keepAliveAt = now + cfg.keepAliveIntervalMs;
  }

}
