/**
 * Classic pcap files (the libpcap format tcpdump and Wireshark read), written and read.
 *
 *   Global header (24 bytes)              Record header (16 bytes), then incl_len bytes of packet
 *   +----------------------------+        +----------------------------+
 *   | magic        u32           |        | ts_sec       u32           |
 *   | version      u16 2, u16 4  |        | ts_usec      u32 (or nsec) |
 *   | thiszone     i32 0         |        | incl_len     u32           |
 *   | sigfigs      u32 0         |        | orig_len     u32           |
 *   | snaplen      u32           |        +----------------------------+
 *   | network      u32           |
 *   +----------------------------+
 *
 * Fields are written little-endian; a reader tells the byte order (and microsecond 0xa1b2c3d4 from
 * nanosecond 0xa1b23c4d resolution) by the magic. Our packets are bare IPv4 datagrams, so the link
 * type is 101, LINKTYPE_RAW ("raw IP; the packet begins with an IPv4 or IPv6 header").
 *
 * Writing is buffered: records are appended to an in-memory chunk, and a chunk is written out with
 * one system call when it fills (or on flush/close), never one call per packet.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { WireError } from '../util/errors.ts';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_LINUX_SLL2 = 276;

const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

export type PcapPrecision = 'us' | 'ns';

/** Where the bytes go: a file (PcapWriter.open) or anything else (a test's array). */
export interface PcapSink {
  write(chunk: Uint8Array): void;
  close(): void;
}

export interface PcapWriterOptions {
  /** Timestamp resolution (default 'us'). */
  precision?: PcapPrecision;
  /** Largest number of bytes kept per packet (default 65535); longer packets are truncated. */
  snaplen?: number;
  linkType?: number;
  /** Wall-clock time in ms since the epoch, fractional (default performance.timeOrigin + performance.now()). */
  now?: () => number;
  /** Size of the write buffer in bytes (default 64 KiB). */
  chunkBytes?: number;
  /**
   * For files: also flush every this many ms so that a live capture can be read while it runs
   * (default 1000; 0 disables). The timer is unref'd: it never keeps the process alive.
   */
  flushIntervalMs?: number;
}

function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export class PcapWriter {
  readonly precision: PcapPrecision;
  readonly snaplen: number;
  readonly linkType: number;
  private readonly now: () => number;
  private readonly chunkBytes: number;
  private chunk: Uint8Array;
  private view: DataView;
  private used = 0;
  private closed = false;
  private interval: ReturnType<typeof setInterval> | undefined;
  /** Records written so far. */
  packets = 0;
  /** A write error from the periodic flush, rethrown by the next flush() or close. */
  private error: unknown;

  constructor(
    private readonly sink: PcapSink,
    opts: PcapWriterOptions = {},
  ) {
    this.precision = opts.precision ?? 'us';
    this.snaplen = opts.snaplen ?? 65535;
    this.linkType = opts.linkType ?? LINKTYPE_RAW;
    this.now = opts.now ?? wallClockMs;
    this.chunkBytes = Math.max(opts.chunkBytes ?? 65536, GLOBAL_HEADER_LEN);
    this.chunk = new Uint8Array(this.chunkBytes);
    this.view = new DataView(this.chunk.buffer);
    const v = this.view;
    v.setUint32(0, this.precision === 'ns' ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, this.snaplen, true);
    v.setUint32(20, this.linkType, true);
    this.used = GLOBAL_HEADER_LEN;
    const every = opts.flushIntervalMs ?? 0;
    if (every > 0) {
      this.interval = setInterval(() => {
        try {
          this.flush();
        } catch (err) {
          // Not from a timer callback (that would crash the process): keep it for flush()/close().
          this.error = err;
          clearInterval(this.interval);
        }
      }, every);
      this.interval.unref();
    }
  }

  /** Create (truncate) a pcap file. Throws the fs error (ENOENT, EACCES) at once. */
  static open(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    const fd = openSync(path, 'w');
    const sink: PcapSink = {
      write: (chunk) => {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      },
      close: () => closeSync(fd),
    };
    return new PcapWriter(sink, { flushIntervalMs: 1000, ...opts });
  }

  /** Append one packet. `tsMs` is wall-clock ms since the epoch (default: now). */
  write(packet: Uint8Array, tsMs: number = this.now()): void {
    if (this.closed) return;
    const incl = Math.min(packet.length, this.snaplen);
    const need = RECORD_HEADER_LEN + incl;
    if (this.used + need > this.chunk.length) {
      this.flush();
      if (need > this.chunk.length) {
        this.chunk = new Uint8Array(need);
        this.view = new DataView(this.chunk.buffer);
      }
    }
    let sec = Math.floor(tsMs / 1000);
    const scale = this.precision === 'ns' ? 1e6 : 1e3;
    let frac = Math.round((tsMs - sec * 1000) * scale);
    if (frac >= 1000 * scale) {
      sec += 1;
      frac -= 1000 * scale;
    }
    const v = this.view;
    const o = this.used;
    v.setUint32(o, sec >>> 0, true);
    v.setUint32(o + 4, frac, true);
    v.setUint32(o + 8, incl, true);
    v.setUint32(o + 12, packet.length, true);
    this.chunk.set(incl === packet.length ? packet : packet.subarray(0, incl), o + RECORD_HEADER_LEN);
    this.used = o + need;
    this.packets++;
  }

  /** Write out everything buffered (one write). */
  flush(): void {
    if (this.error !== undefined) {
      const err = this.error;
      this.error = undefined;
      throw err;
    }
    if (this.used === 0) return;
    this.sink.write(this.chunk.subarray(0, this.used));
    this.used = 0;
    if (this.chunk.length !== this.chunkBytes) {
      this.chunk = new Uint8Array(this.chunkBytes);
      this.view = new DataView(this.chunk.buffer);
    }
  }

  /** Flush and close, synchronously: safe in a process 'exit' handler. Idempotent. */
  closeSync(): void {
    if (this.closed) return;
    if (this.interval !== undefined) clearInterval(this.interval);
    this.closed = true;
    try {
      this.flush();
    } finally {
      this.sink.close();
    }
  }

  /** Flush and close. Idempotent. */
  close(): Promise<void> {
    try {
      this.closeSync();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
}

/** A sink that collects the bytes in memory (tests, or capturing to serve over HTTP). */
export class MemoryPcapSink implements PcapSink {
  private readonly parts: Uint8Array[] = [];
  closed = false;

  write(chunk: Uint8Array): void {
    this.parts.push(chunk.slice());
  }

  close(): void {
    this.closed = true;
  }

  bytes(): Uint8Array {
    const total = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

export interface PcapRecord {
  /** Wall-clock ms since the epoch (fractional). */
  tsMs: number;
  /** The captured bytes (incl_len of them). */
  data: Uint8Array;
  /** The packet's length on the wire (larger than data.length when truncated by the snaplen). */
  origLength: number;
}

export interface PcapFile {
  linkType: number;
  precision: PcapPrecision;
  snaplen: number;
  packets: PcapRecord[];
}

/** Parse a whole classic pcap file, or a WireError (ERR_PCAP_*) for a bad magic or a truncated file. */
export function readPcap(buf: Uint8Array): PcapFile | WireError {
  if (buf.length < GLOBAL_HEADER_LEN) return new WireError('ERR_PCAP_TRUNCATED', `pcap: ${buf.length} bytes is shorter than the 24-byte global header`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let le: boolean;
  let precision: PcapPrecision;
  const magicLe = v.getUint32(0, true);
  const magicBe = v.getUint32(0, false);
  if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) {
    le = true;
    precision = magicLe === PCAP_MAGIC_NS ? 'ns' : 'us';
  } else if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS) {
    le = false;
    precision = magicBe === PCAP_MAGIC_NS ? 'ns' : 'us';
  } else {
    return new WireError('ERR_PCAP_BAD_MAGIC', `pcap: bad magic 0x${magicBe.toString(16).padStart(8, '0')}: neither a pcap nor a pcapng file`);
  }
  const snaplen = v.getUint32(16, le);
  const linkType = v.getUint32(20, le) & 0x0fffffff; // the top bits may carry FCS information
  const packets: PcapRecord[] = [];
  const scale = precision === 'ns' ? 1e6 : 1e3;
  let o = GLOBAL_HEADER_LEN;
  while (o < buf.length) {
    if (o + RECORD_HEADER_LEN > buf.length) return new WireError('ERR_PCAP_TRUNCATED', `pcap: record header at offset ${o} is truncated`);
    const sec = v.getUint32(o, le);
    const frac = v.getUint32(o + 4, le);
    const incl = v.getUint32(o + 8, le);
    const orig = v.getUint32(o + 12, le);
    const start = o + RECORD_HEADER_LEN;
    if (start + incl > buf.length) return new WireError('ERR_PCAP_TRUNCATED', `pcap: record at offset ${o} claims ${incl} bytes, only ${buf.length - start} left`);
    packets.push({ tsMs: sec * 1000 + frac / scale, data: buf.subarray(start, start + incl), origLength: orig });
    o = start + incl;
  }
  return { linkType, precision, snaplen, packets };
}
