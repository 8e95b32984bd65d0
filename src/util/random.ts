/**
 * A small seeded pseudo-random generator for everything that must be reproducible: fault injection,
 * simulated workloads, property tests. Protocol and fault code never call Math.random: a failing run
 * is replayed by its seed.
 *
 * The generator is xoshiro128** (Blackman & Vigna, 2018): 128 bits of state, period 2^128 - 1, good
 * statistical quality, and only 32-bit integer operations (Math.imul), so it is exact in JavaScript.
 * The state is filled from the 32-bit seed with splitmix32, so that nearby seeds (1, 2, 3) give
 * unrelated streams and the all-zero state (which xoshiro must avoid) cannot occur.
 */

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** The seed this generator started from (for logs: "failing seed: 7"). */
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`Rng seed must be an integer, got ${seed}`);
    this.seed = seed;
    // splitmix32: a counter passed through a 32-bit mixing function, one output per state word.
    let x = seed >>> 0;
    const split = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.s0 = split();
    this.s1 = split();
    this.s2 = split();
    this.s3 = split();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A generator with its raw xoshiro128** state (not all zero): for checking against reference vectors. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    const r = new Rng(0);
    r.s0 = s0 >>> 0;
    r.s1 = s1 >>> 0;
    r.s2 = s2 >>> 0;
    r.s3 = s3 >>> 0;
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) throw new RangeError('xoshiro128** state must not be all zero');
    return r;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float uniformly distributed in [0, 1) (32 bits of resolution). */
  next(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** An integer uniformly distributed in [0, n). `n` must be a positive integer up to 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new RangeError(`Rng.int(n) needs 1 <= n <= 2^32, got ${n}`);
    // Multiply-shift (Lemire) without the rejection step: the bias is below n / 2^32, far below
    // anything a fault pattern or a test could notice.
    return Math.floor(this.next() * n);
  }

  /** True with probability p. Always consumes exactly one draw, so patterns stay aligned across rates. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
