/**
 * TCP keep-alives (RFC 1122 §4.2.3.6): after `idle` ms without hearing from the peer, a probe every
 * `interval` ms; after `probes` unanswered probes the connection is given up (ETIMEDOUT). Off unless
 * the owner turns them on (setKeepAlive), as the RFC requires. The probe itself (an old sequence
 * number, no data: the peer answers with an ACK) is built by output.ts.
 */

export const enum KeepAliveAction {
  None,
  Probe,
  GiveUp,
}

export class KeepAlive {
  private idle = 0;
  private _at = Infinity;
  private sent = 0;
  private probeDue = false;

  get at(): number {
    return this._at;
  }

  get enabled(): boolean {
    return this.idle > 0;
  }

  set(enable: boolean, idleMs: number, lastRecvAt: number): void {
    this.idle = enable ? Math.max(1, idleMs) : 0;
    this.sent = 0;
    this._at = enable ? lastRecvAt + this.idle : Infinity;
  }

  /** An acceptable segment arrived: the peer is alive. */
  onHeard(): void {
    this.sent = 0;
  }

  /**
   * The deadline passed. Re-arms for the real deadline if the peer was heard since (the timer is not
   * moved per segment), else probes or gives up. `applies`: the state allows keep-alives.
   */
  expire(now: number, lastRecvAt: number, applies: boolean, intervalMs: number, probes: number): KeepAliveAction {
    this._at = Infinity;
    if (this.idle === 0 || !applies) return KeepAliveAction.None;
    const due = lastRecvAt + this.idle + this.sent * intervalMs;
    if (now < due) {
      this._at = due;
      return KeepAliveAction.None;
    }
    if (this.sent >= probes) return KeepAliveAction.GiveUp;
    this.sent++;
    this.probeDue = true;
    this._at = now + intervalMs;
    return KeepAliveAction.Probe;
  }

  takeProbe(): boolean {
    const p = this.probeDue;
    this.probeDue = false;
    return p;
  }

  clear(): void {
    this._at = Infinity;
  }
}
