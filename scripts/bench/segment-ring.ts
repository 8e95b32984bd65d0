/**
 * What `serve`'s segment ring (src/trace/segment-ring.ts, behind /live and /ladder) costs per
 * packet: the TapDevice call and the copy of a packet's first 128 bytes, with nobody watching; and
 * with a /live page watching one connection (every packet decoded for it, as LiveFeed.onRecord does).
 * In memory only, no device, no network:
 *
 *   node --import tsx scripts/bench/segment-ring.ts [PACKETS=2000000] [RUNS=5]
 *
 * Prints the median ns per packet of each case; asserts nothing.
 */
import { FlowDecoder } from '../../src/trace/flow-decoder.ts';
import { SegmentRing } from '../../src/trace/segment-ring.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';

const [packetsArg, runsArg] = process.argv.slice(2);
const PACKETS = Number(packetsArg ?? 2_000_000);
const RUNS = Number(runsArg ?? 5);
if (!(PACKETS >= 10_000 && PACKETS <= 50_000_000 && RUNS >= 1 && RUNS <= 15)) {
  process.stderr.write('usage: segment-ring.ts [PACKETS 10000..50000000] [RUNS 1..15]\n');
  process.exit(2);
}

/** A 1500-byte IPv4/TCP data segment 10.77.0.2:80 -> 10.77.0.1:40000 (checksums not needed here). */
function segment(): Uint8Array {
  const p = new Uint8Array(1500);
  p.set([0x45, 0, 1500 >> 8, 1500 & 0xff, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 77, 0, 2, 10, 77, 0, 1]);
  p.set([0, 80, 40000 >> 8, 40000 & 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff], 20);
  return p;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function run(watch: boolean): number {
  const ring = new SegmentRing(4096);
  const pkt = segment();
  if (watch) {
    const dec = new FlowDecoder({
      left: { addr: parseIpv4Address('10.77.0.1'), port: 40000 },
      right: { addr: parseIpv4Address('10.77.0.2'), port: 80 },
    });
    let rows = 0;
    ring.onRecord = (seq) => {
      if (dec.decode(ring.slot(seq)!) !== undefined) rows++;
    };
    void rows;
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < PACKETS; i++) {
    ring.noteSent('data', 14480, 0x7fffffff);
    ring.observer('out', pkt, i);
  }
  return Number(process.hrtime.bigint() - t0) / PACKETS;
}

for (const watch of [false, true]) {
  run(watch); // warm up
  const ns: number[] = [];
  for (let r = 0; r < RUNS; r++) ns.push(run(watch));
  process.stdout.write(`${watch ? 'a /live page watching' : 'nobody watching      '}: ${median(ns).toFixed(1)} ns per packet (median of ${RUNS} x ${PACKETS})\n`);
}
