/**
 * The scoreboard-fragmenting SACK attack in virtual time (no network, no TUN): a receiver holds
 * 1 MiB in flight and sends 25,000 ACKs of 4 SACK blocks each (1-byte SACKed ranges with 1-byte
 * holes), against the same transfer without them. Prints the CPU time of each (process.cpuUsage,
 * user + system, median of the runs) and the ratio. The scenario is test/tcp/sack-attack.ts.
 *
 *   npx tsx scripts/attack/sack-sim.ts [--runs 5] [--acks 25000] [--blocks 4] [--total 4194304]
 *                                     [--flight 1048576] [--kinds plain,benign,attack,mss] [--warmup 1]
 */
import { runSackScenario, type SackStreamKind } from '../../test/tcp/sack-attack.ts';
import type { Connection as Tcb } from '../../src/tcp/connection.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

const runs = Number(arg('runs', '5'));
const acks = Number(arg('acks', '25000'));
const blocks = Number(arg('blocks', '4'));
const total = Number(arg('total', String(4 * 1024 * 1024)));
const flight = Number(arg('flight', String(1024 * 1024)));
const kinds = arg('kinds', 'plain,benign,attack,mss').split(',') as SackStreamKind[];
const warmup = arg('warmup', '1') !== '0';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

interface Run {
  cpuMs: number;
  line: string;
}

function once(kind: SackStreamKind): Run {
  let maxRanges = 0;
  // `ranges` is the count without copying (the scoreboard before this change had only blocks()).
  const count = (t: Tcb) => {
    const n = (t.scoreboard! as unknown as { ranges?: unknown }).ranges;
    return typeof n === 'number' ? n : t.scoreboard!.blocks().length;
  };
  const out = runSackScenario({ kind, total, flight, acks, blocks, afterAck: (_k, t) => (maxRanges = Math.max(maxRanges, count(t))) });
  if (!out.intact) throw new Error(`${kind}: the transfer did not complete intact`);
  const c = out.sim.a.counters as unknown as Record<string, number>;
  const line =
    `retransmits ${c['retransmits']} timeouts ${c['timeouts']} fastRetransmits ${c['fastRetransmits']}` +
    (c['sackBlocksIgnored'] !== undefined ? ` sackBlocksIgnored ${c['sackBlocksIgnored']} sackBlocksDropped ${c['sackBlocksDropped']}` : '') +
    ` maxRanges ${maxRanges} virtual ${out.virtualMs.toFixed(0)} ms`;
  return { cpuMs: out.cpuMicros / 1000, line };
}

// One warm-up run of each kind (JIT), not counted; then the kinds take turns, so that load from
// other processes on the machine falls on all of them alike.
if (warmup) for (const kind of kinds) once(kind);
const cpu = new Map<SackStreamKind, number[]>(kinds.map((k) => [k, []]));
const lines = new Map<SackStreamKind, string>();
for (let r = 0; r < runs; r++) {
  for (const kind of kinds) {
    const run = once(kind);
    cpu.get(kind)!.push(run.cpuMs);
    lines.set(kind, run.line);
  }
}
const results = new Map<SackStreamKind, number>();
for (const kind of kinds) {
  const xs = cpu.get(kind)!;
  const m = median(xs);
  results.set(kind, m);
  console.log(`${kind.padEnd(7)} cpu median ${m.toFixed(1)} ms  runs [${xs.map((x) => x.toFixed(1)).join(', ')}]  ${lines.get(kind)}`);
}
const plain = results.get('plain');
if (plain !== undefined) {
  for (const [kind, m] of results) if (kind !== 'plain') console.log(`ratio ${kind}/plain ${(m / plain).toFixed(2)}`);
}
console.log(`(total ${total} B, flight ${flight} B, ${acks} ACKs x ${blocks} blocks, ${runs} runs)`);
