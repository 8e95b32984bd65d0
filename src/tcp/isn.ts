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
 * compression rounds per 8-byte word, 4 finalization rounds). In JS, each of its four 64-bit words
 * v0..v3 as two unsigned 32-bit halves held in local variables (v0h, v0l, ...), so that V8 keeps
 * them in registers: no allocation, no memory traffic. An HMAC from node:crypto cost 3.8 us per
 * call (two or three per connection); this about 0.1 us. Message words are read little-endian, as
 * SipHash specifies.
 */
const OUT = new Uint32Array(2); // the last hash: [lo, hi]

/** Little-endian 32-bit word at b[at..at+4), the bytes past `end` counted as 0. */
function le32(b: Uint8Array, at: number, end: number): number {
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (at + i < end ? b[at + i]! : 0);
  return w >>> 0;
}

/**
 * SipHash-2-4 of `data` under a 16-byte key, as [lo, hi] 32-bit halves of the 64-bit result (a view
 * that the next call overwrites). A key of another length is folded into 16 bytes by XOR first.
 */
export function sipHash24(key: Uint8Array, data: Uint8Array): Uint32Array {
  const k = key.length === 16 ? key : foldKey(key);
  const k0l = le32(k, 0, 16);
  const k0h = le32(k, 4, 16);
  const k1l = le32(k, 8, 16);
  const k1h = le32(k, 12, 16);
  // SipHash's initialisation constants: "somepseudorandomlygeneratedbytes" in ASCII.
  let v0h = (k0h ^ 0x736f6d65) >>> 0;
  let v0l = (k0l ^ 0x70736575) >>> 0;
  let v1h = (k1h ^ 0x646f7261) >>> 0;
  let v1l = (k1l ^ 0x6e646f6d) >>> 0;
  let v2h = (k0h ^ 0x6c796765) >>> 0;
  let v2l = (k0l ^ 0x6e657261) >>> 0;
  let v3h = (k1h ^ 0x74656462) >>> 0;
  let v3l = (k1l ^ 0x79746573) >>> 0;
  const n = data.length;
  const words = (n >>> 3) + 1; // the message words; the last holds the length mod 256 in its top byte
  // Each message word: v3 ^= m, two SipRounds, v0 ^= m. After the last: v2 ^= 0xff, four SipRounds.
  for (let w = 0; w <= words; w++) {
    let mh = 0;
    let ml = 0;
    let rounds = 2;
    if (w < words) {
      const at = w * 8;
      ml = le32(data, at, n);
      mh = le32(data, at + 4, n);
      if (w === words - 1) mh = (mh | ((n & 0xff) << 24)) >>> 0;
      v3h = (v3h ^ mh) >>> 0;
      v3l = (v3l ^ ml) >>> 0;
    } else {
      v2l = (v2l ^ 0xff) >>> 0;
      rounds = 4;
    }
    for (let r = 0; r < rounds; r++) {
      // One SipRound. 64-bit addition with the carry out of the low halves; rotations by n < 32
      // move bits across the halves; a rotation by 32 swaps them.
      let lo = (v0l + v1l) >>> 0;
      v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0;
      v0l = lo;
      let t = v1h;
      v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
      v1l = ((v1l << 13) | (t >>> 19)) >>> 0;
      v1h = (v1h ^ v0h) >>> 0;
      v1l = (v1l ^ v0l) >>> 0;
      t = v0h;
      v0h = v0l;
      v0l = t;

      lo = (v2l + v3l) >>> 0;
      v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0;
      v2l = lo;
      t = v3h;
      v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
      v3l = ((v3l << 16) | (t >>> 16)) >>> 0;
      v3h = (v3h ^ v2h) >>> 0;
      v3l = (v3l ^ v2l) >>> 0;

      lo = (v0l + v3l) >>> 0;
      v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0;
      v0l = lo;
      t = v3h;
      v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
      v3l = ((v3l << 21) | (t >>> 11)) >>> 0;
      v3h = (v3h ^ v0h) >>> 0;
      v3l = (v3l ^ v0l) >>> 0;

      lo = (v2l + v1l) >>> 0;
      v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0;
      v2l = lo;
      t = v1h;
      v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
      v1l = ((v1l << 17) | (t >>> 15)) >>> 0;
      v1h = (v1h ^ v2h) >>> 0;
      v1l = (v1l ^ v2l) >>> 0;
      t = v2h;
      v2h = v2l;
      v2l = t;
    }
    if (w < words) {
      v0h = (v0h ^ mh) >>> 0;
      v0l = (v0l ^ ml) >>> 0;
    }
  }
  OUT[0] = v0l ^ v1l ^ v2l ^ v3l;
  OUT[1] = v0h ^ v1h ^ v2h ^ v3h;
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
