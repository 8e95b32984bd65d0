/**
 * Received data and memory, measured in a simulation (memory link, virtual time; no TUN, no network):
 *
 *   transfer   64 MiB from one stack to another, the receiver a flowing reader (the fast path):
 *              process CPU time, median of 5 runs (after an uncounted 8 MiB warm-up run). `--chunked` hands the receiver every packet as a
 *              view into a fresh 256 KiB ArrayBuffer, as the TUN device does.
 *   ooo        4 connections x 512 out-of-order 1-byte segments (every other byte), held
 *   echo       4 connections x 512 in-order 1-byte segments to socket.pipe(socket), echoed into the
 *              attacker's zero window
 *              for both: ArrayBuffer bytes retained (process.memoryUsage().arrayBuffers after
 *              forced GC), minus the level before the attack; the receiver's packets are views into
 *              256 KiB chunks.
 *
 *   node --expose-gc --import tsx scripts/attack/rxmem-sim.ts [--src DIR] [--runs 5] [--mib 64] [--chunked]
 *
 * `--src DIR` loads the stack from another checkout's src/ (to compare before and after a change;
 * that checkout needs node_modules reachable, e.g. a symlink).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as StackModule from '../../src/stack.ts';
import type * as MemoryModule from '../../src/link/memory-device.ts';
import type * as ClockModule from '../../src/util/clock.ts';
import type * as TcpWire from '../../src/wire/tcp.ts';
import type * as Ipv4Wire from '../../src/wire/ipv4.ts';
import type { NetDevice, PacketHandler } from '../../src/link/device.ts';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const srcDir = resolve(opt('--src', new URL('../../src', import.meta.url).pathname));
const runs = Number(opt('--runs', '5'));
const mib = Number(opt('--mib', '64'));
const chunked = args.includes('--chunked');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}

const load = <T>(rel: string): Promise<T> => import(pathToFileURL(`${srcDir}/${rel}`).href) as Promise<T>;
const { createStack } = await load<typeof StackModule>('stack.ts');
const { createMemoryLink } = await load<typeof MemoryModule>('link/memory-device.ts');
const { ManualClock } = await load<typeof ClockModule>('util/clock.ts');
const { serializeTcp, tcpHeaderLength, parseTcp, ACK, SYN } = await load<typeof TcpWire>('wire/tcp.ts');
const { serializeIpv4Header } = await load<typeof Ipv4Wire>('wire/ipv4.ts');

/** Every received packet as a view into a fresh 256 KiB ArrayBuffer (the TUN device's worst case). */
function chunkedDevice(inner: NetDevice): NetDevice {
  return {
    name: inner.name,
    mtu: inner.mtu,
    tsoMaxSize: inner.tsoMaxSize ?? 0,
    setReceiver(rx: PacketHandler) {
      inner.setReceiver((batch) =>
        rx(
          batch.map((p) => {
            const v = new Uint8Array(new ArrayBuffer(256 * 1024), 64, p.length);
            v.set(p);
            return v;
          }),
        ),
      );
    },
    send: (packet: Uint8Array, segmentSize?: number) => inner.send(packet, segmentSize),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}

async function ticks(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((r) => setImmediate(r));
}

function retained(): { ab: number; heap: number } {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return { ab: m.arrayBuffers, heap: m.heapUsed };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

// ---------------------------------------------------------------------------------------------
// The fast path: a bulk transfer to a flowing reader.

async function transferOnce(bytes: number): Promise<{ cpuMs: number; virtualMs: number }> {
  const clock = new ManualClock(0);
  const [a, b] = createMemoryLink(clock, { latencyMs: 1, bandwidthBytesPerMs: 125_000 });
  const server = createStack({ device: chunked ? chunkedDevice(a) : a, address: '10.0.0.2', clock });
  const client = createStack({ device: b, address: '10.0.0.1', clock });
  let received = 0;
  server.tcp.createServer((s: TcpSocket) => s.on('data', (d: Buffer) => (received += d.length))).listen(9);
  const payload = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) payload[i] = i & 0xff;
  const cpu0 = process.cpuUsage();
  const t0 = clock.now();
  const sock = client.tcp.connect({ host: '10.0.0.2', port: 9 });
  let off = 0;
  const pump = (): void => {
    while (off < bytes) {
      const n = Math.min(65536, bytes - off);
      const more = sock.write(payload.subarray(off, off + n));
      off += n;
      if (!more) return;
    }
  };
  sock.on('drain', pump);
  sock.on('connect', pump);
  for (let step = 0; step < 1_000_000 && received < bytes; step++) {
    clock.advance(1);
    await ticks();
  }
  const cpu = process.cpuUsage(cpu0);
  const virtualMs = clock.now() - t0;
  if (received !== bytes) throw new Error(`transfer incomplete: ${received} of ${bytes}`);
  sock.destroy();
  await server.close();
  await client.close();
  return { cpuMs: (cpu.user + cpu.system) / 1000, virtualMs };
}

// ---------------------------------------------------------------------------------------------
// The attacks: a raw peer on the other end of the link.

interface Raw {
  port: number;
  base: number;
  ack: number;
}

async function attack(kind: 'ooo' | 'echo'): Promise<{ ab: number; heap: number }> {
  const clock = new ManualClock(1000);
  const [a, b] = createMemoryLink(clock, { latencyMs: 1 });
  const server = createStack({ device: chunkedDevice(a), address: '10.0.0.2', clock });
  if (kind === 'echo') server.tcp.createServer((s: TcpSocket) => s.pipe(s)).listen(7);
  else server.tcp.createServer((s: TcpSocket) => s.on('data', () => {})).listen(7);
  const us = 0x0a000001;
  const them = 0x0a000002;
  const synAcks = new Map<number, number>();
  b.setReceiver((batch) => {
    for (const p of batch) {
      const seg = parseTcp(p.subarray((p[0]! & 0x0f) * 4), them, us);
      if (!(seg instanceof Error) && (seg.flags & SYN) !== 0) synAcks.set(seg.dstPort, seg.seq);
    }
  });
  const send = (r: Raw, seq: number, flags: number, payload?: Uint8Array, window = 65535): void => {
    const seg = { srcPort: r.port, dstPort: 7, seq: seq >>> 0, ack: flags & ACK ? r.ack : undefined, flags, window, payload, options: flags & SYN ? { mss: 1460 } : undefined };
    const pkt = new Uint8Array(20 + tcpHeaderLength(seg) + (payload?.length ?? 0));
    serializeIpv4Header({ totalLength: pkt.length, identification: 1, dontFragment: true, ttl: 64, protocol: 6, src: us, dst: them }, pkt, 0);
    serializeTcp(seg, pkt, 20, us, them);
    b.send(pkt);
  };
  const conns: Raw[] = [];
  for (let i = 0; i < 4; i++) {
    const r: Raw = { port: 40000 + i, base: 1000 * i + 1, ack: 0 };
    send(r, r.base - 1, SYN);
    for (let k = 0; k < 10 && !synAcks.has(r.port); k++) {
      clock.advance(1);
      await ticks();
    }
    r.ack = (synAcks.get(r.port)! + 1) >>> 0;
    send(r, r.base, ACK);
    conns.push(r);
  }
  clock.advance(5);
  await ticks();
  const before = retained();
  const one = new Uint8Array(1);
  for (const r of conns) {
    for (let k = 0; k < 512; k++) {
      one[0] = k;
      if (kind === 'ooo') send(r, r.base + 2 * k + 1, ACK, one);
      else send(r, r.base + k, ACK, one, 0);
    }
  }
  clock.advance(2);
  await ticks();
  const after = retained();
  const held = { ab: after.ab - before.ab, heap: after.heap - before.heap };
  let segmentsIn = 0;
  for (const i of server.connections()) segmentsIn += i.segmentsIn;
  if (segmentsIn < 4 * 512) throw new Error(`the attack did not arrive: ${segmentsIn} segments in`);
  await server.close();
  return held;
}

// ---------------------------------------------------------------------------------------------

const bytes = mib * 1024 * 1024;
process.stdout.write(`src: ${srcDir}\n`);
await transferOnce(Math.min(bytes, 8 * 1024 * 1024)); // warm-up (JIT), not counted
const results: { cpuMs: number; virtualMs: number }[] = [];
for (let i = 0; i < runs; i++) results.push(await transferOnce(bytes));
process.stdout.write(
  `transfer ${mib} MiB${chunked ? ' (receiver: 256 KiB chunks)' : ''}: CPU ms per run ${results.map((r) => r.cpuMs.toFixed(0)).join(' ')}; ` +
    `median ${median(results.map((r) => r.cpuMs)).toFixed(0)} ms; virtual time ${results[0]!.virtualMs} ms\n`,
);
for (const kind of ['ooo', 'echo'] as const) {
  const held = await attack(kind);
  process.stdout.write(
    `attack ${kind}: 4 x 512 one-byte segments held; retained ArrayBuffers ${held.ab} bytes (${(held.ab / 2048).toFixed(1)} per held byte), ` +
      `JS heap ${held.heap} bytes (${(held.heap / 2048).toFixed(0)} per held byte)\n`,
  );
}
