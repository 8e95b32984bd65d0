/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4: "all arithmetic dealing with sequence numbers
 * must be performed modulo 2**32"). Comparisons use the signed 32-bit distance, so they are correct
 * across wraparound as long as the two numbers are less than 2^31 apart (which the window limits
 * guarantee, RFC 7323 §2.3). Never compare sequence numbers with `<` directly.
 */

export type SeqNum = number;

/** (a + n) mod 2^32, as an unsigned number. */
export function seqAdd(a: SeqNum, n: number): SeqNum {
  return (a + n) >>> 0;
}

/** The signed distance a - b in (-2^31, 2^31]: positive when a is "after" b. */
export function seqSub(a: SeqNum, b: SeqNum): number {
  return (a - b) | 0;
}

export function seqLt(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: SeqNum, b: SeqNum): SeqNum {
  return seqGt(a, b) ? a : b;
}

/** The earlier of two sequence numbers. */
export function seqMin(a: SeqNum, b: SeqNum): SeqNum {
  return seqLt(a, b) ? a : b;
}

/** start <= seq < start + len (mod 2^32). An empty window contains nothing. */
export function inWindow(seq: SeqNum, start: SeqNum, len: number): boolean {
  const d = (seq - start) >>> 0;
  return d < len;
}
