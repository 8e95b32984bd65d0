/**
 * Helpers for the received-memory tests (not a test file itself):
 *
 *   ChunkedDevice   wraps a NetDevice and hands every received packet out as a view into a fresh
 *                   256 KiB ArrayBuffer, as the TUN device does when each read catches one packet
 *                   (link/tun-device.ts): a view kept by the stack keeps its whole chunk alive.
 *   RawPeer         the attacker: the other end of a memory link, writing hand-made IPv4/TCP
 *                   segments (handshake, then whatever bytes at whatever sequence numbers).
 *   retainedArrayBuffers()   process.memoryUsage().arrayBuffers after forced garbage collections.
 */
import type { NetDevice, PacketHandler } from '../../src/link/device.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { ACK, SYN, parseTcp, serializeTcp, tcpHeaderLength, type TcpSegment, type TcpSegmentInit } from '../../src/wire/tcp.ts';
import { seqAdd } from '../../src/wire/seq.ts';
import { fullGc } from '../helpers/gc.ts';

export const CHUNK = 256 * 1024;

export class ChunkedDevice implements NetDevice {
  /** Chunks handed out so far. */
  chunks = 0;

  constructor(private readonly inner: NetDevice) {}

  get name(): string {
    return this.inner.name;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  get tsoMaxSize(): number {
    return this.inner.tsoMaxSize ?? 0;
  }

  setReceiver(rx: PacketHandler): void {
    this.inner.setReceiver((batch) => {
      const views: Uint8Array[] = [];
      for (const p of batch) {
        const v = new Uint8Array(new ArrayBuffer(CHUNK), 64, p.length);
        this.chunks++;
        v.set(p);
        views.push(v);
      }
      rx(views);
    });
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    this.inner.send(packet, segmentSize);
  }

  stats() {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** One connection of the attacker: our next sequence number and what we acknowledge. */
export interface RawConn {
  srcPort: number;
  dstPort: number;
  /** Our ISS + 1: the sequence number of our first data byte. */
  base: number;
  /** The server's ISS + 1 (what we acknowledge; the server sends no data in these tests). */
  ack: number;
  /** Segments the server sent on this connection. */
  received: TcpSegment[];
}

export class RawPeer {
  readonly conns = new Map<number, RawConn>();
  private ident = 1;

  constructor(
    private readonly device: NetDevice,
    readonly clock: ManualClock,
    readonly addr: string,
    readonly serverAddr: string,
  ) {
    const src = parseIpv4Address(serverAddr);
    const dst = parseIpv4Address(addr);
    device.setReceiver((batch) => {
      for (const p of batch) {
        const hl = (p[0]! & 0x0f) * 4;
        const seg = parseTcp(p.subarray(hl), src, dst);
        if (seg instanceof Error) continue;
        this.conns.get(seg.dstPort)?.received.push(seg);
      }
    });
  }

  send(c: RawConn, seg: Partial<TcpSegmentInit> & { seq: number }): void {
    const full: TcpSegmentInit = {
      srcPort: c.srcPort,
      dstPort: c.dstPort,
      ack: c.ack,
      flags: ACK,
      window: 65535,
      ...seg,
    };
    const tcpLen = tcpHeaderLength(full) + (full.payload?.length ?? 0);
    const pkt = new Uint8Array(20 + tcpLen);
    const src = parseIpv4Address(this.addr);
    const dst = parseIpv4Address(this.serverAddr);
    serializeIpv4Header({ totalLength: pkt.length, identification: this.ident++ & 0xffff, dontFragment: true, ttl: 64, protocol: 6, src, dst }, pkt, 0);
    serializeTcp(full, pkt, 20, src, dst);
    this.device.send(pkt);
  }

  /** Send `payload` at `offset` bytes after the first data byte. */
  data(c: RawConn, offset: number, payload: Uint8Array, window = 65535): void {
    this.send(c, { seq: seqAdd(c.base, offset), payload, window });
  }

  /** SYN, wait for the SYN-ACK (driving virtual time with `step`), ACK. */
  async open(srcPort: number, dstPort: number, step: (ms: number) => Promise<void>): Promise<RawConn> {
    const iss = (srcPort * 7919) >>> 0;
    const c: RawConn = { srcPort, dstPort, base: seqAdd(iss, 1), ack: 0, received: [] };
    this.conns.set(srcPort, c);
    this.send(c, { seq: iss, ack: undefined, flags: SYN, options: { mss: 1460 } });
    for (let i = 0; i < 20 && c.ack === 0; i++) {
      await step(1);
      const synAck = c.received.find((s) => (s.flags & (SYN | ACK)) === (SYN | ACK));
      if (synAck !== undefined) c.ack = seqAdd(synAck.seq, 1);
    }
    if (c.ack === 0) throw new Error(`no SYN-ACK for port ${srcPort}`);
    this.send(c, { seq: c.base });
    await step(1);
    return c;
  }
}

/** process.memoryUsage().arrayBuffers after a few forced full collections. */
export function retainedArrayBuffers(): number {
  for (let i = 0; i < 4; i++) fullGc();
  return process.memoryUsage().arrayBuffers;
}

/** Bytes i = (i * 31 + seed) & 0xff. */
export function bytesPattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}
