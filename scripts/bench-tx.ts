/**
 * TUN writes per second: plain (one writev(2) per packet) against io_uring (a tick's packets with
 * one io_uring_enter, native/uring.c), for batches of 1 to 64 packets per tick. Run INSIDE a
 * namespace, as root (scripts/bench-tx.sh does both):
 *
 *   node --import tsx scripts/bench-tx.ts [PACKETS_PER_RUN=200000] [RUNS=3] [SIZE=1400]
 *
 * The packets are UDP datagrams to 10.77.0.3, an address on the link that nobody has: the kernel
 * takes each one in, finds it is not for it and, not being a router, drops it; nothing answers. Each
 * figure is the median of RUNS runs: packets per second (wall clock) and microseconds of this
 * process's CPU per packet (user + system, the kernel's handling of each write included). Prints
 * figures; asserts nothing.
 */
import { TunDevice } from '../src/link/tun-device.ts';
import { serializeIpv4Header } from '../src/wire/ipv4.ts';
import { parseIpv4Address } from '../src/wire/ipv4-address.ts';

const [perRunArg, runsArg, sizeArg] = process.argv.slice(2);
const PER_RUN = Number(perRunArg ?? 200_000);
const RUNS = Number(runsArg ?? 3);
const SIZE = Number(sizeArg ?? 1400);
if (!(PER_RUN >= 1000 && PER_RUN <= 10_000_000 && RUNS >= 1 && RUNS <= 15 && SIZE >= 28 && SIZE <= 1500)) {
  process.stderr.write('usage: bench-tx.ts [PACKETS_PER_RUN 1000..10000000] [RUNS 1..15] [SIZE 28..1500]\n');
  process.exit(2);
}

function udpPacket(): Uint8Array {
  const p = new Uint8Array(SIZE);
  serializeIpv4Header(
    { totalLength: SIZE, identification: 1, ttl: 64, protocol: 17, src: parseIpv4Address('10.77.0.2'), dst: parseIpv4Address('10.77.0.3') },
    p,
    0,
  );
  p.set([0x30, 0x39, 0x00, 0x09, (SIZE - 20) >> 8, (SIZE - 20) & 0xff, 0, 0], 20); // checksum 0: none (RFC 768)
  return p;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function run(dev: TunDevice, batch: number, packet: Uint8Array): Promise<{ pps: number; cpuUs: number }> {
  const ticks = Math.ceil(PER_RUN / batch);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let t = 0; t < ticks; t++) {
    for (let i = 0; i < batch; i++) dev.send(packet);
    await Promise.resolve(); // the device writes the tick's packets from a microtask
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const n = ticks * batch;
  return { pps: Math.round(n / (ns / 1e9)), cpuUs: (cpu.user + cpu.system) / n };
}

const dev = TunDevice.open({ name: 'tunstack0', hostAddress: '10.77.0.1', prefixLength: 24 });
const packet = udpPacket();
const canUring = dev.useIoUring(true);
const why = dev.stats().ioUring;
dev.useIoUring(false);
process.stdout.write(`TUN writes of ${SIZE}-byte UDP datagrams, ${PER_RUN} per run, median of ${RUNS} runs; io_uring: ${canUring ? 'available' : `unavailable (${why})`}\n\n`);
process.stdout.write(`${'packets/tick'.padEnd(14)}${'plain pkt/s'.padStart(14)}${'us CPU/pkt'.padStart(12)}${'io_uring pkt/s'.padStart(17)}${'us CPU/pkt'.padStart(12)}${'ratio'.padStart(8)}\n`);
await run(dev, 16, packet); // warm up the JIT and the kernel's paths
for (const batch of [1, 2, 4, 8, 16, 64]) {
  const plain: { pps: number; cpuUs: number }[] = [];
  const uring: { pps: number; cpuUs: number }[] = [];
  for (let r = 0; r < RUNS; r++) {
    dev.useIoUring(false);
    plain.push(await run(dev, batch, packet));
    if (canUring) {
      dev.useIoUring(true);
      uring.push(await run(dev, batch, packet));
    }
  }
  const p = { pps: median(plain.map((x) => x.pps)), cpuUs: median(plain.map((x) => x.cpuUs)) };
  const u = canUring ? { pps: median(uring.map((x) => x.pps)), cpuUs: median(uring.map((x) => x.cpuUs)) } : undefined;
  process.stdout.write(
    `${String(batch).padEnd(14)}${String(p.pps).padStart(14)}${p.cpuUs.toFixed(2).padStart(12)}` +
      (u ? `${String(u.pps).padStart(17)}${u.cpuUs.toFixed(2).padStart(12)}${(u.pps / p.pps).toFixed(2).padStart(8)}` : '') +
      '\n',
  );
}
const s = dev.stats();
process.stdout.write(`\ndevice: tx ${s.txPackets}, dropped ${s.txDropped}, io_uring enters ${s.uringEnters} for ${s.uringPackets} packets\n`);
await dev.close();
