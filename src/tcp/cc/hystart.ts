/**
 * HyStart++ (RFC 9406): slow start that watches the round-trip time and leaves before it overshoots.
 *
 * Plain slow start doubles the window every round trip until a packet is lost, and by then the window
 * is often twice what the path holds: a whole window's worth of losses. HyStart++ looks at the
 * smallest RTT of each round instead. When it rises by more than RttThresh over the previous round's
 * minimum, the bottleneck queue has started to fill: the sender leaves slow start for Conservative
 * Slow Start (CSS), which grows at a quarter of the rate. If the RTT falls back below the minimum that
 * triggered CSS, the exit was a false alarm (jitter) and slow start resumes; if it stays up for
 * CSS_ROUNDS rounds, the sender enters congestion avoidance with ssthresh = cwnd.
 *
 * This object owns the round and RTT bookkeeping and says how much one ACK grows the window; the
 * congestion controller (src/tcp/cc/cubic.ts) owns cwnd and ssthresh, applies the growth and reacts
 * when `phase` becomes 'off'. It runs only in the initial slow start (RFC 9406 §4.3: "SHOULD use
 * HyStart++ only for the initial slow start ... and fall back to using standard slow start for the
 * remainder of the connection lifetime"), so a loss or timeout stops it for good.
 *
 * Every ACK is an RTT sample when it carries one; a round needs N_RTT_SAMPLE samples before its
 * minimum is compared, and the minimum keeps following all the round's samples after that (RFC 9406
 * §4.2: "For rounds where at least N_RTT_SAMPLE RTT samples have been obtained ..."). Times are ms.
 */
import { seqGe } from '../../wire/seq.ts';

// RFC 9406 §4.3, the recommended values.
export const MIN_RTT_THRESH_MS = 4;
export const MAX_RTT_THRESH_MS = 16;
export const MIN_RTT_DIVISOR = 8;
export const N_RTT_SAMPLE = 8;
export const CSS_GROWTH_DIVISOR = 4;
export const CSS_ROUNDS = 5;
/**
 * L, the most one ACK may grow the window by, in SMSS (RFC 9406 §4.2, after RFC 3465). §4.3: a paced
 * sender uses L = infinity, a sender that does not pace L = 8. This stack does not pace.
 */
export const NON_PACED_L = 8;

/** Where the initial slow start is: plain slow start, Conservative Slow Start, or over ('off'). */
export type HyStartPhase = 'slow-start' | 'css' | 'off';

/** RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)), RFC 9406 §4.2. */
export function rttThreshMs(lastRoundMinRttMs: number): number {
  return Math.max(MIN_RTT_THRESH_MS, Math.min(lastRoundMinRttMs / MIN_RTT_DIVISOR, MAX_RTT_THRESH_MS));
}

export class HyStart {
  private state: HyStartPhase;
  /** The sequence number whose acknowledgment ends the current round (RFC 9406 §4.2 windowEnd). */
  private windowEnd = 0;
  private roundStarted = false;
  private lastRoundMinRtt = Infinity;
  private currentRoundMinRtt = Infinity;
  private rttSampleCount = 0;
  private cssBaselineMinRtt = Infinity;
  /** Rounds ended while in CSS, the partial round CSS began in included (RFC 9406 §4.2). */
  private cssRounds = 0;

  constructor(enabled = true) {
    this.state = enabled ? 'slow-start' : 'off';
  }

  get phase(): HyStartPhase {
    return this.state;
  }

  /** Whether the initial slow start is still HyStart++'s (phase not 'off'). */
  running(): boolean {
    return this.state !== 'off';
  }

  /**
   * One ACK in the initial slow start that newly delivered `acked` bytes. Returns how many bytes cwnd
   * grows by: min(N, L*SMSS), divided by CSS_GROWTH_DIVISOR in CSS (RFC 9406 §4.2), with the phase
   * this ACK found. Afterwards `phase` is 'off' when this ACK completed the CSS_ROUNDS-th CSS round:
   * the caller then enters congestion avoidance with ssthresh = cwnd.
   */
  onAck(ack: number, sndNxt: number, acked: number, rttMs: number | undefined, mss: number): number {
    if (this.state === 'off') return 0;
    if (!this.roundStarted) {
      // windowEnd "initialized to SND.NXT": the first round runs from the first ACK we see.
      this.roundStarted = true;
      this.windowEnd = sndNxt;
    }
    let growth = Math.min(acked, NON_PACED_L * mss);
    if (this.state === 'css') growth /= CSS_GROWTH_DIVISOR;

    if (rttMs !== undefined) {
      this.currentRoundMinRtt = Math.min(this.currentRoundMinRtt, rttMs);
      this.rttSampleCount++;
    }
    if (this.rttSampleCount >= N_RTT_SAMPLE) {
      if (this.state === 'slow-start') {
        // Delay increase: leave slow start for CSS (RFC 9406 §4.2).
        if (
          this.currentRoundMinRtt !== Infinity &&
          this.lastRoundMinRtt !== Infinity &&
          this.currentRoundMinRtt >= this.lastRoundMinRtt + rttThreshMs(this.lastRoundMinRtt)
        ) {
          this.cssBaselineMinRtt = this.currentRoundMinRtt;
          this.cssRounds = 0;
          this.state = 'css';
        }
      } else if (this.currentRoundMinRtt < this.cssBaselineMinRtt) {
        // The RTT fell below the baseline: the exit was spurious; resume slow start, HyStart++ included.
        this.cssBaselineMinRtt = Infinity;
        this.state = 'slow-start';
      }
    }

    if (seqGe(ack, this.windowEnd)) {
      // windowEnd was acknowledged: the round ends (RFC 9406 §4.2).
      if (this.state === 'css' && ++this.cssRounds >= CSS_ROUNDS) this.state = 'off';
      this.windowEnd = sndNxt;
      this.lastRoundMinRtt = this.currentRoundMinRtt;
      this.currentRoundMinRtt = Infinity;
      this.rttSampleCount = 0;
    }
    return growth;
  }

  /**
   * A loss or a timeout: the initial slow start is over (a loss in slow start or CSS hands over to the
   * controller's loss response and congestion avoidance, RFC 9406 §4.2; later slow starts are standard
   * ones, §4.3).
   */
  stop(): void {
    this.state = 'off';
  }

  /** Copies another instance's state (the controller keeps one to undo a spurious reduction). */
  copyFrom(o: HyStart): void {
    this.state = o.state;
    this.windowEnd = o.windowEnd;
    this.roundStarted = o.roundStarted;
    this.lastRoundMinRtt = o.lastRoundMinRtt;
    this.currentRoundMinRtt = o.currentRoundMinRtt;
    this.rttSampleCount = o.rttSampleCount;
    this.cssBaselineMinRtt = o.cssBaselineMinRtt;
    this.cssRounds = o.cssRounds;
  }
}
