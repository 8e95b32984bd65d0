/**
 * CUBIC congestion control (RFC 9438), with HyStart++ (RFC 9406) for the initial slow start.
 *
 * What it does, for a student. Reno grows the window by one segment per round trip and halves it on
 * a loss; on a path that holds thousands of segments it takes thousands of round trips to get back.
 * CUBIC makes the window a function of the *time since the last loss* instead:
 *
 *     W_cubic(t) = C * (t - K)^3 + W_max                                   (RFC 9438 §4.2, eq. 1)
 *
 * W_max is the window at which the last loss happened, and K is the time the curve takes to climb
 * back there from the reduced window. Right after the loss (t < K) the curve is concave: it climbs
 * fast, then slows down and flattens as it nears W_max, where the last loss was, so the window spends
 * most of its time just below the level that filled the path. If no loss comes at W_max (t > K), the
 * curve turns convex and accelerates: the path may have more room now, and CUBIC goes to look for it.
 * Because the curve runs on the clock and not on ACKs, flows with different RTTs grow alike.
 *
 * On a loss, the window is cut to beta = 0.7 of the flight (Reno: 0.5), W_max remembers where it was,
 * and with fast convergence a flow whose losses come earlier each time (someone new is sharing the
 * path) remembers a lower W_max, to make room sooner (§4.6, §4.7). Where Reno would do better, on
 * short RTTs and small windows, CUBIC tracks an estimate of Reno's window (W_est, the "Reno-friendly
 * region", §4.3) and uses that whenever it is higher, so it is never worse than Reno there.
 *
 * Units. The RFC counts windows in segments and time in seconds; the CongestionControl interface
 * (src/tcp/congestion-control.ts) counts bytes, and our clock counts milliseconds. Here every window
 * (cwnd, ssthresh, W_max, cwnd_epoch, cwnd_prior, W_est) is kept in bytes; the one constant with a
 * segment in it, C (segments per second cubed), is scaled by the MSS where the curve is evaluated
 * (`wCubic`), and times are turned into seconds there too. RFC 9438 §4.1 allows exactly this ("use
 * bytes ... factoring in the maximum segment size wherever necessary"). cwnd grows by fractions of a
 * byte per ACK, so it is kept as a real number; `cwnd` reads it rounded down to whole bytes.
 *
 * Choices the RFC leaves open, made here:
 * - A congestion-avoidance epoch starts on the first ACK in congestion avoidance after a reduction or
 *   after slow start (t_epoch, §4.2), not at the reduction itself.
 * - Application-limited ACKs (AckEvent.appLimited, RFC 7661) grow nothing, and the time between the
 *   previous ACK and an application-limited one is taken out of t, by moving t_epoch forward: §4.2
 *   "t ... MUST NOT include periods during which cwnd has not been updated due to application-limited
 *   behavior", §5.8 "CUBIC does not increase its congestion window if a flow is application-limited".
 *   W_est stands still then too.
 * - Slow start is cwnd < ssthresh (RFC 5681 §3.1 lets the sender choose at equality); at cwnd ==
 *   ssthresh, after recovery, congestion avoidance runs.
 * - Slow start after a timeout is standard slow start with byte counting, L = 2 SMSS per ACK (RFC
 *   3465 §2.2-2.3, as the stack's NewReno does); only the initial slow start is HyStart++'s, L = 8.
 * - §4.9 undo restores "if the current cwnd is lower than cwnd_prior", and otherwise keeps the
 *   current values (the reduction did not lower cwnd, or cwnd has grown back since).
 */
import { slowStartCap, type AckEvent, type CongestionControl, type CongestionControlName } from '../congestion-control.ts';
import { HyStart, type HyStartPhase } from './hystart.ts';
import { initialWindow } from './newreno.ts';

/** beta_cubic, the multiplicative decrease factor (RFC 9438 §4.6: "SHOULD be set to 0.7"). */
export const BETA_CUBIC = 0.7;
/** C, in segments / second^3 (RFC 9438 §5.1: "C SHOULD be set to 0.4"). */
export const C_CUBIC = 0.4;
/** alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic), Reno-friendly additive increase (RFC 9438 §4.3). */
export const ALPHA_CUBIC = (3 * (1 - BETA_CUBIC)) / (1 + BETA_CUBIC);
/** ssthresh before the first reduction: "arbitrarily high" (RFC 5681 §3.1), as the interface says. */
export const INITIAL_SSTHRESH = 0x7fffffff;
/** Slow starts after the initial one: at most L = 2 SMSS per ACK (RFC 3465 §2.2-2.3). */
const STANDARD_SLOW_START_L = 2;
/** Windows stay below this, so that nothing grows without bound when a sender is limited elsewhere. */
const MAX_WINDOW = 0x7fffffff;

export { initialWindow };

export interface CubicOptions {
  /** HyStart++ in the initial slow start (RFC 9438 §4.10 "SHOULD"); default true. */
  hystart?: boolean;
  /**
   * Fast convergence (RFC 9438 §4.7 "SHOULD be implemented"; "SHOULD be disabled" for a single flow
   * with no other traffic, which a sender cannot know); default true.
   */
  fastConvergence?: boolean;
}

/** What §4.9 saves at a reduction to undo it (and the rest of the state the curve depends on). */
interface Saved {
  cwnd: number;
  ssthresh: number;
  cwndPrior: number;
  wMax: number;
  k: number;
  epochRunning: boolean;
  tEpoch: number;
  lastAckAt: number;
  cwndEpoch: number;
  wEst: number;
  alpha: number;
  recovering: boolean;
  /** HyStart++'s state (RFC 9406), which a reduction also ends. */
  hystart: HyStart;
}

function newSaved(): Saved {
  return {
    cwnd: 0,
    ssthresh: 0,
    cwndPrior: 0,
    wMax: 0,
    k: 0,
    epochRunning: false,
    tEpoch: 0,
    lastAckAt: 0,
    cwndEpoch: 0,
    wEst: 0,
    alpha: 0,
    recovering: false,
    hystart: new HyStart(false),
  };
}

export class Cubic implements CongestionControl {
  readonly name: CongestionControlName = 'cubic';
  private mss: number;
  private readonly fastConvergence: boolean;
  /** cwnd, bytes, not rounded. */
  private w: number;
  /** ssthresh, whole bytes. */
  private thresh = INITIAL_SSTHRESH;
  /** RFC 9438 §4.1.2 cwnd_prior: cwnd when ssthresh was last set, bytes. */
  private cwndPrior = 0;
  /** W_max, bytes; 0 when undefined (before a loss, after a timeout, after HyStart++), §4.8, §4.10. */
  private wMaxBytes = 0;
  /** K, seconds. */
  private kSeconds = 0;
  /** Whether a congestion-avoidance epoch is running (t_epoch, cwnd_epoch, K, W_est are set). */
  private epochRunning = false;
  /** t_epoch, ms (moved forward over application-limited time). */
  private tEpoch = 0;
  /** The last ACK in the epoch, ms: the start of the interval an application-limited ACK takes out. */
  private lastAckAt = 0;
  private cwndEpoch = 0;
  /** W_est, bytes (§4.3). */
  private wEst = 0;
  /** alpha_cubic, or 1 once W_est has reached cwnd_prior (§4.3). */
  private alpha = ALPHA_CUBIC;
  /** Between onLoss and onRecoveryEnd. */
  private recovering = false;
  /** No ACK, no reduction yet: setMss may still pick the initial window. */
  private pristine = true;
  private readonly hystart: HyStart;
  /** What the last reduction changed (§4.9), for undo; made at the first reduction (most connections never reduce). */
  private saved: Saved | undefined;
  private hasSaved = false;

  constructor(mss: number, options: CubicOptions = {}) {
    this.mss = checkMss(mss);
    this.w = initialWindow(mss);
    this.fastConvergence = options.fastConvergence ?? true;
    this.hystart = new HyStart(options.hystart ?? true);
  }

  get cwnd(): number {
    return Math.floor(this.w);
  }

  get ssthresh(): number {
    return this.thresh;
  }

  /** W_max in bytes (0: none), for observers (the /conn view, tests). */
  get wMax(): number {
    return this.wMaxBytes;
  }

  /** K in seconds, of the epoch running (or the last one). */
  get k(): number {
    return this.kSeconds;
  }

  /** Where the initial slow start is ('off' once it is over or HyStart++ is disabled). */
  get hystartPhase(): HyStartPhase {
    return this.hystart.phase;
  }

  setMss(mss: number): void {
    this.mss = checkMss(mss);
    if (this.pristine) this.w = initialWindow(mss);
    else this.w = Math.max(this.w, mss);
  }

  onAck(ev: AckEvent): void {
    this.pristine = false;
    if (this.w < this.thresh) this.slowStart(ev);
    else this.congestionAvoidance(ev);
  }

  /** RFC 9438 §4.10: HyStart++ in the initial slow start, standard slow start later. */
  private slowStart(ev: AckEvent): void {
    const hystartRunning = this.hystart.running();
    const growth = hystartRunning
      ? this.hystart.onAck(ev.ack, ev.sndNxt, ev.acked, ev.rttMs, this.mss)
      : Math.min(ev.acked, STANDARD_SLOW_START_L * this.mss);
    const cap = slowStartCap(ev);
    if (this.w < cap) this.w = Math.min(this.w + growth, this.thresh, cap, MAX_WINDOW);
    if (hystartRunning && !this.hystart.running()) {
      // CSS_ROUNDS rounds of CSS: congestion avoidance with ssthresh = cwnd (RFC 9406 §4.2). No loss,
      // so no W_max: cwnd_prior = cwnd, and the epoch will take K = 0 and W_max = cwnd_epoch (RFC 9438
      // §4.10).
      this.thresh = Math.floor(this.w);
      this.cwndPrior = this.w;
      this.wMaxBytes = 0;
      this.epochRunning = false;
    }
  }

  private congestionAvoidance(ev: AckEvent): void {
    if (!this.epochRunning) this.startEpoch(ev.now);
    else if (ev.appLimited) this.tEpoch += ev.now - this.lastAckAt; // §4.2: t leaves out this time
    this.lastAckAt = ev.now;
    if (ev.appLimited) return; // §5.8
    const cwnd = this.w;
    const t = (ev.now - this.tEpoch) / 1000;
    const rtt = (ev.srttMs ?? ev.rttMs ?? 0) / 1000;

    // §4.3 Reno-friendly region: W_est = W_est + alpha * segments_acked / cwnd (in bytes: the MSS
    // factor and bytes acknowledged for segments_acked). alpha becomes 1 once W_est reaches cwnd_prior.
    this.wEst += (this.alpha * this.mss * ev.acked) / cwnd;
    if (this.alpha !== 1 && this.wEst >= this.cwndPrior) this.alpha = 1;
    if (this.wCubic(t) < this.wEst) {
      // "cwnd SHOULD be set to W_est"; never below the cwnd it has (an ACK does not shrink the window).
      this.w = Math.min(Math.max(cwnd, this.wEst), MAX_WINDOW);
      return;
    }
    // §4.2 target = W_cubic(t + RTT), bounded to [cwnd, 1.5 cwnd]; §4.4 concave and §4.5 convex region
    // alike: cwnd += (target - cwnd) / cwnd per segment acknowledged, i.e. times the bytes acknowledged.
    let target = this.wCubic(t + rtt);
    if (target < cwnd) target = cwnd;
    else if (target > 1.5 * cwnd) target = 1.5 * cwnd;
    this.w = Math.min(cwnd + ((target - cwnd) / cwnd) * ev.acked, MAX_WINDOW);
  }

  /** The start of a congestion-avoidance stage: t_epoch, cwnd_epoch, W_est, K (§4.2, §4.3, §4.8, §4.10). */
  private startEpoch(now: number): void {
    this.epochRunning = true;
    this.tEpoch = now;
    this.lastAckAt = now;
    this.cwndEpoch = this.w;
    this.wEst = this.w;
    this.alpha = ALPHA_CUBIC;
    if (this.wMaxBytes === 0) {
      // After a timeout (§4.8) or a loss-free exit from HyStart++ (§4.10): K = 0, W_max = cwnd_epoch.
      this.wMaxBytes = this.cwndEpoch;
      this.kSeconds = 0;
    } else {
      // §4.2 eq. 2: K = cbrt((W_max - cwnd_epoch) / C), in segments. Negative when the epoch starts
      // above W_max: the curve then still passes through cwnd_epoch at t = 0, in its convex part.
      this.kSeconds = Math.cbrt((this.wMaxBytes - this.cwndEpoch) / this.mss / C_CUBIC);
    }
  }

  /** W_cubic(t) in bytes, t in seconds since t_epoch (§4.2 eq. 1; C scaled from segments by the MSS). */
  private wCubic(t: number): number {
    const d = t - this.kSeconds;
    return C_CUBIC * d * d * d * this.mss + this.wMaxBytes;
  }

  onLoss(_now: number, _flight: number): void {
    this.save();
    this.hystart.stop();
    const cwnd = this.w;
    // §4.7 fast convergence, before the reduction: a loss below the last W_max lowers W_max further.
    this.wMaxBytes = this.fastConvergence && cwnd < this.wMaxBytes ? (cwnd * (1 + BETA_CUBIC)) / 2 : cwnd;
    // §4.6: ssthresh = beta_cubic times the window, cwnd_prior = cwnd, cwnd = max(ssthresh, 2) on
    // loss, ssthresh = max(ssthresh, 2) (segments, so 2 MSS). The window is cwnd, as Linux and Windows
    // take it, not flight_size: §4.6 allows that ("Some implementations of CUBIC currently use cwnd
    // instead of flight_size") when cwnd cannot grow while the flight is smaller than it, and here it
    // grows only on ACKs that found the sender held by cwnd (AckEvent.appLimited, §5.8). The flight at
    // the ACK that detects a loss is short of cwnd by what that read's earlier ACKs took out of it,
    // and by what this ACK's SACK blocks say arrived: on a path of a fraction of a millisecond, with a
    // loss every few round trips, cutting from it left the window at half of Linux's (11 segments
    // against 22 on average, corrupt 1% through the relay, scripts/bench-loss.ts).
    this.cwndPrior = cwnd;
    this.thresh = this.reducedSsthresh(cwnd);
    this.w = this.thresh;
    this.epochRunning = false;
    this.recovering = true;
    this.pristine = false;
  }

  onRecoveryEnd(_now: number, cap = Infinity): void {
    if (!this.recovering) return;
    this.recovering = false;
    // RFC 6675 §5 / RFC 6937 §3: recovery ends with cwnd = ssthresh (no more than `cap`, the burst
    // bound of recovery without SACK, RFC 6582 §3.2); the next ACK starts the epoch.
    this.w = Math.min(this.thresh, Math.max(cap, this.mss));
  }

  onRto(_now: number, flight: number, firstTimeout: boolean): void {
    if (firstTimeout) {
      // §4.8: ssthresh from beta_cubic as on a loss (§4.6), from all that is outstanding (RFC 5681
      // §3.1 eq. 4: a timeout says nothing of what the SACKed data behind the hole cost); repeated
      // timeouts keep it. (Capped by cwnd as on a loss, seeded runs at 20% loss on data and ACKs
      // collapsed into backed-off timeouts.)
      this.save();
      this.cwndPrior = this.w;
      this.thresh = this.reducedSsthresh(flight);
    }
    this.hystart.stop();
    // RFC 5681 §3.1: cwnd = LW = 1 SMSS. The first epoch after it takes K = 0, W_max = cwnd_epoch (§4.8).
    this.w = this.mss;
    this.wMaxBytes = 0;
    this.epochRunning = false;
    this.recovering = false;
    this.pristine = false;
  }

  undo(_now: number): void {
    if (!this.hasSaved) return;
    this.hasSaved = false;
    // §4.9: restore what the reduction changed "if cwnd < cwnd_prior"; else keep the current values.
    if (this.w >= this.cwndPrior) return;
    const s = this.saved!;
    this.w = s.cwnd;
    this.thresh = s.ssthresh;
    this.cwndPrior = s.cwndPrior;
    this.wMaxBytes = s.wMax;
    this.kSeconds = s.k;
    this.epochRunning = s.epochRunning;
    this.tEpoch = s.tEpoch;
    this.lastAckAt = s.lastAckAt;
    this.cwndEpoch = s.cwndEpoch;
    this.wEst = s.wEst;
    this.alpha = s.alpha;
    this.recovering = s.recovering;
    this.hystart.copyFrom(s.hystart);
  }

  /** §4.9: the variables a reduction changes, saved before it. */
  private save(): void {
    const s = (this.saved ??= newSaved());
    s.cwnd = this.w;
    s.ssthresh = this.thresh;
    s.cwndPrior = this.cwndPrior;
    s.wMax = this.wMaxBytes;
    s.k = this.kSeconds;
    s.epochRunning = this.epochRunning;
    s.tEpoch = this.tEpoch;
    s.lastAckAt = this.lastAckAt;
    s.cwndEpoch = this.cwndEpoch;
    s.wEst = this.wEst;
    s.alpha = this.alpha;
    s.recovering = this.recovering;
    s.hystart.copyFrom(this.hystart);
    this.hasSaved = true;
  }

  /**
   * §4.6: max(flight_size * beta_cubic, 2 MSS), whole bytes. On a loss onLoss passes the flight no
   * larger than cwnd: the flight counts SACKed data (SND.MAX - SND.UNA), and behind a hole that pins
   * SND.UNA under heavy loss it grows to several windows, so a loss would raise ssthresh above the
   * window it reduces (seeded runs at 5% loss sat at 50-110 segments, six times Reno's rate). §4.6
   * notes that implementations use cwnd here instead, as Linux does; the smaller of the two keeps the
   * RFC's flight_size for an application-limited sender and never raises the window.
   */
  private reducedSsthresh(flight: number): number {
    return Math.max(Math.floor(flight * BETA_CUBIC), 2 * this.mss);
  }
}

function checkMss(mss: number): number {
  if (!Number.isInteger(mss) || mss < 1) throw new RangeError(`CUBIC: MSS must be a positive integer, not ${mss}`);
  return mss;
}
