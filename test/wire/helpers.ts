/** Shared by the codec tests. */
import { WireError } from '../../src/util/errors.ts';

/** The code of the WireError `fn` throws, undefined when it returns; any other error is rethrown. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
  return undefined;
}
