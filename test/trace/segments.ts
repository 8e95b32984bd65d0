/** Test helper: build IPv4/TCP packets byte by byte, with correct checksums (RFC 791, RFC 9293 §3.1). */
import { finishChecksum, onesSum, pseudoHeaderSum, checksum } from '../../src/wire/checksum.ts';
import { parseIpv4Address, writeIpv4Address } from '../../src/wire/ipv4-address.ts';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

export interface SegSpec {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  win?: number;
  /** Raw option bytes (padded to a multiple of 4 with NOPs... by the caller). */
  options?: number[];
  payload?: string;
}

export function tcpPacket(s: SegSpec): Uint8Array {
  const opts = s.options ?? [];
  if (opts.length % 4 !== 0) throw new Error('options must be padded to 4 bytes');
  const payload = new TextEncoder().encode(s.payload ?? '');
  const tcpLen = 20 + opts.length + payload.length;
  const p = new Uint8Array(20 + tcpLen);
  const src = parseIpv4Address(s.src);
  const dst = parseIpv4Address(s.dst);
  p.set([0x45, 0, (20 + tcpLen) >> 8, (20 + tcpLen) & 0xff, 0, 0, 0x40, 0, 64, 6, 0, 0]);
  writeIpv4Address(p, 12, src);
  writeIpv4Address(p, 16, dst);
  const hc = checksum(p, 0, 20);
  p[10] = hc >> 8;
  p[11] = hc & 0xff;
  const t = 20;
  const dv = new DataView(p.buffer);
  dv.setUint16(t, s.sport);
  dv.setUint16(t + 2, s.dport);
  dv.setUint32(t + 4, s.seq >>> 0);
  dv.setUint32(t + 8, (s.ack ?? 0) >>> 0);
  p[t + 12] = ((20 + opts.length) / 4) << 4;
  p[t + 13] = s.flags;
  dv.setUint16(t + 14, s.win ?? 65535);
  p.set(opts, t + 20);
  p.set(payload, t + 20 + opts.length);
  const sum = onesSum(p, t, p.length, pseudoHeaderSum(src, dst, 6, tcpLen));
  dv.setUint16(t + 16, finishChecksum(sum));
  return p;
}

/** MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (Linux's SYN option layout). */
export const LINUX_SYN_OPTIONS = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
/** MSS 1460 alone. */
export const MSS_1460 = [2, 4, 0x05, 0xb4];
