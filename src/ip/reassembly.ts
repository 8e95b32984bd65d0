/**
 * IPv4 reassembly (RFC 791 §3.2, "reassembly procedure"; RFC 1122 §3.3.2).
 *
 * Fragments are grouped by (source, destination, protocol, identification): RFC 791 §3.2 says these
 * four fields identify the datagram a fragment belongs to. For each datagram in progress we keep its
 * fragments sorted by offset, the number of data bytes received, and the end of the datagram once the
 * last fragment (MF = 0) has told us. Because overlapping fragments are refused, the datagram is
 * complete exactly when the received byte count equals that end: no hole bitmap is needed.
 *
 * Policy, stricter than RFC 791 (which lets later data overwrite earlier data):
 *  - an exact duplicate (same offset, same length) is ignored and counted;
 *  - any other overlap drops the whole datagram, as RFC 5722 requires for IPv6 and as Linux does for
 *    IPv4 since 4.19: overlaps are how fragment attacks hide data from inspection;
 *  - memory is bounded: at most `maxDatagrams` in progress and `maxBytes` of fragment data (copied
 *    out of the device's buffers, so the count is honest); the oldest datagram is evicted to make
 *    room (counted as overflow);
 *  - a datagram still incomplete `timeoutMs` after its first fragment arrived is discarded. RFC 1122
 *    §3.3.2 asks for a fixed timeout (recommending 60-120 s); 30 s is Linux's default
 *    (net.ipv4.ipfrag_time). If fragment zero had arrived, `onTimeout` gets its header and first 8
 *    data bytes so that the caller can send an ICMP time exceeded, code 1 (RFC 792).
 */
import {
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_MAX_TOTAL_LENGTH,
  IPV4_OFFSET_MASK,
  ipv4Dst,
  ipv4FragmentWord,
  ipv4HeaderLength,
  ipv4Identification,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  refreshIpv4HeaderChecksum,
} from '../wire/ipv4.ts';
import type { Ipv4Counters } from './counters.ts';

export interface ReassemblyOptions {
  /** Discard an incomplete datagram this long after its first fragment arrived. Default 30000. */
  timeoutMs?: number;
  /** Datagrams in progress at once. Default 64. */
  maxDatagrams?: number;
  /** Fragment bytes (data + the first fragment's header) held at once. Default 4 MiB. */
  maxBytes?: number;
}

interface Fragment {
  /** Data offset in the datagram, bytes. */
  start: number;
  end: number;
  data: Uint8Array;
}

interface Datagram {
  deadline: number;
  fragments: Fragment[];
  /** Data bytes received (no overlaps, so this is also the coverage). */
  received: number;
  /** End of the datagram's data, known once the MF = 0 fragment arrived; -1 before. */
  totalEnd: number;
  /** Fragment zero's header and first 8 data bytes (the datagram's header; what ICMP quotes). */
  first: Uint8Array | undefined;
  bytes: number;
}

export class Reassembler {
  private readonly timeoutMs: number;
  private readonly maxDatagrams: number;
  private readonly maxBytes: number;
  /** Insertion order is arrival order of the first fragment, hence deadline order (fixed timeout). */
  private readonly table = new Map<string, Datagram>();
  private heldBytes = 0;

  constructor(
    opts: ReassemblyOptions,
    private readonly counters: Ipv4Counters,
    private readonly onTimeout?: (now: number, firstFragment: Uint8Array) => void,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxDatagrams = Math.max(1, opts.maxDatagrams ?? 64);
    this.maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  }

  /** Datagrams in progress. */
  get pending(): number {
    return this.table.size;
  }

  /** Bytes held by incomplete datagrams. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Add one fragment: a packet that passed checkIpv4, trimmed to its total length, with MF set or a
   * non-zero offset. Returns the reassembled datagram when this fragment completes it.
   */
  add(now: number, packet: Uint8Array): Uint8Array | undefined {
    this.counters.reasmFragments++;
    const headerLength = ipv4HeaderLength(packet);
    const fragWord = ipv4FragmentWord(packet);
    const more = (fragWord & IPV4_FLAG_MF) !== 0;
    const start = (fragWord & IPV4_OFFSET_MASK) * 8;
    const data = packet.subarray(headerLength, ipv4TotalLength(packet));
    const end = start + data.length;
    const key = `${ipv4Src(packet)},${ipv4Dst(packet)},${ipv4Protocol(packet) * 65536 + ipv4Identification(packet)}`;

    let d = this.table.get(key);
    if (d === undefined) {
      if (this.table.size >= this.maxDatagrams) this.evictOldest();
      d = { deadline: now + this.timeoutMs, fragments: [], received: 0, totalEnd: -1, first: undefined, bytes: 0 };
      this.table.set(key, d);
    }

    if (!more) {
      // The last fragment fixes the datagram's length; everything must fit inside it.
      const lastEnd = d.fragments.length > 0 ? d.fragments[d.fragments.length - 1]!.end : 0;
      if ((d.totalEnd >= 0 && d.totalEnd !== end) || lastEnd > end) return this.dropInconsistent(key, d);
      d.totalEnd = end;
    } else if (d.totalEnd >= 0 && end > d.totalEnd) {
      return this.dropInconsistent(key, d);
    }
    if (start === 0) {
      // RFC 791 §3.1 total length counts the header: the reassembled datagram must fit in 65535.
      if (d.totalEnd >= 0 && headerLength + d.totalEnd > IPV4_MAX_TOTAL_LENGTH) return this.dropInconsistent(key, d);
    }

    if (data.length > 0) {
      const frags = d.fragments;
      // Binary search: the first fragment starting at or after `start`.
      let lo = 0;
      let hi = frags.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (frags[mid]!.start < start) lo = mid + 1;
        else hi = mid;
      }
      const next = frags[lo];
      if (next !== undefined && next.start === start && next.end === end) {
        this.counters.reasmDuplicates++;
        return undefined;
      }
      // Existing fragments never overlap each other, so only the neighbours can overlap the new one.
      const prev = lo > 0 ? frags[lo - 1] : undefined;
      if ((prev !== undefined && prev.end > start) || (next !== undefined && next.start < end)) {
        this.counters.reasmOverlap++;
        this.remove(key, d);
        return undefined;
      }
      // Copy: the device hands out views into one buffer per batch, and a held view would pin the
      // whole batch, making the byte bound below a fiction.
      frags.splice(lo, 0, { start, end, data: data.slice() });
      d.received += data.length;
      d.bytes += data.length;
      this.heldBytes += data.length;
    }
    if (start === 0 && d.first === undefined) {
      // Its header becomes the datagram's; header + 8 data bytes is also what an ICMP error quotes.
      d.first = packet.slice(0, Math.min(packet.length, headerLength + 8));
      d.bytes += d.first.length;
      this.heldBytes += d.first.length;
    }

    if (d.first !== undefined && d.totalEnd >= 0 && d.received === d.totalEnd) {
      if (ipv4HeaderLength(d.first) + d.totalEnd > IPV4_MAX_TOTAL_LENGTH) return this.dropInconsistent(key, d);
      this.remove(key, d);
      this.counters.reasmOk++;
      return assemble(d);
    }

    // Keep within the memory bound: evict the oldest others first, then give up on this one.
    while (this.heldBytes > this.maxBytes) {
      const oldestKey = this.table.keys().next().value as string;
      if (oldestKey === key && this.table.size === 1) {
        this.counters.reasmOverflow++;
        this.remove(key, d);
        break;
      }
      if (oldestKey === key) {
        // Ours is the oldest: evict the next one instead (Map iteration order).
        const it = this.table.keys();
        it.next();
        const other = it.next().value as string;
        this.counters.reasmOverflow++;
        this.remove(other, this.table.get(other)!);
      } else {
        this.evictOldest();
      }
    }
    return undefined;
  }

  /** When the oldest incomplete datagram times out, or undefined when none is pending. */
  pollAt(): number | undefined {
    for (const d of this.table.values()) return d.deadline;
    return undefined;
  }

  /** Discard the datagrams whose time is up. */
  poll(now: number): void {
    for (const [key, d] of this.table) {
      if (d.deadline > now) break;
      this.counters.reasmTimeout++;
      this.remove(key, d);
      if (d.first !== undefined && this.onTimeout !== undefined) this.onTimeout(now, d.first);
    }
  }

  private evictOldest(): void {
    for (const [key, d] of this.table) {
      this.counters.reasmOverflow++;
      this.remove(key, d);
      return;
    }
  }

  private dropInconsistent(key: string, d: Datagram): undefined {
    this.counters.reasmInconsistent++;
    this.remove(key, d);
    return undefined;
  }

  private remove(key: string, d: Datagram): void {
    if (this.table.delete(key)) this.heldBytes -= d.bytes;
  }
}

/** Copy the fragments behind fragment zero's header and fix up the header fields. */
function assemble(d: Datagram): Uint8Array {
  const first = d.first!;
  const headerLength = ipv4HeaderLength(first);
  const totalLength = headerLength + d.totalEnd;
  const out = new Uint8Array(totalLength);
  out.set(first.subarray(0, headerLength), 0);
  for (const f of d.fragments) out.set(f.data, headerLength + f.start);
  out[2] = totalLength >>> 8;
  out[3] = totalLength & 0xff;
  // A whole datagram: no MF, offset 0; DF as fragment zero had it.
  const fragWord = ipv4FragmentWord(first) & IPV4_FLAG_DF;
  out[6] = fragWord >>> 8;
  out[7] = 0;
  refreshIpv4HeaderChecksum(out);
  return out;
}
