/**
 * Reading pcapng captures (what Wireshark, dumpcap and recent tcpdump write by default), for the
 * ladder. The format is a sequence of blocks (draft-ietf-opsawg-pcapng, "PCAP Next Generation (pcapng)
 * Capture File Format", §3.1 block structure):
 *
 *     Block Type (32) | Block Total Length (32) | Block Body ... | Block Total Length (32)
 *
 * A Section Header Block (§4.1, type 0x0A0D0D0A) starts each section; its Byte-Order Magic
 * 0x1A2B3C4D says in which byte order the section's numbers are written (writer's native order, so
 * both occur). Interface Description Blocks (§4.2, type 1) give each interface of the section its
 * link type and time-stamp resolution (option if_tsresol, §4.2: 10^-n, or 2^-n when the high bit is
 * set; 10^-6 when absent) and offset (if_tsoffset, seconds). Enhanced Packet Blocks (§4.3, type 6)
 * carry the packets, each naming its interface. Every other block (Simple Packet, Name Resolution,
 * Interface Statistics, custom, ...) is skipped by its length, as §3.1 allows.
 *
 * Garbage is a typed WireError (ERR_PCAPNG_*), returned as the codecs do (util/errors.ts), never a
 * crash or a loop: each block must be at least 12 bytes, a multiple of 4, inside the file, with
 * matching leading and trailing lengths.
 */
import { WireError } from '../util/errors.ts';

/** Block types (§4.1, §4.2, §4.3). */
export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_EPB = 0x00000006;
/** The Byte-Order Magic of a Section Header Block (§4.1). */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

export interface PcapngInterface {
  linkType: number;
  snaplen: number;
  /** Time-stamp units per second (if_tsresol). */
  unitsPerSecond: number;
  /** Seconds added to every time stamp (if_tsoffset). */
  offsetSeconds: number;
}

export interface PcapngPacket {
  /** Time stamp in ms since 1970 (with the interface's resolution and offset applied). */
  tsMs: number;
  data: Uint8Array;
  origLength: number;
  /** The link type of the interface the packet was captured on. */
  linkType: number;
  interfaceId: number;
}

export interface PcapngFile {
  /** Interfaces of all sections, in the order met (a new section starts numbering again). */
  interfaces: PcapngInterface[];
  packets: PcapngPacket[];
  /** Byte order of the first section. */
  littleEndian: boolean;
}

/** Does the buffer start like a pcapng file (a Section Header Block)? */
export function isPcapng(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x0a && buf[1] === 0x0d && buf[2] === 0x0d && buf[3] === 0x0a;
}

function fail(code: string, msg: string): never {
  throw new WireError(code, `pcapng: ${msg}`);
}

/** Parse a whole pcapng file, or the WireError (ERR_PCAPNG_*) saying what is malformed. */
export function readPcapng(buf: Uint8Array): PcapngFile | WireError {
  try {
    return parse(buf);
  } catch (err) {
    // The parser stops at the first fault by throwing it (fail()); the caller gets it as a value.
    if (err instanceof WireError) return err;
    throw err;
  }
}

function parse(buf: Uint8Array): PcapngFile {
  if (!isPcapng(buf)) fail('ERR_PCAPNG_BAD_MAGIC', 'the file does not start with a Section Header Block');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const all: PcapngInterface[] = [];
  const packets: PcapngPacket[] = [];
  let section: PcapngInterface[] = [];
  let le = true;
  let firstLe: boolean | undefined;
  let o = 0;
  while (o < buf.length) {
    if (o + 12 > buf.length) fail('ERR_PCAPNG_TRUNCATED', `block at offset ${o} is shorter than 12 bytes`);
    const type = v.getUint32(o, le);
    if (type === PCAPNG_SHB) {
      // The type reads the same in both orders; the magic after the length decides the order.
      if (o + 28 > buf.length) fail('ERR_PCAPNG_TRUNCATED', `section header at offset ${o} is truncated`);
      const magicLe = v.getUint32(o + 8, true);
      if (magicLe === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (v.getUint32(o + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else fail('ERR_PCAPNG_BAD_MAGIC', `section header at offset ${o} has no byte-order magic`);
      firstLe ??= le;
      const major = v.getUint16(o + 12, le);
      if (major !== 1) fail('ERR_PCAPNG_VERSION', `section at offset ${o} has version ${major}.${v.getUint16(o + 14, le)}, only 1.x is known`);
      section = [];
    }
    const len = v.getUint32(o + 4, le);
    if (len < 12 || len % 4 !== 0) fail('ERR_PCAPNG_BAD_BLOCK', `block at offset ${o} has length ${len} (at least 12, a multiple of 4)`);
    if (o + len > buf.length) fail('ERR_PCAPNG_TRUNCATED', `block at offset ${o} claims ${len} bytes, only ${buf.length - o} left`);
    if (v.getUint32(o + len - 4, le) !== len) fail('ERR_PCAPNG_BAD_BLOCK', `block at offset ${o}: its trailing length differs from ${len}`);
    const body = o + 8;
    const bodyEnd = o + len - 4;
    if (type === PCAPNG_IDB) {
      if (bodyEnd - body < 8) fail('ERR_PCAPNG_BAD_BLOCK', `interface description at offset ${o} is too short`);
      const iface: PcapngInterface = {
        linkType: v.getUint16(body, le),
        snaplen: v.getUint32(body + 4, le),
        unitsPerSecond: 1e6,
        offsetSeconds: 0,
      };
      readOptions(v, body + 8, bodyEnd, le, o, (code, at, optLen) => {
        if (code === OPT_IF_TSRESOL && optLen >= 1) {
          const r = v.getUint8(at);
          const exp = r & 0x7f;
          // Beyond 10^-15 or 2^-63 the units are finer than a double can tell apart anyway.
          if ((r & 0x80) === 0 ? exp > 15 : exp > 63) fail('ERR_PCAPNG_BAD_OPTION', `if_tsresol ${r} at offset ${at} is out of range`);
          iface.unitsPerSecond = (r & 0x80) === 0 ? 10 ** exp : 2 ** exp;
        } else if (code === OPT_IF_TSOFFSET && optLen >= 8) {
          iface.offsetSeconds = Number(v.getBigInt64(at, le));
        }
      });
      section.push(iface);
      all.push(iface);
    } else if (type === PCAPNG_EPB) {
      if (bodyEnd - body < 20) fail('ERR_PCAPNG_BAD_BLOCK', `enhanced packet at offset ${o} is too short`);
      const id = v.getUint32(body, le);
      const iface = section[id];
      if (iface === undefined) fail('ERR_PCAPNG_NO_INTERFACE', `enhanced packet at offset ${o} names interface ${id}, the section has ${section.length}`);
      const ts = v.getUint32(body + 4, le) * 2 ** 32 + v.getUint32(body + 8, le);
      const caplen = v.getUint32(body + 12, le);
      const origLength = v.getUint32(body + 16, le);
      const start = body + 20;
      if (caplen > bodyEnd - start) fail('ERR_PCAPNG_TRUNCATED', `enhanced packet at offset ${o} claims ${caplen} bytes, the block holds ${bodyEnd - start}`);
      packets.push({
        tsMs: (iface.offsetSeconds + ts / iface.unitsPerSecond) * 1000,
        data: buf.subarray(start, start + caplen),
        origLength,
        linkType: iface.linkType,
        interfaceId: id,
      });
    }
    o += len;
  }
  return { interfaces: all, packets, littleEndian: firstLe ?? true };
}

/** Walk an options list (§3.5: code 16, length 16, value padded to 32 bits; opt_endofopt ends it). */
function readOptions(
  v: DataView,
  from: number,
  to: number,
  le: boolean,
  block: number,
  each: (code: number, at: number, len: number) => void,
): void {
  let p = from;
  while (p + 4 <= to) {
    const code = v.getUint16(p, le);
    const len = v.getUint16(p + 2, le);
    if (code === OPT_END) return;
    if (p + 4 + len > to) fail('ERR_PCAPNG_BAD_OPTION', `option ${code} of the block at offset ${block} runs past its block`);
    each(code, p + 4, len);
    p += 4 + ((len + 3) & ~3);
  }
}
