/**
 * Mutations of valid IPv4 packets for the fuzzer: bit flips, truncations, extensions, and targeted
 * field changes (IHL, total length, fragment flags and offset, protocol, TCP data offset, flags,
 * option lengths, ICMP type/code, addresses). Each mutation returns the packet to send (a new buffer
 * when the length changes). All randomness comes from the seeded Rng. Not a test file itself.
 */
import type { Rng } from '../../src/util/random.ts';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP, writeU32 } from './packets.ts';

/** Values that sit on the edges parsers get wrong. */
const INTERESTING_U8 = [0, 1, 2, 3, 4, 5, 8, 10, 0x0f, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_U16 = [0, 1, 7, 8, 19, 20, 21, 39, 40, 60, 68, 576, 1280, 1500, 1501, 0x7fff, 0x8000, 0xfff8, 0xffff];

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

function ihl(p: Uint8Array): number {
  return (p[0]! & 0x0f) * 4;
}

function setU16(p: Uint8Array, at: number, v: number): void {
  if (at + 1 >= p.length) return;
  p[at] = (v >>> 8) & 0xff;
  p[at + 1] = v & 0xff;
}

type Mutator = (rng: Rng, p: Uint8Array) => Uint8Array;

const bitFlips: Mutator = (rng, p) => {
  const n = 1 + rng.int(4);
  for (let i = 0; i < n && p.length > 0; i++) p[rng.int(p.length)]! ^= 1 << rng.int(8);
  return p;
};

const byteSet: Mutator = (rng, p) => {
  if (p.length > 0) p[rng.int(p.length)] = rng.chance(0.5) ? pick(rng, INTERESTING_U8) : rng.int(256);
  return p;
};

const truncate: Mutator = (rng, p) => p.slice(0, rng.int(p.length + 1));

const extend: Mutator = (rng, p) => {
  const extra = 1 + rng.int(rng.chance(0.8) ? 16 : 200);
  const out = new Uint8Array(p.length + extra);
  out.set(p);
  for (let i = p.length; i < out.length; i++) out[i] = rng.int(256);
  // Sometimes the total length claims the extension, so it is data rather than link padding.
  if (rng.chance(0.5) && out.length >= 4 && out.length <= 0xffff) setU16(out, 2, out.length);
  return out;
};

const mutateIhl: Mutator = (rng, p) => {
  if (p.length > 0) p[0] = (p[0]! & 0xf0) | rng.int(16);
  if (rng.chance(0.2) && p.length > 0) p[0] = (rng.int(16) << 4) | (p[0]! & 0x0f); // the version too
  return p;
};

const totalLength: Mutator = (rng, p) => {
  const choices = [p.length, p.length - 1, p.length + 1, p.length - rng.int(40), p.length + rng.int(40), ihl(p) - 1, ihl(p), 0];
  setU16(p, 2, rng.chance(0.7) ? pick(rng, choices) & 0xffff : pick(rng, INTERESTING_U16));
  return p;
};

const fragment: Mutator = (rng, p) => {
  const flags = rng.int(8) << 13;
  const offsets = [0, 1, 2, 8, 0x100, 0x1ff0, 0x1fff, rng.int(0x2000)];
  setU16(p, 6, flags | pick(rng, offsets));
  if (rng.chance(0.3)) setU16(p, 4, rng.int(0x10000)); // the identification
  return p;
};

const protocol: Mutator = (rng, p) => {
  if (p.length > 9) p[9] = rng.chance(0.8) ? pick(rng, [PROTO_ICMP, PROTO_TCP, PROTO_UDP, 0, 2, 41, 132]) : rng.int(256);
  return p;
};

const ttlTos: Mutator = (rng, p) => {
  if (p.length > 8) p[8] = pick(rng, [0, 1, 255]);
  if (p.length > 1 && rng.chance(0.5)) p[1] = rng.int(256);
  return p;
};

/** Source: broadcast, multicast, zero, loopback, class E, our own address, a random one. */
const source: Mutator = (rng, p) => {
  if (p.length < 16) return p;
  const addrs = [0xffffffff, 0xe0000001, 0, 0x7f000001, 0xf0000001, 0x0a000002, 0x0a0000ff, rng.nextU32()];
  writeU32(p, 12, pick(rng, addrs));
  return p;
};

const destination: Mutator = (rng, p) => {
  if (p.length < 20) return p;
  writeU32(p, 16, pick(rng, [0xffffffff, 0x0a0000ff, 0xe0000001, 0x0a000003, rng.nextU32()]));
  return p;
};

/** IPv4 options: grow the header with option bytes (valid, bogus, or runs past the header). */
const ipOptions: Mutator = (rng, p) => {
  const hl = ihl(p);
  if (hl < 20 || hl > p.length) return p;
  const words = 1 + rng.int(10);
  const add = words * 4;
  if (hl + add > 60) return p;
  const out = new Uint8Array(p.length + add);
  out.set(p.subarray(0, hl));
  for (let i = hl; i < hl + add; i++) out[i] = rng.chance(0.5) ? pick(rng, [0, 1, 7, 68, 130, 131, 137, 148]) : rng.int(256);
  out.set(p.subarray(hl), hl + add);
  out[0] = (out[0]! & 0xf0) | ((hl + add) >>> 2);
  setU16(out, 2, Math.min(0xffff, ((p[2]! << 8) | p[3]!) + add));
  return out;
};

// Transport fields: located from the (possibly mutated) IHL, skipped when out of range.

const tcpDataOffset: Mutator = (rng, p) => {
  const at = ihl(p) + 12;
  if (at < p.length) p[at] = (rng.int(16) << 4) | (p[at]! & 0x0f);
  return p;
};

const tcpFlags: Mutator = (rng, p) => {
  const at = ihl(p) + 13;
  if (at < p.length) p[at] = rng.chance(0.5) ? pick(rng, [0, 0x01, 0x02, 0x03, 0x04, 0x06, 0x07, 0x11, 0x12, 0x14, 0x16, 0x29, 0x3f, 0xff]) : rng.int(256);
  return p;
};

/** Corrupt one option length byte (0, 1, odd, past the header) or an option value. */
const tcpOptionBytes: Mutator = (rng, p) => {
  const h = ihl(p);
  if (h + 13 >= p.length) return p;
  const dataOffset = (p[h + 12]! >>> 4) * 4;
  if (dataOffset <= 20) {
    // No options yet: claim some, so the first data bytes are parsed as options.
    p[h + 12] = ((5 + 1 + rng.int(10)) << 4) | (p[h + 12]! & 0x0f);
    return p;
  }
  const start = h + 20;
  const end = Math.min(p.length, h + dataOffset);
  if (end <= start) return p;
  const at = start + rng.int(end - start);
  p[at] = rng.chance(0.5) ? pick(rng, [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 14, 15, 40, 255]) : rng.int(256);
  return p;
};

const tcpWindowUrgent: Mutator = (rng, p) => {
  const h = ihl(p);
  if (rng.chance(0.5)) setU16(p, h + 14, pick(rng, INTERESTING_U16));
  else setU16(p, h + 18, pick(rng, INTERESTING_U16));
  return p;
};

const tcpSeqAck: Mutator = (rng, p) => {
  const at = ihl(p) + (rng.chance(0.5) ? 4 : 8);
  if (at + 3 < p.length) writeU32(p, at, rng.chance(0.5) ? rng.nextU32() : pick(rng, [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]));
  return p;
};

const icmpTypeCode: Mutator = (rng, p) => {
  const h = ihl(p);
  if (h + 1 < p.length) {
    p[h] = rng.chance(0.7) ? pick(rng, [0, 3, 4, 5, 8, 11, 12, 13, 14, 17, 18]) : rng.int(256);
    p[h + 1] = rng.chance(0.7) ? rng.int(16) : rng.int(256);
  }
  return p;
};

const MUTATORS: readonly [number, Mutator][] = [
  [10, bitFlips],
  [8, byteSet],
  [6, truncate],
  [5, extend],
  [5, mutateIhl],
  [7, totalLength],
  [7, fragment],
  [3, protocol],
  [2, ttlTos],
  [3, source],
  [1, destination],
  [3, ipOptions],
  [6, tcpDataOffset],
  [6, tcpFlags],
  [8, tcpOptionBytes],
  [3, tcpWindowUrgent],
  [4, tcpSeqAck],
  [3, icmpTypeCode],
];
const TOTAL_WEIGHT = MUTATORS.reduce((s, [w]) => s + w, 0);

/** Apply 1..3 random mutations; returns the packet to send. */
export function mutatePacket(rng: Rng, p: Uint8Array): Uint8Array {
  const n = 1 + rng.int(rng.chance(0.7) ? 1 : 3);
  for (let i = 0; i < n; i++) {
    let r = rng.int(TOTAL_WEIGHT);
    for (const [w, m] of MUTATORS) {
      if (r < w) {
        p = m(rng, p);
        break;
      }
      r -= w;
    }
  }
  return p;
}
