/**
 * IPv4 addresses as unsigned 32-bit numbers (host arithmetic, network order when serialized), so that
 * comparisons and Map keys are cheap; dotted-quad strings only at the edges (CLI, logs, socket API).
 */
import { readU32, writeU32 } from './bytes.ts';
import { WireError } from '../util/errors.ts';

export type Ipv4Address = number;

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse "10.77.0.2" into 0x0a4d0002. Throws WireError(ERR_BAD_ADDRESS) on anything else. */
export function parseIpv4Address(text: string): Ipv4Address {
  const m = DOTTED.exec(text.trim());
  if (!m) throw new WireError('ERR_BAD_ADDRESS', `not an IPv4 address: ${JSON.stringify(text)}`);
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255 || (m[i]!.length > 1 && m[i]!.startsWith('0'))) {
      throw new WireError('ERR_BAD_ADDRESS', `not an IPv4 address: ${JSON.stringify(text)}`);
    }
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function formatIpv4Address(addr: Ipv4Address): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** "10.77.0.1/24" -> { address, prefixLength }. A missing prefix means /32. */
export function parseIpv4Cidr(text: string): { address: Ipv4Address; prefixLength: number } {
  const [addr, prefix, extra] = text.split('/');
  if (addr === undefined || extra !== undefined) {
    throw new WireError('ERR_BAD_ADDRESS', `not an IPv4 address/prefix: ${JSON.stringify(text)}`);
  }
  const prefixLength = prefix === undefined ? 32 : Number(prefix);
  if (!/^\d{1,2}$/.test(prefix ?? '32') || prefixLength > 32) {
    throw new WireError('ERR_BAD_ADDRESS', `bad prefix length in ${JSON.stringify(text)}`);
  }
  return { address: parseIpv4Address(addr), prefixLength };
}

export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function sameSubnet(a: Ipv4Address, b: Ipv4Address, prefixLength: number): boolean {
  const mask = prefixMask(prefixLength);
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

export function readIpv4Address(buf: Uint8Array, offset: number): Ipv4Address {
  return readU32(buf, offset);
}

export function writeIpv4Address(buf: Uint8Array, offset: number, addr: Ipv4Address): void {
  writeU32(buf, offset, addr);
}
