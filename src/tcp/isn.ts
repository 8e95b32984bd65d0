/**
 * Initial sequence numbers, RFC 6528 §3:  ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 * where M is a timer ticking every 4 microseconds and F a keyed hash (here HMAC-SHA-256, truncated to
 * 32 bits), computed once per connection. The key is random per stack (or injected by tests, which
 * can also inject a whole ISN function to place the ISN near 2^32 for wraparound tests).
 */
import { createHmac, randomBytes } from 'node:crypto';

/**
 * F(data, secret): HMAC-SHA-256 truncated to 32 bits, the keyed hash of RFC 6528 §3 (ISNs); the
 * layer uses it too for RFC 6056 port offsets and per-connection timestamp offsets.
 */
export function keyedHash32(key: Uint8Array, data: string | Uint8Array): number {
  return createHmac('sha256', key).update(data).digest().readUInt32BE(0);
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
