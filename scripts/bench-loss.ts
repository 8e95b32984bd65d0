/**
 * `npm run bench:loss`: TCP on a bad network, Linux's kernel TCP against tunstack, through the same
 * userspace link emulator (`tunstack relay`, src/relay/relay.ts) with the same seeds.
 *
 *   namespace C (curl, 10.9.0.1)  --relay, impaired both ways--  namespace S (10.9.0.2, forwarding)
 *                                                                  |- kernel TCP (CUBIC) on 10.9.0.2:80
 *                                                                  |  (scripts/bench/bytes-server.py)
 *                                                                  '- tunstack serve on 10.77.0.2 (its own TUN)
 *
 * Before the first profile, each server makes ten downloads that are not measured (a warm-up: V8
 * compiles tunstack's code as it runs, its loss recovery last). One relay serves the whole run (`--control`); for each
 * profile and seed its impairment is set afresh, with that seed, for each server in turn (the order
 * alternating between seeds), so both meet the same faults; curl downloads the body
 * (/bytes/N: byte i = i % 251, checked by sha256), and the time is taken from curl. Printed: per
 * profile the median and range of each, the ratio of the medians (tunstack / Linux: below 1 is
 * faster than Linux), and the retransmissions of each sender (Linux's from `nstat` in the server's
 * namespace, tunstack's from its /stats), with tunstack's spurious ones (undone by
 * D-SACK/Eifel/F-RTO).
 *
 *   sudo npm run bench:loss                       # every profile, 3 seeds
 *   sudo npm run bench:loss -- --runs 5 --profile loss,combined
 *   sudo npm run bench:loss -- --quick            # 1 seed, 1 MiB: a smoke test of the script
 *   sudo npm run bench:loss -- --profile corrupt --capture /tmp/bl   # and where the round trip goes
 *
 * --capture DIR: tcpdump in the server's namespace, on the relay's device and on tunstack's, during
 * the measured downloads (pcaps kept in DIR), then a second table: each sender's turnaround (an ACK
 * in to the data it releases out, at the relay's device) and, for tunstack, its split into the
 * kernel's forwarding in, the stack itself, and the forwarding out (scripts/bench/turnaround.ts).
 *
 * Namespaces tsk-bl-PID-c and tsk-bl-PID-s (BENCH_NS_PREFIX replaces tsk-bl) are created here and deleted by name on exit; every
 * process started here is stopped by its pid. Timing figures only: nothing is asserted.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { addNetns, die, initBench, median, must, nameBench, netnsPrefix, request, sh, sleep, start, stop, table } from './bench/harness.ts';
import { downloadFlow, packetsOf, split, spread, turnarounds, type Pkt } from './bench/turnaround.ts';
import { parseIpv4Address } from '../src/wire/ipv4-address.ts';

nameBench('bench-loss');
const MiB = 1024 * 1024;

interface Profile {
  name: string;
  /** The --impair spec for each direction (a seed is added per run). */
  spec: string;
  bytes: number;
}

const PROFILES: Profile[] = [
  { name: 'clean', spec: '', bytes: 64 * MiB },
  { name: 'loss', spec: 'loss=5%', bytes: 8 * MiB },
  { name: 'reorder', spec: 'delay=10ms,reorder=25%,reorder-corr=50%', bytes: 8 * MiB },
  { name: 'corrupt', spec: 'corrupt=1%', bytes: 8 * MiB },
  { name: 'combined', spec: 'delay=10ms,reorder=25%,reorder-corr=50%,loss=5%,dup=5%,corrupt=1%', bytes: 8 * MiB },
  { name: 'access', spec: 'rate=20mbit,delay=20ms', bytes: 8 * MiB },
];

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' },
    profile: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'linux-cc': { type: 'string', default: 'cubic' },
    'serve-flags': { type: 'string', default: '' },
    spec: { type: 'string' },
    bytes: { type: 'string' },
    capture: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(
    'usage: npm run bench:loss [-- --runs N] [--profile clean,loss,reorder,corrupt,combined,access] [--linux-cc cubic|reno|bbr] [--quick]\n' +
      '       [--serve-flags="--busy-poll 50"]   # extra flags for tunstack serve (a variant of the stack; note the =)\n' +
      '       npm run bench:loss [-- --runs N] --spec IMPAIR [--bytes N]   # one profile of your own (IMPAIR as for --impair)\n' +
      '       [--capture DIR]   # pcaps of the measured downloads in DIR, and each sender\'s turnaround (ACK in to data out)\n',
  );
  process.exit(0);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 50) die(`--runs must be an integer 1..50, got ${values.runs}`);
let profiles = PROFILES;
if (values.profile !== undefined) {
  const names = values.profile.split(',');
  for (const n of names) if (!PROFILES.some((p) => p.name === n)) die(`unknown profile ${n} (known: ${PROFILES.map((p) => p.name).join(', ')})`);
  profiles = PROFILES.filter((p) => names.includes(p.name));
}
if (values.spec !== undefined) {
  if (values.profile !== undefined) die('--spec and --profile: one or the other');
  const bytes = Number(values.bytes ?? 8 * MiB);
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024 * MiB) die(`--bytes must be an integer 1..${1024 * MiB}, got ${values.bytes}`);
  // The spec itself is checked by the relay (a usage error before any device exists).
  profiles = [{ name: 'custom', spec: values.spec, bytes }];
} else if (values.bytes !== undefined) die('--bytes goes with --spec');
if (values.quick) profiles = profiles.map((p) => ({ ...p, bytes: 1 * MiB }));
// Linux's congestion control for its sender, set in the server's namespace: CUBIC, Linux's stock
// default and tunstack's, unless asked otherwise (a distribution may default to another, BBR say,
// which does not take loss as a congestion signal: a different race).
const linuxCc = values['linux-cc'];
if (!/^[a-z0-9_]{1,16}$/.test(linuxCc)) die(`--linux-cc: not a congestion control name: ${linuxCc}`);
// Extra flags for `tunstack serve`, to race a variant (say --busy-poll 50, --cc newreno). serve itself
// rejects a flag it does not know (exit 2, reported by start()).
const serveFlags = values['serve-flags'].split(/\s+/).filter((a) => a !== '');
if (serveFlags.some((a) => !/^[A-Za-z0-9=.,:%_-]+$/.test(a))) die(`--serve-flags: unexpected characters in ${JSON.stringify(values['serve-flags'])}`);
const seeds = values.quick ? [1] : Array.from({ length: runs }, (_, i) => i + 1);
const captureDir = values.capture;
if (captureDir !== undefined && !/^[A-Za-z0-9/._-]{1,200}$/.test(captureDir)) die(`--capture: not a plain directory path: ${JSON.stringify(captureDir)}`);


// ----------------------------------------------------------------------------------------------------
// Plumbing: namespaces and processes, all removed on the way out.

const NS_BASE = netnsPrefix('tsk-bl');
const NS_C = `${NS_BASE}-c`;
const NS_S = `${NS_BASE}-s`;
const DEV_C = `blc${process.pid % 100000}`;
const DEV_S = `bls${process.pid % 100000}`;
const work = mkdtempSync(join(tmpdir(), 'tunstack-bench-loss-'));

process.on('exit', () => rmSync(work, { recursive: true, force: true }));

interface Sample {
  seconds: number;
  ok: boolean;
  retransmits: number;
  spurious: number;
  /** Retransmission timeouts (tunstack only; Linux's nstat has no per-namespace count we trust here). */
  timeouts: number;
  /** CPU time (user + system, s) during the download: tunstack serve's (0 when Linux serves) and the relay's. */
  cpuStack: number;
  cpuRelay: number;
  /** Wall-clock span of the download (ms since the epoch), to find it in the captures. */
  fromMs: number;
  toMs: number;
  note?: string;
}

interface Counters {
  retransmits: number;
  spurious: number;
  timeouts: number;
}

function demoSha(n: number): string {
  const h = createHash('sha256');
  const block = Buffer.alloc(251 * 4096);
  for (let i = 0; i < block.length; i++) block[i] = i % 251;
  for (let left = n; left > 0; left -= block.length) h.update(block.subarray(0, Math.min(left, block.length)));
  return h.digest('hex');
}

/** Linux's TCP counters in the server namespace (nstat: absolute values, history untouched). */
function linuxCounters(): Counters {
  const out = sh('ip', ['netns', 'exec', NS_S, 'nstat', '-asz', 'TcpRetransSegs', 'TcpExtTCPSpuriousRTOs', 'TcpExtTCPDSACKRecvSegs', 'TcpExtTCPTimeouts']).stdout;
  const get = (k: string) => Number(new RegExp(`^${k}\\s+(\\d+)`, 'm').exec(out)?.[1] ?? 0);
  // Spurious retransmissions Linux found: D-SACKed segments (RFC 3708) and spurious RTOs (F-RTO).
  return {
    retransmits: get('TcpRetransSegs'),
    spurious: get('TcpExtTCPDSACKRecvSegs') + get('TcpExtTCPSpuriousRTOs'),
    timeouts: get('TcpExtTCPTimeouts'),
  };
}

/** tunstack's counters, read from the server namespace (not through the relay). */
function tunstackCounters(): Counters {
  const r = sh('ip', ['netns', 'exec', NS_S, 'curl', '-sS', '--max-time', '5', 'http://10.77.0.2/stats']);
  try {
    const tcp = (JSON.parse(r.stdout) as { stats: { tcp: Record<string, number> } }).stats.tcp;
    return { retransmits: tcp.retransmits ?? 0, spurious: (tcp.dsackSegments ?? 0) + (tcp.spuriousTimeouts ?? 0), timeouts: tcp.timeouts ?? 0 };
  } catch {
    return { retransmits: NaN, spurious: NaN, timeouts: NaN };
  }
}

/**
 * Wait (at most 3 s) until the server's side of the download has closed: its FIN's ACK comes
 * through the relay, and with the relay stopped before it, the FIN would be retransmitted during the
 * next run and counted there.
 */
async function closed(server: 'linux' | 'tunstack'): Promise<void> {
  for (let waited = 0; waited < 3000; waited += 50) {
    if (server === 'linux') {
      const r = sh('ip', ['netns', 'exec', NS_S, 'ss', '-Htn', 'sport = :80', 'state', 'last-ack', 'state', 'fin-wait-1', 'state', 'closing']);
      if (r.code === 0 && r.stdout.trim() === '') return;
    } else {
      // The /stats request's own connection is the one left.
      const r = sh('ip', ['netns', 'exec', NS_S, 'curl', '-sS', '--max-time', '5', 'http://10.77.0.2/stats']);
      try {
        if ((JSON.parse(r.stdout) as { stats: { tcp: { connections: number } } }).stats.tcp.connections <= 1) return;
      } catch {
        return;
      }
    }
    await sleep(50);
  }
}

/** The relay, started once (main): a link that is always there, its impairment set per download. */
let relay: ChildProcess;
/** tunstack serve (main). */
let serve: ChildProcess;

/** A process's CPU time so far (user + system, seconds), from /proc (clock ticks of 1/100 s). */
function cpuSeconds(child: ChildProcess): number {
  try {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14 and 15 of stat)
  } catch {
    return NaN;
  }
}

async function download(server: 'linux' | 'tunstack', profile: Profile, seed: number): Promise<Sample> {
  // From here on the faults are those of a relay just started with this spec and seed: the same
  // pattern for both servers (the link is idle now: nothing is in flight that it could hold).
  const impair = profile.spec === '' ? 'impair' : `impair --impair ${profile.spec},seed=${seed}`;
  await request(relay, impair, /^relay: a->b /, /^relay: error/);
  const counters = server === 'linux' ? linuxCounters : tunstackCounters;
  const before = counters();
  const cpu0 = [cpuSeconds(serve), cpuSeconds(relay)];
  const url = server === 'linux' ? `http://10.9.0.2/bytes/${profile.bytes}` : `http://10.77.0.2/bytes/${profile.bytes}`;
  const file = join(work, 'body');
  const fromMs = Date.now();
  const r = sh('ip', ['netns', 'exec', NS_C, 'curl', '-sS', '--max-time', '180', '-o', file, '-w', '%{time_total}', url], 200_000);
  const cpu1 = [cpuSeconds(serve), cpuSeconds(relay)];
  const toMs = Date.now();
  await closed(server);
  const after = counters();
  let ok = r.code === 0;
  let note: string | undefined = ok ? undefined : `curl exit ${r.code}: ${r.stderr.trim()}`;
  if (ok) {
    const body = readFileSync(file);
    const sha = createHash('sha256').update(body).digest('hex');
    if (body.length !== profile.bytes || sha !== expectedSha.get(profile.bytes)) {
      ok = false;
      note = `body mismatch: ${body.length} bytes, sha256 ${sha}`;
    }
  }
  rmSync(file, { force: true });
  return {
    seconds: Number(r.stdout),
    ok,
    retransmits: after.retransmits - before.retransmits,
    spurious: after.spurious - before.spurious,
    timeouts: after.timeouts - before.timeouts,
    cpuStack: server === 'tunstack' ? cpu1[0]! - cpu0[0]! : 0,
    cpuRelay: cpu1[1]! - cpu0[1]!,
    fromMs,
    toMs,
    note,
  };
}

const expectedSha = new Map<number, string>();


const f2 = (x: number) => x.toFixed(2);

async function main(): Promise<void> {
  initBench();
  for (const t of ['ip', 'curl', 'nstat']) if (sh('sh', ['-c', `command -v ${t}`]).code !== 0) die(`'${t}' is not installed`);
  for (const p of profiles) if (!expectedSha.has(p.bytes)) expectedSha.set(p.bytes, demoSha(p.bytes));

  addNetns(NS_C);
  addNetns(NS_S);
  must('ip', ['netns', 'exec', NS_S, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const available = must('sysctl', ['-n', 'net.ipv4.tcp_available_congestion_control']).trim().split(/\s+/);
  if (!available.includes(linuxCc)) sh('modprobe', [`tcp_${linuxCc}`]);
  // The two servers, started once; the one not being measured is idle.
  // Linux's sender: kernel TCP with the congestion control asked for (scripts/bench/bytes-server.py
  // says why it is not node:http), the same /bytes/N bodies.
  await start('ip', ['netns', 'exec', NS_S, '/usr/bin/python3', 'scripts/bench/bytes-server.py', '--port', '80', '--cc', linuxCc], new RegExp(`^bytes-server: ready cc=${linuxCc} `));
  // scripts/tunstack.js run as a program: its first line gives node the command's flags, as an
  // installed `tunstack` runs.
  serve = await start('ip', ['netns', 'exec', NS_S, 'scripts/tunstack.js', 'serve', '--log-level', 'warn', '--echo-port', '0', ...serveFlags], /^tunstack: ready/);
  // The link: one relay for the whole run, its impairment changed before each download (--control).
  // A relay started afresh per download spent its first one compiling its own code (V8), CPU taken
  // on this 2-core machine from whichever sender needed it more.
  relay = await start(
    'scripts/tunstack.js',
    ['relay', '--control', '--a', `${NS_C}:${DEV_C}:10.9.0.1/24`, '--b', `${NS_S}:${DEV_S}:10.9.0.2/24`],
    /^relay: ready/,
  );
  must('ip', ['-n', NS_C, 'route', 'replace', '10.77.0.0/24', 'dev', DEV_C]);

  // Warm-up, not measured: both servers are long-running processes, and tunstack's code is compiled
  // by V8 as it runs. Its first downloads after start take up to three times the CPU of later ones (64 MiB
  // clean: 420, 270, 150 ms of CPU in three downloads in a row), and the first profile would measure
  // that instead of TCP. Loss recovery takes longer to settle: 8 MiB with corrupt=1% in a row from
  // one tunstack serve took 290, 200, 200, 120, 120, 100 ms of CPU, then 40-90 ms from the seventh
  // on (V8 still optimizing, and deoptimizing, the recovery code: --trace-deopt). So two clean
  // downloads and eight with corruption from each server, through the relay, before the first run.
  if (!values.quick) {
    const warm: [Profile, number][] = [
      [{ name: 'warm-up', spec: '', bytes: 64 * MiB }, 2],
      [{ name: 'warm-up', spec: 'corrupt=1%', bytes: 8 * MiB }, 8],
    ];
    for (const [w, count] of warm) {
      if (!expectedSha.has(w.bytes)) expectedSha.set(w.bytes, demoSha(w.bytes));
      for (let i = 0; i < count; i++) {
        for (const server of ['linux', 'tunstack'] as const) {
          const r = await download(server, w, 100 + i);
          process.stderr.write(`  warm-up ${w.spec === '' ? 'clean' : w.spec} ${server}: ${r.ok ? `${f2(r.seconds)} s` : `FAILED (${r.note})`}\n`);
        }
      }
    }
  }
  process.stdout.write(
    `bench:loss: curl downloads through tunstack relay (impairment on both directions), ${seeds.length} seed(s) per profile\n` +
      `  Linux = kernel TCP (congestion control ${linuxCc}) in a namespace; tunstack = tunstack serve${serveFlags.length > 0 ? ` ${serveFlags.join(' ')}` : ' (CUBIC)'};\n` +
      '  time in seconds, median [min-max]\n\n',
  );
  // --capture: both devices of the server's namespace, from here to the end (the measured downloads).
  const captures: ChildProcess[] = [];
  if (captureDir !== undefined) {
    if (sh('sh', ['-c', 'command -v tcpdump']).code !== 0) die("--capture needs 'tcpdump'");
    mkdirSync(captureDir, { recursive: true });
    for (const [dev, name] of [[DEV_S, 'relay-side'], ['tunstack0', 'tunstack0']] as const) {
      // tcpdump says "listening on" on stderr: folded into stdout, it is the ready line. 96 bytes
      // hold the IP and TCP headers with options. --immediate-mode: without it the kernel hands
      // packets over in blocks, once a second, and a block still open when tcpdump is stopped is lost.
      const cmd = `exec tcpdump --immediate-mode -i ${dev} -s 96 -U -w ${join(captureDir, `${name}.pcap`)} 'tcp port 80' 2>&1`;
      captures.push(await start('ip', ['netns', 'exec', NS_S, 'sh', '-c', cmd], /listening on/));
    }
  }
  const measured: { profile: Profile; got: Record<'linux' | 'tunstack', Sample[]> }[] = [];
  const header = ['profile (each direction)', 'size', 'Linux s', 'tunstack s', 'ratio', 'Linux rtx/RTOs', 'tunstack rtx/RTOs', 'tunstack spurious', 'CPU s: tunstack / relay (Linux\'s run)'];
  const rows: string[][] = [];
  for (const profile of profiles) {
    const got: Record<'linux' | 'tunstack', Sample[]> = { linux: [], tunstack: [] };
    measured.push({ profile, got });
    for (const seed of seeds) {
      const order: ('linux' | 'tunstack')[] = seed % 2 === 1 ? ['linux', 'tunstack'] : ['tunstack', 'linux'];
      for (const server of order) {
        const s = await download(server, profile, seed);
        got[server].push(s);
        const cpu = server === 'tunstack' ? `CPU ${f2(s.cpuStack)} s stack, ${f2(s.cpuRelay)} s relay` : `CPU ${f2(s.cpuRelay)} s relay`;
        process.stderr.write(`  ${profile.name} seed ${seed} ${server}: ${s.ok ? `${f2(s.seconds)} s, ${s.retransmits} rtx, ${s.timeouts} RTOs, ${s.spurious} spurious, ${cpu}` : `FAILED (${s.note})`}\n`);
      }
    }
    const summary = (xs: Sample[]) => {
      const ok = xs.filter((s) => s.ok);
      if (ok.length === 0) return { text: 'failed', med: NaN };
      const t = ok.map((s) => s.seconds);
      const fails = xs.length - ok.length;
      return { text: `${f2(median(t))} [${f2(Math.min(...t))}-${f2(Math.max(...t))}]${fails ? ` (${fails} failed)` : ''}`, med: median(t) };
    };
    const l = summary(got.linux);
    const t = summary(got.tunstack);
    rows.push([
      profile.spec === '' ? 'clean' : profile.spec,
      `${profile.bytes / MiB} MiB`,
      l.text,
      t.text,
      Number.isNaN(l.med) || Number.isNaN(t.med) ? '-' : f2(t.med / l.med),
      `${median(got.linux.map((s) => s.retransmits))}/${median(got.linux.map((s) => s.timeouts))}`,
      `${median(got.tunstack.map((s) => s.retransmits))}/${median(got.tunstack.map((s) => s.timeouts))}`,
      String(median(got.tunstack.map((s) => s.spurious))),
      `${f2(median(got.tunstack.map((s) => s.cpuStack)))} / ${f2(median(got.tunstack.map((s) => s.cpuRelay)))} (${f2(median(got.linux.map((s) => s.cpuRelay)))})`,
    ]);
  }
  process.stdout.write(table(header, rows) + '\n');
  process.stdout.write('\nratio = tunstack median / Linux median (below 1: faster than Linux). rtx/RTOs = retransmitted segments / retransmission timeouts (medians per run).\n' +
      'CPU s = user + system time during the download (medians): of tunstack serve, and of the relay in tunstack\'s runs (in Linux\'s); Linux\'s sender runs in the kernel, not counted.\n');
  if (captureDir !== undefined) {
    for (const c of captures) await stop(c);
    let text: string;
    try {
      text = turnaroundTable(captureDir, measured);
    } catch (err) {
      // A capture cut short (tcpdump killed mid-record) is reported, the table above stands.
      text = `turnaround: the captures in ${captureDir} could not be read: ${(err as Error).message}`;
    }
    process.stdout.write('\n' + text + '\n');
  }
}

/** The --capture table: per profile, each sender's turnaround and tunstack's split (µs). */
function turnaroundTable(dir: string, measured: { profile: Profile; got: Record<'linux' | 'tunstack', Sample[]> }[]): string {
  const relaySide = readFileSync(join(dir, 'relay-side.pcap'));
  const linuxAt = packetsOf(relaySide, parseIpv4Address('10.9.0.2'));
  const stackAtRelay = packetsOf(relaySide, parseIpv4Address('10.77.0.2'));
  const stackAtTun = packetsOf(readFileSync(join(dir, 'tunstack0.pcap')), parseIpv4Address('10.77.0.2'));
  const rows: string[][] = [];
  for (const { profile, got } of measured) {
    const flows = (pkts: Pkt[], xs: Sample[]) => xs.map((s) => downloadFlow(pkts, s.fromMs, s.toMs));
    const linux = flows(linuxAt, got.linux).flatMap(turnarounds);
    const atRelay = flows(stackAtRelay, got.tunstack);
    const atTun = flows(stackAtTun, got.tunstack);
    const parts = atRelay.map((f, i) => split(f, atTun[i]!));
    rows.push([
      profile.spec === '' ? 'clean' : profile.spec,
      spread(linux),
      spread(atRelay.flatMap(turnarounds)),
      spread(parts.flatMap((p) => p.forwardIn)),
      spread(parts.flatMap((p) => p.inside)),
      spread(parts.flatMap((p) => p.forwardOut)),
    ]);
  }
  return (
    `turnaround, µs, median [p10-p90] over every ACK of the measured downloads (pcaps in ${dir}):\n` +
    table(['profile (each direction)', 'Linux: ACK in -> data out', 'tunstack: ACK in -> data out', 'of which forward in', 'the stack', 'forward out'], rows) +
    '\nACK in -> data out at the relay\'s device in the server namespace; tunstack\'s split from a second capture on its own TUN (tunstack0).\n'
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => die((err as Error).stack ?? String(err)),
);
