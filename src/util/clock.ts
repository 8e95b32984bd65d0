/**
 * Time, injected. Protocol code never calls setTimeout or Date.now itself: it is handed `now`
 * (milliseconds, monotonic) and says when it next needs to run (`pollAt`). The stack owns the one
 * real timer, through a Clock. Tests use ManualClock and move time by hand, so every timer-driven
 * behaviour (RTO, delayed ACK, TIME-WAIT, keep-alive, reassembly timeout) runs in virtual time.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic clock; fractional values allowed. */
  now(): number;
  /** Call `fn` once when now() >= atMs. */
  setTimer(atMs: number, fn: () => void): TimerHandle;
}

/** The real clock: performance.now() and one setTimeout per armed timer. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimer(atMs: number, fn: () => void): TimerHandle {
    const delay = Math.max(0, atMs - this.now());
    const t = setTimeout(fn, Math.ceil(delay));
    // A pending protocol timer (TIME-WAIT, keep-alive) must not keep the process alive on its own.
    t.unref();
    return new SystemTimer(t);
  }
}

/** SystemClock's handle: the Timeout and a method, no closure per timer (HTTP arms two per request). */
class SystemTimer implements TimerHandle {
  constructor(private readonly timeout: ReturnType<typeof setTimeout>) {}

  cancel(): void {
    clearTimeout(this.timeout);
  }
}

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Virtual time for tests: nothing happens until advance() or runUntil() is called. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(atMs: number, fn: () => void): TimerHandle {
    const timer: ManualTimer = { at: atMs, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** The time of the earliest pending timer, or undefined when none is armed. */
  nextTimerAt(): number | undefined {
    let best: ManualTimer | undefined;
    for (const tm of this.timers) {
      if (tm.cancelled) continue;
      if (best === undefined || tm.at < best.at || (tm.at === best.at && tm.seq < best.seq)) best = tm;
    }
    return best?.at;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in time order. */
  advance(ms: number): void {
    this.runUntil(this.t + ms);
  }

  /** Fire timers due at or before `target` (timers may arm new ones), then set now() = target. */
  runUntil(target: number): void {
    for (;;) {
      this.timers = this.timers.filter((tm) => !tm.cancelled);
      let idx = -1;
      for (let i = 0; i < this.timers.length; i++) {
        const tm = this.timers[i]!;
        if (tm.at > target) continue;
        if (idx < 0 || tm.at < this.timers[idx]!.at || (tm.at === this.timers[idx]!.at && tm.seq < this.timers[idx]!.seq)) idx = i;
      }
      if (idx < 0) break;
      const [tm] = this.timers.splice(idx, 1);
      this.t = Math.max(this.t, tm!.at);
      tm!.fn();
    }
    this.t = Math.max(this.t, target);
  }
}
