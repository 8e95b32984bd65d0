/**
 * `npm run bench:loss`: TCP on a bad network, Linux's kernel TCP against tunstack, through the same
 * userspace link emulator (`tunstack relay`, src/relay/relay.ts) with the same seeds.
 *
 *   namespace C (curl, 10.9.0.1)  --relay, impaired both ways--  namespace S (10.9.0.2, forwarding)
 *                                                                  |- kernel TCP (CUBIC) on 10.9.0.2:80
 *                                                                  |  (scripts/bench/bytes-server.py)
 *                                                                  '- tunstack serve on 10.77.0.2 (its own TUN)
 *
 * For each profile and seed, the relay is started afresh with that seed for each server in turn (the
 * order alternating between seeds), curl downloads the body (/bytes/N: byte i = i % 251, checked by
 * sha256), and the time is taken from curl. Printed: per profile the median and range of each, the
 * ratio of the medians (tunstack / Linux: below 1 is faster than Linux), and the retransmissions of
 * each sender (Linux's from `nstat` in the server's namespace, tunstack's from its /stats), with
 * tunstack's spurious ones (undone by D-SACK/Eifel/F-RTO).
 *
 *   sudo npm run bench:loss                       # every profile, 3 seeds
 *   sudo npm run bench:loss -- --runs 5 --profile loss,combined
 *   sudo npm run bench:loss -- --quick            # 1 seed, 1 MiB: a smoke test of the script
 *
 * Namespaces tsk-bl-c-PID and tsk-bl-s-PID are created here and deleted by name on exit; every
 * process started here is stopped by its pid. Timing figures only: nothing is asserted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = new URL('..', import.meta.url).pathname;
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
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(
    'usage: npm run bench:loss [-- --runs N] [--profile clean,loss,reorder,corrupt,combined,access] [--linux-cc cubic|reno|bbr] [--quick]\n',
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
if (values.quick) profiles = profiles.map((p) => ({ ...p, bytes: 1 * MiB }));
// Linux's congestion control for its sender, set in the server's namespace: CUBIC, Linux's stock
// default and tunstack's, unless asked otherwise (a distribution may default to another, BBR say,
// which does not take loss as a congestion signal: a different race).
const linuxCc = values['linux-cc'];
if (!/^[a-z0-9_]{1,16}$/.test(linuxCc)) die(`--linux-cc: not a congestion control name: ${linuxCc}`);
const seeds = values.quick ? [1] : Array.from({ length: runs }, (_, i) => i + 1);

function die(msg: string): never {
  process.stderr.write(`bench-loss: ${msg}\n`);
  process.exit(1);
}

// ----------------------------------------------------------------------------------------------------
// Plumbing: namespaces and processes, all removed on the way out.

const NS_C = `tsk-bl-c-${process.pid}`;
const NS_S = `tsk-bl-s-${process.pid}`;
const DEV_C = `blc${process.pid % 100000}`;
const DEV_S = `bls${process.pid % 100000}`;
const created: string[] = [];
const children = new Set<ChildProcess>();
const work = mkdtempSync(join(tmpdir(), 'tunstack-bench-loss-'));

function sh(cmd: string, args: string[], timeoutMs = 15_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.code !== 0) die(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of created) {
    for (const pid of sh('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    sh('ip', ['netns', 'delete', ns]);
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/** Start a long-running process; resolves once a stdout line matches `ready`. */
function start(cmd: string, args: string[], ready: RegExp, timeoutMs = 30_000): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')}: not ready after ${timeoutMs} ms\n${lines.join('\n')}\n${err}`)), timeoutMs);
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (ready.test(line)) {
          clearTimeout(timer);
          resolve({ child, lines });
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready\n${lines.join('\n')}\n${err}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ----------------------------------------------------------------------------------------------------
// Measuring

interface Sample {
  seconds: number;
  ok: boolean;
  retransmits: number;
  spurious: number;
  /** Retransmission timeouts (tunstack only; Linux's nstat has no per-namespace count we trust here). */
  timeouts: number;
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

async function download(server: 'linux' | 'tunstack', profile: Profile, seed: number): Promise<Sample> {
  const impair = profile.spec === '' ? [] : ['--impair', `${profile.spec},seed=${seed}`];
  const relay = await start(
    'node',
    ['scripts/tunstack.js', 'relay', '--a', `${NS_C}:${DEV_C}:10.9.0.1/24`, '--b', `${NS_S}:${DEV_S}:10.9.0.2/24`, ...impair],
    /^relay: ready/,
  );
  must('ip', ['-n', NS_C, 'route', 'replace', '10.77.0.0/24', 'dev', DEV_C]);
  const counters = server === 'linux' ? linuxCounters : tunstackCounters;
  const before = counters();
  const url = server === 'linux' ? `http://10.9.0.2/bytes/${profile.bytes}` : `http://10.77.0.2/bytes/${profile.bytes}`;
  const file = join(work, 'body');
  const r = sh('ip', ['netns', 'exec', NS_C, 'curl', '-sS', '--max-time', '180', '-o', file, '-w', '%{time_total}', url], 200_000);
  const after = counters();
  await stop(relay.child);
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
    note,
  };
}

const expectedSha = new Map<number, string>();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const f2 = (x: number) => x.toFixed(2);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) die('run as root: sudo npm run bench:loss (namespaces and TUN devices need CAP_NET_ADMIN)');
  for (const t of ['ip', 'curl', 'nstat']) if (sh('sh', ['-c', `command -v ${t}`]).code !== 0) die(`'${t}' is not installed`);
  for (const p of profiles) if (!expectedSha.has(p.bytes)) expectedSha.set(p.bytes, demoSha(p.bytes));

  for (const ns of [NS_C, NS_S]) {
    must('ip', ['netns', 'add', ns]);
    created.push(ns);
    must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  must('ip', ['netns', 'exec', NS_S, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const available = must('sysctl', ['-n', 'net.ipv4.tcp_available_congestion_control']).trim().split(/\s+/);
  if (!available.includes(linuxCc)) sh('modprobe', [`tcp_${linuxCc}`]);
  // The two servers, started once; the one not being measured is idle.
  // Linux's sender: kernel TCP with the congestion control asked for (scripts/bench/bytes-server.py
  // says why it is not node:http), the same /bytes/N bodies.
  await start('ip', ['netns', 'exec', NS_S, '/usr/bin/python3', 'scripts/bench/bytes-server.py', '--port', '80', '--cc', linuxCc], new RegExp(`^bytes-server: ready cc=${linuxCc} `));
  await start('ip', ['netns', 'exec', NS_S, 'node', 'scripts/tunstack.js', 'serve', '--log-level', 'warn', '--echo-port', '0'], /^tunstack: ready/);

  process.stdout.write(
    `bench:loss: curl downloads through tunstack relay (impairment on both directions), ${seeds.length} seed(s) per profile\n` +
      `  Linux = kernel TCP (congestion control ${linuxCc}) in a namespace; tunstack = tunstack serve (CUBIC);\n` +
      '  time in seconds, median [min-max]\n\n',
  );
  const header = ['profile (each direction)', 'size', 'Linux s', 'tunstack s', 'ratio', 'Linux rtx/RTOs', 'tunstack rtx/RTOs', 'tunstack spurious'];
  const rows: string[][] = [];
  for (const profile of profiles) {
    const got: Record<'linux' | 'tunstack', Sample[]> = { linux: [], tunstack: [] };
    for (const seed of seeds) {
      const order: ('linux' | 'tunstack')[] = seed % 2 === 1 ? ['linux', 'tunstack'] : ['tunstack', 'linux'];
      for (const server of order) {
        const s = await download(server, profile, seed);
        got[server].push(s);
        process.stderr.write(`  ${profile.name} seed ${seed} ${server}: ${s.ok ? `${f2(s.seconds)} s, ${s.retransmits} rtx, ${s.timeouts} RTOs, ${s.spurious} spurious` : `FAILED (${s.note})`}\n`);
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
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  process.stdout.write([line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n') + '\n');
  process.stdout.write('\nratio = tunstack median / Linux median (below 1: faster than Linux). rtx/RTOs = retransmitted segments / retransmission timeouts (medians per run).\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => die((err as Error).stack ?? String(err)),
);
