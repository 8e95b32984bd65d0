/** Shared by the codec tests. */
import { WireError } from '../../src/util/errors.ts';

/**
 * The code of the WireError `fn` returns (a decoder) or throws (an encoder), undefined when it
 * returns anything else; any other error is rethrown.
 */
export function codeOf(fn: () => unknown): string | undefined {
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    if (e instanceof WireError) return e.code;
    throw e;
  }
  return r instanceof WireError ? r.code : undefined;
}

/** The value a decoder returned, or the test fails with the WireError it returned instead. */
export function ok<T>(r: T | WireError): T {
  if (r instanceof WireError) throw r;
  return r;
}
