/**
 * Deterministic test data, the one generator every test and simulation benchmark uses: bytes of the
 * seeded xoshiro128** stream (src/util/random.ts), four bytes per draw, little end first. The golden
 * wire recordings (test/tcp/golden) and the fuzzer's seeds were made with it, so its output must not
 * change.
 */
import { Rng } from '../../src/util/random.ts';

/** `n` bytes drawn from `rng` (which moves on by ceil(n / 4) draws). */
export function drawBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = rng.nextU32();
    out[i] = v & 0xff;
    if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = v >>> 24;
  }
  return out;
}

/** `n` bytes of the stream seeded with `seed`: the same bytes for the same (n, seed), everywhere. */
export function pattern(n: number, seed = 7): Buffer {
  const b = drawBytes(new Rng(seed), n);
  return Buffer.from(b.buffer, b.byteOffset, b.length);
}
