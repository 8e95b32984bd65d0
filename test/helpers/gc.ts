/**
 * A full garbage collection on demand, for the tests and scripts that check what memory is kept:
 * V8's gc(), exposed at run time, so no `--expose-gc` is needed on the command line.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined;

/** One full (mark-compact) collection. */
export function fullGc(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

/** The next macrotask: a WeakRef made or read in a job holds its target until that job ends. */
export const nextJob = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Which of the WeakRefs still reach their target, by name: assert it with toEqual. */
export function alive<T extends { [K in keyof T]: WeakRef<object> }>(refs: T): { [K in keyof T]: boolean } {
  const out = {} as { [K in keyof T]: boolean };
  for (const k of Object.keys(refs) as (keyof T)[]) out[k] = refs[k].deref() !== undefined;
  return out;
}
