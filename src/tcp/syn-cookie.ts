/**
 * SYN cookies (RFC 4987 §3.6), encoded the way Linux does them (net/ipv4/syncookies.c, described
 * here in our own words). When a listener's SYN queue is full, the SYN-ACK is sent without keeping
 * any state: everything the connection needs later is folded into our initial sequence number, and
 * the peer's ACK (which acknowledges ISN + 1) brings it back.
 *
 *   cookie = H1(tuple) + SEQ(client SYN) + (count << 24) + ((H2(tuple, count) + mssIndex) mod 2^24)
 *
 * H1 and H2 are keyed hashes (HMAC-SHA-256 truncated to 32 bits, the same F as RFC 6528 ISNs) under
 * two different labels; `count` is a minute counter, so a cookie is valid for the minute it was made
 * and the MAX_AGE minutes after it; `mssIndex` picks the MSS from a small table (the largest entry
 * not above the peer's MSS). Checking an ACK: subtract H1 and the client's ISN, read the count from
 * the top 8 bits, check its age, subtract H2(count): what remains must be a valid MSS index. A
 * forged ACK passes with probability about 4 / 2^24 per try.
 *
 * The options a cookie cannot carry (window scale, SACK-permitted) ride in the low 6 bits of our
 * TSval when the peer sent timestamps (its ACK echoes the TSval back): 4 bits of window scale (15:
 * none), 1 bit of SACK-permitted (bit 5, ECN in Linux, stays 0: we do not negotiate ECN). Without
 * timestamps the cookie SYN-ACK offers neither, as Linux does.
 */
import { keyedHash32 } from './isn.ts';

/** The MSS values a cookie can name (Linux's IPv4 table). */
export const COOKIE_MSS_TABLE: readonly number[] = Object.freeze([536, 1300, 1440, 1460]);
/** Minutes a cookie stays valid after the minute it was made in (Linux's MAX_SYNCOOKIE_AGE). */
export const COOKIE_MAX_AGE = 2;
const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;
const MINUTE_MS = 60_000;

/** Low bits of a cookie SYN-ACK's TSval that carry the options. */
export const TS_OPTION_BITS = 6;
const TS_OPTION_MASK = (1 << TS_OPTION_BITS) - 1;
const WSCALE_NONE = 0xf;

export class SynCookies {
  private readonly input = Buffer.alloc(14);

  constructor(private readonly key: Uint8Array) {}

  /** Our ISN for a SYN we keep no state for; `peerMss` is the MSS the SYN announced (or 536). */
  make(now: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number, clientIsn: number, peerMss: number): number {
    let index = 0;
    while (index + 1 < COOKIE_MSS_TABLE.length && COOKIE_MSS_TABLE[index + 1]! <= peerMss) index++;
    const count = minuteCount(now);
    const h1 = this.hash(1, localAddr, localPort, remoteAddr, remotePort, 0);
    const h2 = this.hash(2, localAddr, localPort, remoteAddr, remotePort, count);
    return (h1 + clientIsn + ((count << COOKIE_BITS) >>> 0) + ((h2 + index) & COOKIE_MASK)) >>> 0;
  }

  /**
   * Check the cookie an ACK returns (`cookie` = SEG.ACK - 1, `clientIsn` = SEG.SEQ - 1). Returns the
   * MSS it encodes, or undefined if it is not one of ours or too old.
   */
  check(now: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number, clientIsn: number, cookie: number): number | undefined {
    const h1 = this.hash(1, localAddr, localPort, remoteAddr, remotePort, 0);
    const rest = (cookie - h1 - clientIsn) >>> 0;
    const count = rest >>> COOKIE_BITS;
    const age = (minuteCount(now) - count) & 0xff;
    if (age > COOKIE_MAX_AGE) return undefined;
    const h2 = this.hash(2, localAddr, localPort, remoteAddr, remotePort, count);
    const index = (rest - h2) & COOKIE_MASK;
    return index < COOKIE_MSS_TABLE.length ? COOKIE_MSS_TABLE[index] : undefined;
  }

  private hash(label: number, la: number, lp: number, ra: number, rp: number, count: number): number {
    const b = this.input;
    b.writeUInt8(label, 0);
    b.writeUInt32BE(la >>> 0, 1);
    b.writeUInt16BE(lp, 5);
    b.writeUInt32BE(ra >>> 0, 7);
    b.writeUInt16BE(rp, 11);
    b.writeUInt8(count & 0xff, 13);
    return keyedHash32(this.key, b);
  }
}

function minuteCount(now: number): number {
  return Math.floor(now / MINUTE_MS) & 0xff;
}

/** Options a cookie SYN-ACK agreed to, as carried in its TSval. */
export interface CookieOptions {
  /** Our shift count was offered and the peer's is this (undefined: no window scaling). */
  windowScale: number | undefined;
  sackPermitted: boolean;
}

/**
 * The TSval of a cookie SYN-ACK: our clock with its low 6 bits replaced by the options; never ahead
 * of our clock (our later segments' TSvals must not go backwards, RFC 7323 §5.4).
 */
export function encodeCookieTsval(tsNow: number, opts: CookieOptions): number {
  const bits = (opts.windowScale === undefined ? WSCALE_NONE : Math.min(opts.windowScale, 14)) | (opts.sackPermitted ? 0x10 : 0);
  let v = ((tsNow & ~TS_OPTION_MASK) | bits) >>> 0;
  if (((v - tsNow) | 0) > 0) v = (v - (1 << TS_OPTION_BITS)) >>> 0;
  return v;
}

/** The options from the TSecr of the ACK that returns a cookie. */
export function decodeCookieTsecr(echo: number): CookieOptions {
  const ws = echo & 0xf;
  return { windowScale: ws === WSCALE_NONE ? undefined : ws, sackPermitted: (echo & 0x10) !== 0 };
}
