/**
 * Plumbing for the TypeScript benchmarks (scripts/bench-loss.ts, scripts/bench-idle.ts): commands run
 * to completion with a bound, long-running processes started until a ready line, and, on any way out
 * (normal end, error, Ctrl-C), every process started here killed by its pid and every namespace made
 * here deleted by its exact name. The shell benchmarks have the same in scripts/bench/lib.sh.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { LineSplitter } from '../../src/util/lines.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;

const children = new Set<ChildProcess>();
const namespaces: string[] = [];
let name = 'bench';

export function die(msg: string): never {
  process.stderr.write(`${name}: ${msg}\n`);
  process.exit(1);
}

/** Run a command to completion (killed after `timeoutMs`). */
export function sh(cmd: string, args: string[], timeoutMs = 20_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

/** Run a command that must succeed; its stdout. */
export function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.code !== 0) die(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of namespaces) {
    for (const pid of sh('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    sh('ip', ['netns', 'delete', ns]);
  }
}

/** The benchmark's name in its messages ("bench-loss: ..."). */
export function nameBench(benchName: string): void {
  name = benchName;
}

/** Require root, and clean up on every way out. */
export function initBench(): void {
  if (process.getuid?.() !== 0) die(`run as root: sudo npm run ${name.replace('-', ':')} (namespaces and TUN devices need CAP_NET_ADMIN)`);
  process.on('exit', cleanup);
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
}

/**
 * The names this benchmark's namespaces start with: `defaultPrefix` (say tsk-bl), or env
 * BENCH_NS_PREFIX as the shell benchmarks take it (scripts/bench-suite.sh), so that on a shared
 * machine each runner keeps to names of its own. The pid follows it.
 */
export function netnsPrefix(defaultPrefix: string): string {
  const p = process.env['BENCH_NS_PREFIX'] ?? defaultPrefix;
  if (!/^[A-Za-z0-9-]{1,30}$/.test(p)) die(`BENCH_NS_PREFIX must be 1..30 letters, digits or '-', got ${JSON.stringify(p)}`);
  return `${p}-${process.pid}`;
}

/** Create namespace `ns` with loopback up; it is deleted on the way out. */
export function addNetns(ns: string): void {
  must('ip', ['netns', 'add', ns]);
  namespaces.push(ns);
  must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** A stdout 'data' listener (utf8 strings) that calls `onLine` once per complete line. */
function byLine(onLine: (line: string) => void): (s: string) => void {
  const lines = new LineSplitter(onLine);
  return (s) => lines.push(s);
}

/**
 * Start a long-running process; resolves once a stdout line matches `ready` (rejects if it exits or
 * `timeoutMs` passes first). Its stdin is a pipe (closing it is how some of them are told to stop).
 */
export function start(cmd: string, args: string[], ready: RegExp, timeoutMs = 30_000): Promise<ChildProcess> {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')}: not ready after ${timeoutMs} ms\n${lines.join('\n')}\n${err}`)), timeoutMs);
    child.stdout!.setEncoding('utf8').on(
      'data',
      byLine((line) => {
        lines.push(line);
        if (ready.test(line)) {
          clearTimeout(timer);
          resolve(child);
        }
      }),
    );
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready\n${lines.join('\n')}\n${err}`));
    });
  });
}

/** Stop a process started here: SIGTERM (or closing its stdin), SIGKILL after 10 s. */
export function stop(child: ChildProcess, how: 'signal' | 'stdin' = 'signal'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    if (how === 'stdin') child.stdin!.end();
    else child.kill('SIGTERM');
  });
}

/**
 * Write one line to the stdin of a process started here and resolve with the first stdout line
 * after it that matches `answer` (rejects on a line matching `error`, on exit, or after `timeoutMs`).
 */
export function request(child: ChildProcess, line: string, answer: RegExp, error: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let finished = false;
    const done = (f: () => void) => {
      finished = true;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      f();
    };
    const onData = byLine((got) => {
      if (finished) return;
      if (answer.test(got)) done(() => resolve(got));
      else if (error.test(got)) done(() => reject(new Error(`${JSON.stringify(line)}: ${got}`)));
    });
    const onExit = () => done(() => reject(new Error(`${JSON.stringify(line)}: the process exited`)));
    const timer = setTimeout(() => done(() => reject(new Error(`${JSON.stringify(line)}: no answer after ${timeoutMs} ms`))), timeoutMs);
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
    child.stdin!.write(line + '\n');
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A Markdown table with padded columns. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
