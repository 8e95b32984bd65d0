/**
 * The fuzzer, as long as you ask (see test/fuzz/harness.ts for what it does and checks):
 *
 *   npm run fuzz -- --packets 1000000 [--seed 7] [--http 20000] [--batch 64]
 *
 * --packets N  fuzz packets to inject (mutated or crafted IPv4/TCP/ICMP/UDP, fragments one by one)
 * --http N     HTTP request streams (1..4 pipelined requests each, most byte-mutated) to open;
 *              default: one per 200 packets
 * --seed S     the Rng seed (default 1): the same seed replays the same run
 * --batch N    fuzz packets per batch; every invariant is checked after each batch (default 128)
 *
 * Prints progress and packets/s; on a finding prints it with the seed, the batch and every packet
 * of that batch in hex, and exits 1. Bad flags: a message and exit 2. The memory check runs with a
 * forced GC (V8's gc, test/helpers/gc.ts) every 500 batches and after the final drain.
 *
 * A hang cannot report itself, so the fuzzing runs in a child process: it tells this one of every
 * batch (at most once a second) and writes each packet it injects, synchronously, to a file emptied
 * at every batch start. No word for HANG_MS: the child is killed and the hang reported with the
 * packets of its last batch.
 */
import { fork } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FuzzHarness, formatFinding, type Finding } from '../test/fuzz/harness.ts';
import { toHex } from '../test/fuzz/packets.ts';
import { fullGc } from '../test/helpers/gc.ts';

const CHILD_ENV = 'TUNSTACK_FUZZ_CHILD';
const BATCH_FILE_ENV = 'TUNSTACK_FUZZ_BATCH_FILE';
const HANG_MS = 60_000;

interface Heartbeat {
  batch: number;
}

interface Flags {
  packets: number;
  http: number | undefined;
  seed: number;
  batch: number;
}

function usage(message: string): never {
  process.stderr.write(`fuzz: ${message}\nusage: npm run fuzz -- --packets N [--seed S] [--http N] [--batch N]\n`);
  process.exit(2);
}

function parseFlags(argv: string[]): Flags {
  const f: Partial<Flags> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--(packets|http|seed|batch)(?:=(.*))?$/.exec(a);
    if (m === null) usage(`unknown argument ${JSON.stringify(a)}`);
    const name = m[1] as keyof Flags;
    const text = m[2] ?? argv[++i];
    if (text === undefined) usage(`--${name} needs a value`);
    if (!/^\d+$/.test(text)) usage(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
    const v = Number(text);
    if (!Number.isSafeInteger(v)) usage(`--${name} is too large: ${text}`);
    if (name === 'seed' && v > 0xffffffff) usage(`--seed must be below 2^32, got ${text}`);
    if (name === 'batch' && (v < 1 || v > 10_000)) usage(`--batch must be in [1, 10000], got ${text}`);
    if (f[name] !== undefined) usage(`--${name} given twice`);
    f[name] = v;
  }
  if (f.packets === undefined && f.http === undefined) usage('--packets N is required');
  return { packets: f.packets ?? 0, http: f.http, seed: f.seed ?? 1, batch: f.batch ?? 128 };
}

function heapMiB(): number {
  fullGc();
  return process.memoryUsage().heapUsed / (1024 * 1024);
}

function report(f: Finding): never {
  process.stdout.write(`\n${formatFinding(f)}\n`);
  process.exit(1);
}

/** The watchdog: runs the fuzzer in a child and reports it if it stops making progress. */
function parent(flags: Flags): void {
  const batchFile = join(tmpdir(), `tunstack-fuzz-${process.pid}.hex`);
  const child = fork(fileURLToPath(import.meta.url), process.argv.slice(2), {
    execArgv: process.execArgv,
    env: { ...process.env, [CHILD_ENV]: '1', [BATCH_FILE_ENV]: batchFile },
  });
  let lastWord = performance.now();
  let batch = 0;
  child.on('message', (m: Heartbeat) => {
    lastWord = performance.now();
    batch = m.batch;
  });
  const watch = setInterval(() => {
    if (performance.now() - lastWord < HANG_MS) return;
    clearInterval(watch);
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
    let packets: string[] = [];
    try {
      const lines = readFileSync(batchFile, 'latin1').split('\n').filter((l) => l !== '');
      const m = /^batch (\d+)$/.exec(lines[0] ?? '');
      if (m !== null) {
        batch = Number(m[1]);
        packets = lines.slice(1);
      }
    } catch {
      // the child never wrote one
    }
    rmSync(batchFile, { force: true });
    const f: Finding = { kind: 'hang', message: `no progress for ${HANG_MS / 1000} s (real time) in batch ${batch}`, seed: flags.seed, batch, packets };
    process.stdout.write(`\n${formatFinding(f)}\n`);
    process.exit(1);
  }, 1000);
  child.on('exit', (code, signal) => {
    clearInterval(watch);
    rmSync(batchFile, { force: true });
    if (signal !== null) process.stderr.write(`fuzz: the fuzzing process died of ${signal}\n`);
    process.exit(code ?? 1);
  });
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (process.env[CHILD_ENV] !== '1') {
    parent(flags);
    return;
  }
  const httpTarget = flags.http ?? Math.ceil(flags.packets / 200);
  const h = await FuzzHarness.create(flags.seed);
  process.on('uncaughtException', (e) => h.asyncErrors.push(e));
  process.on('unhandledRejection', (e) => h.asyncErrors.push(e));
  // The watchdog's view: a word per batch (at most one a second), each injected packet on file.
  const fd = openSync(process.env[BATCH_FILE_ENV]!, 'w');
  let lastWord = 0;
  let at = 0;
  h.onBatchStart = () => {
    ftruncateSync(fd, 0);
    at = writeSync(fd, `batch ${h.counters.batches}\n`, 0, 'latin1');
  };
  h.onInject = (p) => {
    at += writeSync(fd, `${toHex(p)}\n`, at, 'latin1');
  };
  h.onStep = () => {
    const now = performance.now();
    if (now - lastWord < 1000) return;
    lastWord = now;
    process.send!({ batch: h.counters.batches } satisfies Heartbeat);
  };
  process.stdout.write(
    `fuzz: seed ${flags.seed}, ${flags.packets} packets, ${httpTarget} HTTP streams, batches of ${flags.batch}, TSO ${h.tso ? 'on' : 'off'} (odd seeds)\n`,
  );

  const c = h.counters;
  const started = performance.now();
  let lastPrint = started;
  let baseline: number | undefined;
  let peakHeap = 0;
  while (c.fuzzPackets < flags.packets || c.httpStreams < httpTarget) {
    const fuzz = Math.min(flags.batch, flags.packets - c.fuzzPackets);
    const finding = await h.runBatch(Math.max(0, fuzz), c.httpStreams < httpTarget);
    if (finding !== undefined) report(finding);
    if (c.batches === 50) baseline = heapMiB();
    if (c.batches % 500 === 0 && baseline !== undefined) {
      const heap = heapMiB();
      peakHeap = Math.max(peakHeap, heap);
      if (heap > baseline + 256) {
        report({ kind: 'leak', message: `heap ${heap.toFixed(1)} MiB after GC, ${baseline.toFixed(1)} MiB at batch 50`, seed: flags.seed, batch: c.batches, packets: [] });
      }
    }
    const now = performance.now();
    if (now - lastPrint > 5000) {
      lastPrint = now;
      const s = (now - started) / 1000;
      process.stdout.write(
        `  ${c.fuzzPackets} fuzz packets (${Math.round(c.fuzzPackets / s)}/s), ${c.httpStreams} HTTP streams, ${c.batches} batches, ` +
          `${h.server.tcpLayer.stats().connections} connections, ${s.toFixed(0)} s\n`,
      );
    }
  }
  // The last streams opened get their bytes out before the drain silences the peer.
  for (let i = 0; i < 200 && h.peerBusy; i++) {
    const finding = await h.runBatch(0, false);
    if (finding !== undefined) report(finding);
  }
  const fuzzSeconds = (performance.now() - started) / 1000;
  const drained = await h.drain();
  if (drained !== undefined) report(drained);
  const endHeap = heapMiB();
  if (baseline !== undefined && endHeap > baseline + 64) {
    report({ kind: 'leak', message: `heap ${endHeap.toFixed(1)} MiB after the drain, ${baseline.toFixed(1)} MiB at batch 50`, seed: flags.seed, batch: c.batches, packets: [] });
  }
  const tcp = h.server.tcpLayer.stats();
  const ip = h.server.ip.stats();
  process.stdout.write(
    `fuzz: no finding. seed ${flags.seed}\n` +
      `  ${c.fuzzPackets} fuzz packets + ${c.peerPackets} peer packets in ${fuzzSeconds.toFixed(1)} s: ` +
      `${Math.round(c.fuzzPackets / fuzzSeconds)} fuzz packets/s, ${Math.round((c.fuzzPackets + c.peerPackets) / fuzzSeconds)} packets/s in all\n` +
      `  ${c.httpStreams} HTTP streams (${c.httpMutatedStreams} mutated), ${c.httpRequests} requests, ${c.httpResponseBytes} response bytes, ` +
      `${c.httpStreamsChecked} intact streams' responses checked; ` +
      `${c.cleanExchanges} clean exchanges; ${c.batches} batches; ${(c.virtualMs / 1000).toFixed(0)} s virtual\n` +
      `  server: ${ip.rxPackets} IPv4 in (${ip.rxBadChecksum} bad checksum, ${ip.rxTruncated} truncated, ${ip.rxBadFragment} bad fragment), ` +
      `${tcp.segmentsIn} TCP segments in, ${tcp.badSegments} bad, ${tcp.resetsSent} RSTs sent, ${tcp.passiveOpens} passive opens, ` +
      `${tcp.challengeAcks} challenge ACKs\n  TCP drops by reason: ${JSON.stringify(tcp.dropped)}\n` +
      `  heap after GC: ${baseline?.toFixed(1) ?? '-'} MiB at batch 50, peak ${peakHeap.toFixed(1)} MiB, ${endHeap.toFixed(1)} MiB after the drain\n`,
  );
  await h.close();
  closeSync(fd);
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`fuzz: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
