/**
 * Retransmission timeout, RFC 6298.
 *  §2.1  before any measurement RTO = 1 s (we allow a smaller configured initial value for tests)
 *  §2.2  first measurement R: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, K*RTTVAR), K = 4
 *  §2.3  later: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, SRTT = 7/8 SRTT + 1/8 R'
 *  §2.4  RTO below the minimum is rounded up (RFC 6298 says 1 s; Linux uses 200 ms, TCP_RTO_MIN,
 *        and so do we by default), §2.5 a maximum may be placed (>= 60 s; default 120 s as Linux)
 *  §3    Karn: no samples from retransmitted segments (the caller enforces it, or uses timestamps,
 *        RFC 7323 §4)
 *  §5.5  on expiry, back off: RTO = RTO * 2 (up to the maximum); §5.7 a new sample undoes it.
 */
export interface RttOptions {
  minRtoMs?: number;
  maxRtoMs?: number;
  initialRtoMs?: number;
  /** Clock granularity G (ms). */
  granularityMs?: number;
}

export class RttEstimator {
  srtt: number | undefined;
  rttvar: number | undefined;
  private base: number;
  private backoffShift = 0;
  readonly minRto: number;
  readonly maxRto: number;
  private readonly g: number;

  constructor(opts: RttOptions = {}) {
    this.minRto = opts.minRtoMs ?? 200;
    this.maxRto = opts.maxRtoMs ?? 120_000;
    this.g = opts.granularityMs ?? 1;
    this.base = opts.initialRtoMs ?? 1000;
  }

  /** The current RTO (ms), backoff included. */
  get rto(): number {
    return Math.min(this.maxRto, this.base * 2 ** this.backoffShift);
  }

  get backoffs(): number {
    return this.backoffShift;
  }

  /** A round-trip sample R (ms). */
  sample(r: number): void {
    if (r < 0) return;
    if (this.srtt === undefined || this.rttvar === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.base = Math.min(this.maxRto, Math.max(this.minRto, this.srtt + Math.max(this.g, 4 * this.rttvar)));
    this.backoffShift = 0;
  }

  /** RFC 6298 §5.5: the timer expired. */
  backoff(): void {
    if (this.base * 2 ** this.backoffShift < this.maxRto) this.backoffShift++;
  }

  /** Forget the backoff (e.g. an ACK for new data arrived, §5.7 spirit, as Linux does). */
  resetBackoff(): void {
    this.backoffShift = 0;
  }
}
