/**
 * Two Stacks joined by an in-memory link in real time (SystemClock), for socket tests that want the
 * whole stack under the node:net-style API. Not a test file itself.
 */
import { Stack } from '../../src/stack.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { SystemClock } from '../../src/util/clock.ts';

/** Stack a (10.0.0.1) and stack b (10.0.0.2) on one link without latency. */
export function stackPair(): { a: Stack; b: Stack } {
  const clock = new SystemClock();
  const [da, db] = createMemoryLink(clock, { latencyMs: 0 });
  const a = new Stack({ device: da, address: '10.0.0.1', clock });
  const b = new Stack({ device: db, address: '10.0.0.2', clock });
  return { a, b };
}

export const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every `stepMs`, at most `maxMs` (a bound, not a timing assertion). */
export async function until(cond: () => boolean, maxMs = 10_000, stepMs = 10): Promise<void> {
  for (let t = 0; t < maxMs && !cond(); t += stepMs) await wait(stepMs);
}
