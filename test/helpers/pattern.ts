/**
 * Deterministic test data, the one generator every test and simulation benchmark uses: `n` bytes of
 * the seeded xoshiro128** stream (src/util/random.ts), four bytes per draw, little end first. The
 * golden wire recordings (test/tcp/golden) were made with it, so its output must not change.
 */
import { Rng } from '../../src/util/random.ts';

export function pattern(n: number, seed = 7): Buffer {
  const r = new Rng(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) {
    const v = r.nextU32();
    out[i] = v & 0xff;
    if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = v >>> 24;
  }
  return out;
}
