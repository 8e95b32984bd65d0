/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of the
 * data taken as big-endian 16-bit words, an odd last byte padded with zero.
 *
 * `onesSum` returns the folded partial sum so that sums can be chained (pseudo-header + segment)
 * without copying; `checksum` finishes it. A received header or segment including its checksum field
 * verifies when the finished checksum over it is 0 (RFC 1071 §1, "(3) To check a checksum").
 */

/** Add the 16-bit words of buf[start, end) to `initial` and fold the carries to 16 bits. */
export function onesSum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  let sum = initial;
  let i = start;
  // Deferred carries (RFC 1071 §2(C)): 32-bit accumulation, folded once at the end. A JS number holds
  // 2^53 exactly, so no overflow is possible for any packet size we handle.
  const evenEnd = end - ((end - start) & 1);
  for (; i < evenEnd; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The one's complement of a folded sum: the value to put in a checksum field. */
export function finishChecksum(sum: number): number {
  return ~sum & 0xffff;
}

/** Checksum of buf[start, end). */
export function checksum(buf: Uint8Array, start = 0, end = buf.length): number {
  return finishChecksum(onesSum(buf, start, end));
}

/**
 * The partial sum of the TCP/UDP pseudo-header (RFC 9293 §3.1, RFC 768): source address,
 * destination address, zero, protocol, and the transport length (header + data).
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
