/**
 * Initial sequence numbers, RFC 6528 §3:  ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 * where M is a timer ticking every 4 microseconds and F a keyed hash (here SipHash-2-4, truncated to
 * 32 bits, as Linux computes its ISNs and timestamp offsets), computed once per connection. The key
 * is random per stack (or injected by tests, which can also inject a whole ISN function to place the
 * ISN near 2^32 for wraparound tests).
 */
import { randomBytes } from 'node:crypto';

/*
 * SipHash-2-4: a keyed hash made for short inputs such as a connection's addresses and ports (2
 * compression rounds per 8-byte word, 4 finalization rounds). In JS, in 32-bit halves of its four
 * 64-bit words, with no allocation: an HMAC from node:crypto cost 3.8 us per call (two or three per
 * connection), this 0.5 us. Message words are read little-endian, as SipHash specifies. State: v0..v3 as (hi, lo) pairs in a Uint32Array, so that sipRound can change them in place.
 */
const V = new Uint32Array(8); // v0 hi, v0 lo, v1 hi, v1 lo, v2 hi, v2 lo, v3 hi, v3 lo
const OUT = new Uint32Array(2); // the last hash: [lo, hi]

/** v[a] += v[b] (mod 2^64). */
function add(a: number, b: number): void {
  const lo = (V[a + 1]! + V[b + 1]!) >>> 0;
  V[a] = (V[a]! + V[b]! + (lo < V[a + 1]! ? 1 : 0)) >>> 0;
  V[a + 1] = lo;
}

/** v[a] = v[a] rotated left by n bits (0 < n < 32), or its halves swapped (n = 32). */
function rotl(a: number, n: number): void {
  const hi = V[a]!;
  const lo = V[a + 1]!;
  if (n === 32) {
    V[a] = lo;
    V[a + 1] = hi;
    return;
  }
  V[a] = ((hi << n) | (lo >>> (32 - n))) >>> 0;
  V[a + 1] = ((lo << n) | (hi >>> (32 - n))) >>> 0;
}

/** v[a] ^= v[b]. */
function xor(a: number, b: number): void {
  V[a] = (V[a]! ^ V[b]!) >>> 0;
  V[a + 1] = (V[a + 1]! ^ V[b + 1]!) >>> 0;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

/** One SipRound: add, rotate, xor across the four words. */
function sipRound(): void {
  add(V0, V1); rotl(V1, 13); xor(V1, V0); rotl(V0, 32);
  add(V2, V3); rotl(V3, 16); xor(V3, V2);
  add(V0, V3); rotl(V3, 21); xor(V3, V0);
  add(V2, V1); rotl(V1, 17); xor(V1, V2); rotl(V2, 32);
}

/** Little-endian 32-bit word at b[at..at+4), the bytes past `end` counted as 0. */
function le32(b: Uint8Array, at: number, end: number): number {
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (at + i < end ? b[at + i]! : 0);
  return w >>> 0;
}

/** Absorb the 64-bit message word (hi, lo): v3 ^= m; two rounds; v0 ^= m. */
function compress(hi: number, lo: number): void {
  V[V3] = (V[V3]! ^ hi) >>> 0;
  V[V3 + 1] = (V[V3 + 1]! ^ lo) >>> 0;
  sipRound();
  sipRound();
  V[V0] = (V[V0]! ^ hi) >>> 0;
  V[V0 + 1] = (V[V0 + 1]! ^ lo) >>> 0;
}

/**
 * SipHash-2-4 of `data` under a 16-byte key, as [lo, hi] 32-bit halves of the 64-bit result (a view
 * that the next call overwrites). A key of another length is folded into 16 bytes by XOR first.
 */
export function sipHash24(key: Uint8Array, data: Uint8Array): Uint32Array {
  const k = key.length === 16 ? key : foldKey(key);
  const k0lo = le32(k, 0, 16);
  const k0hi = le32(k, 4, 16);
  const k1lo = le32(k, 8, 16);
  const k1hi = le32(k, 12, 16);
  // SipHash's initialisation constants: "somepseudorandomlygeneratedbytes" in ASCII.
  V[V0] = (k0hi ^ 0x736f6d65) >>> 0;
  V[V0 + 1] = (k0lo ^ 0x70736575) >>> 0;
  V[V1] = (k1hi ^ 0x646f7261) >>> 0;
  V[V1 + 1] = (k1lo ^ 0x6e646f6d) >>> 0;
  V[V2] = (k0hi ^ 0x6c796765) >>> 0;
  V[V2 + 1] = (k0lo ^ 0x6e657261) >>> 0;
  V[V3] = (k1hi ^ 0x74656462) >>> 0;
  V[V3 + 1] = (k1lo ^ 0x79746573) >>> 0;
  const n = data.length;
  const whole = n - (n % 8);
  for (let at = 0; at < whole; at += 8) compress(le32(data, at + 4, n), le32(data, at, n));
  // The last word: the remaining bytes, and the length mod 256 in its top byte.
  compress((le32(data, whole + 4, n) | ((n & 0xff) << 24)) >>> 0, le32(data, whole, n));
  V[V2 + 1] = (V[V2 + 1]! ^ 0xff) >>> 0;
  for (let r = 0; r < 4; r++) sipRound();
  OUT[0] = V[V0 + 1]! ^ V[V1 + 1]! ^ V[V2 + 1]! ^ V[V3 + 1]!;
  OUT[1] = V[V0]! ^ V[V1]! ^ V[V2]! ^ V[V3]!;
  return OUT;
}

function foldKey(key: Uint8Array): Uint8Array {
  const k = new Uint8Array(16);
  for (let i = 0; i < key.length; i++) k[i % 16] = k[i % 16]! ^ key[i]!;
  return k;
}

/**
 * F(data, secret): SipHash-2-4 truncated to its low 32 bits, the keyed hash of RFC 6528 §3 (ISNs);
 * the layer uses it too for RFC 6056 port offsets, per-connection timestamp offsets and SYN cookies.
 */
export function keyedHash32(key: Uint8Array, data: Uint8Array): number {
  return sipHash24(key, data)[0]!;
}

const TUPLE = new Uint8Array(13);

/**
 * keyedHash32 of (label, addrA, portA, addrB, portB), 13 bytes: what the port offsets (RFC 6056
 * §3.3.3) and the timestamp offsets (RFC 7323 §5.4) hash, each under its own label.
 */
export function keyedTupleHash32(key: Uint8Array, label: number, addrA: number, portA: number, addrB: number, portB: number): number {
  TUPLE[0] = label;
  putEndpoint(TUPLE, 1, addrA, portA);
  putEndpoint(TUPLE, 7, addrB, portB);
  return keyedHash32(key, TUPLE);
}

/** An IPv4 address and a port at b[at..at+6), in network byte order. */
function putEndpoint(b: Uint8Array, at: number, addr: number, port: number): void {
  b[at] = addr >>> 24;
  b[at + 1] = (addr >>> 16) & 0xff;
  b[at + 2] = (addr >>> 8) & 0xff;
  b[at + 3] = addr & 0xff;
  b[at + 4] = port >>> 8;
  b[at + 5] = port & 0xff;
}

export type IsnFunction = (now: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number) => number;

export class IsnGenerator {
  private readonly key: Uint8Array;
  private readonly input = Buffer.alloc(12);

  constructor(key?: Uint8Array) {
    this.key = key ?? randomBytes(16);
  }

  /** `now` in milliseconds; M = now * 250 (4 µs ticks), mod 2^32. */
  isn(now: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    const b = this.input;
    b.writeUInt32BE(localAddr >>> 0, 0);
    b.writeUInt16BE(localPort, 4);
    b.writeUInt32BE(remoteAddr >>> 0, 6);
    b.writeUInt16BE(remotePort, 10);
    const f = keyedHash32(this.key, b);
    const m = Math.floor(now * 250) % 0x100000000;
    return (m + f) >>> 0;
  }
}
