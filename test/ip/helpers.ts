/** Builders shared by the ip/ tests: datagrams and their fragments, made with our own serializer. */
import { checksum } from '../../src/wire/checksum.ts';
import { serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';

export const A = parseIpv4Address('10.77.0.1');
export const B = parseIpv4Address('10.77.0.2');

export interface DatagramSpec {
  src?: number;
  dst?: number;
  protocol?: number;
  id?: number;
  ttl?: number;
  tos?: number;
  dontFragment?: boolean;
}

/** A whole datagram carrying `payload`. */
export function datagram(payload: Uint8Array, spec: DatagramSpec = {}): Uint8Array {
  const out = new Uint8Array(20 + payload.length);
  out.set(payload, 20);
  serializeIpv4Header(
    {
      totalLength: out.length,
      identification: spec.id ?? 1,
      ttl: spec.ttl ?? 64,
      tos: spec.tos ?? 0,
      dontFragment: spec.dontFragment ?? false,
      protocol: spec.protocol ?? 99,
      src: spec.src ?? A,
      dst: spec.dst ?? B,
    },
    out,
    0,
  );
  return out;
}

/** One fragment: payload bytes [start, end) of a datagram, MF as given. */
export function fragment(payload: Uint8Array, start: number, end: number, more: boolean, spec: DatagramSpec = {}): Uint8Array {
  const out = new Uint8Array(20 + end - start);
  out.set(payload.subarray(start, end), 20);
  serializeIpv4Header(
    {
      totalLength: out.length,
      identification: spec.id ?? 1,
      ttl: spec.ttl ?? 64,
      moreFragments: more,
      fragmentOffset: start,
      protocol: spec.protocol ?? 99,
      src: spec.src ?? A,
      dst: spec.dst ?? B,
    },
    out,
    0,
  );
  return out;
}

/** Cut `payload` into fragments of `size` data bytes (a multiple of 8). */
export function fragments(payload: Uint8Array, size: number, spec: DatagramSpec = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let s = 0; s < payload.length; s += size) {
    const e = Math.min(s + size, payload.length);
    out.push(fragment(payload, s, e, e < payload.length, spec));
  }
  return out;
}


/** An ICMP echo request message (no IP header). */
export function echoRequest(id: number, seq: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = 8;
  m[4] = id >>> 8;
  m[5] = id & 0xff;
  m[6] = seq >>> 8;
  m[7] = seq & 0xff;
  m.set(data, 8);
  const s = checksum(m);
  m[2] = s >>> 8;
  m[3] = s & 0xff;
  return m;
}
