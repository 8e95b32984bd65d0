/**
 * Path MTU per destination (RFC 1191), as a host keeps it: what "fragmentation needed and DF set"
 * messages (ICMP type 3 code 4) taught us, for a while.
 *
 *  - RFC 1191 §3: the estimate starts at the first hop's MTU (the link's) and only comes down on a
 *    "fragmentation needed"; a host MUST NOT raise it because of one (an increase is ignored).
 *    §6.3: it ages: after 10 minutes the entry goes and the link MTU applies again (Linux:
 *    net.ipv4.route.mtu_expires = 600 s).
 *  - RFC 1191 §3: never below 68 octets (RFC 791's minimum). A reported MTU below 68 is nonsense
 *    and ignored; one below `minMtu` (default 552, Linux's net.ipv4.route.min_pmtu) is raised to it,
 *    so that a forged message cannot make a connection send tiny segments (RFC 5927 §7.2).
 *  - RFC 1191 §5: a router that predates RFC 1191 sends 0 for the next-hop MTU; then the estimate is
 *    the plateau below the size of the datagram it refused (the table of RFC 1191 §7).
 *
 * Bounded: at most `maxEntries` destinations; the least recently lowered one goes first. Nothing is
 * allocated per packet: an entry per destination, when its MTU is lowered.
 */
import type { Ipv4Address } from '../wire/ipv4-address.ts';

/** RFC 791 §3.2 / RFC 1191 §3: the smallest MTU a path may have. */
export const PMTU_ABSOLUTE_MIN = 68;
/** Linux's net.ipv4.route.min_pmtu: the floor for learned values. */
export const PMTU_DEFAULT_MIN = 552;
/** RFC 1191 §6.3: ten minutes before an estimate may be raised again. */
export const PMTU_DEFAULT_EXPIRES_MS = 600_000;

/** RFC 1191 §7, table 7-1: the plateaus, largest first (only those below 65535). */
const PLATEAUS = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

export interface PathMtuCacheOptions {
  /** Destinations remembered (default 256). */
  maxEntries?: number;
  /** How long a learned value lasts (default 600 000 ms, RFC 1191 §6.3). */
  expiresMs?: number;
  /** The floor for learned values (default 552). */
  minMtu?: number;
}

interface Entry {
  mtu: number;
  expiresAt: number;
}

export class PathMtuCache {
  /** Values learned, ignored (increases, nonsense, or nothing to lower), destinations evicted. */
  learned = 0;
  ignored = 0;
  evicted = 0;
  private readonly entries = new Map<Ipv4Address, Entry>();
  private readonly maxEntries: number;
  private readonly expiresMs: number;
  private readonly minMtu: number;

  constructor(
    private readonly linkMtu: number,
    opts: PathMtuCacheOptions = {},
  ) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? 256);
    this.expiresMs = opts.expiresMs ?? PMTU_DEFAULT_EXPIRES_MS;
    this.minMtu = Math.max(PMTU_ABSOLUTE_MIN, opts.minMtu ?? PMTU_DEFAULT_MIN);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The path MTU to `dst` now. */
  get(dst: Ipv4Address, now: number): number {
    const e = this.entries.get(dst);
    if (e === undefined) return this.linkMtu;
    if (e.expiresAt <= now) {
      this.entries.delete(dst); // aged out (RFC 1191 §6.3): the first hop's MTU again
      return this.linkMtu;
    }
    return e.mtu;
  }

  /**
   * A "fragmentation needed" for a datagram of `quotedLength` bytes to `dst` said `nextHopMtu`
   * (0: an old router that did not say). Returns the path MTU in force afterwards.
   */
  learn(dst: Ipv4Address, nextHopMtu: number, quotedLength: number, now: number): number {
    const current = this.get(dst, now);
    let mtu = nextHopMtu;
    if (mtu === 0) mtu = plateauBelow(quotedLength); // RFC 1191 §5
    if (mtu < PMTU_ABSOLUTE_MIN) {
      this.ignored++;
      return current;
    }
    if (mtu < this.minMtu) mtu = this.minMtu;
    if (mtu >= current) {
      this.ignored++; // RFC 1191 §3: never raised by a "fragmentation needed"
      return current;
    }
    this.entries.delete(dst); // re-inserted last: the Map's order is the order of lowering
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as Ipv4Address;
      this.entries.delete(oldest);
      this.evicted++;
    }
    this.entries.set(dst, { mtu, expiresAt: now + this.expiresMs });
    this.learned++;
    return mtu;
  }
}

/** RFC 1191 §5: the largest plateau below the refused datagram's size (0 when there is none). */
export function plateauBelow(length: number): number {
  for (const p of PLATEAUS) if (p < length) return p;
  return 0;
}
