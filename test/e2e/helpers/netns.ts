/**
 * Throwaway network namespaces for e2e tests. Every test's traffic stays inside a namespace it
 * created; destroy() kills what runs there and deletes exactly that namespace.
 *
 * Node cannot enter a namespace itself (no setns), so everything that must run inside (the stack,
 * fixtures, ping, curl) is a child process started through `ip netns exec`.
 *
 *   let ns: Netns;
 *   beforeAll(async () => { ns = await createNetns('tsk-e2e'); });
 *   afterAll(async () => { await ns?.destroy(); });
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { REPO_ROOT } from './tun-available.ts';
import { recordOutput, waitForExit } from './wait.ts';

/**
 * `ip netns exec NAME cmd args...`, started through util-linux's setpriv where it exists so that the
 * command gets SIGTERM if the test process dies without running its exit handlers (a vitest worker
 * killed on a timeout): prctl(PR_SET_PDEATHSIG) survives the two execs (setpriv, then ip), so it is
 * the command itself that is signalled, and no stack is left running for ever in a namespace that
 * nobody will delete. (The namespace itself stays then; the exit handler below deletes it otherwise.)
 */
const SETPRIV = '/usr/bin/setpriv';
const PDEATHSIG = existsSync(SETPRIV);
function inNetns(name: string, cmd: string, args: readonly string[]): [string, string[]] {
  const ip = ['netns', 'exec', name, cmd, ...args];
  return PDEATHSIG ? [SETPRIV, ['--pdeathsig', 'TERM', '--', 'ip', ...ip]] : ['ip', ip];
}

export interface ExecOptions {
  /** Kill the command (SIGKILL) and reject after this long. Default 15 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null if killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Netns {
  readonly name: string;
  /** Run a command inside the namespace to completion. Resolves whatever the exit code; rejects on timeout. */
  exec(cmd: string, args?: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Start a long-running child inside the namespace (stdout lines recorded for waitForLine). cwd defaults to the repo root. */
  spawn(cmd: string, args?: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Kill every process in the namespace, then delete it. Idempotent. */
  destroy(): Promise<void>;
}

// Names must be unique within this process and across concurrently running test processes.
let counter = 0;
// Backstop: namespaces still alive when the process exits (a test crashed before afterAll).
const alive = new Set<string>();
process.once('exit', () => destroyLeftovers());

/**
 * Kill what runs in, and delete, every namespace this process created and did not destroy. Run after
 * each test file (test/e2e/helpers/leftovers-setup.ts): a test that fails before its own destroy()
 * leaves its namespace behind, and a later test of the same file that reuses the variable means the
 * file's afterAll never sees it; nor does the exit handler above when the worker is stopped with a
 * signal.
 */
export function destroyLeftovers(): void {
  for (const name of alive) killAndDeleteSync(name);
  alive.clear();
}

function ipSync(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
}

function pidsIn(name: string): number[] {
  const r = ipSync(['netns', 'pids', name]);
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** Kill every process in namespace `name` and delete it (for one this process knows it created). */
export function killAndDeleteSync(name: string): void {
  for (const pid of pidsIn(name)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  ipSync(['netns', 'delete', name]);
}

/**
 * Create namespace `${prefix}-${pid}-${n}` with loopback up. With TUNSTACK_NETNS_PREFIX set (e.g.
 * `tsk-pf`, on a machine shared by several people who each keep to their own names) it replaces the
 * prefix's leading `tsk`: `tsk-ping` becomes `tsk-pf-ping`.
 */
export async function createNetns(prefix = 'tsk-e2e'): Promise<Netns> {
  counter += 1;
  const own = process.env.TUNSTACK_NETNS_PREFIX;
  if (own !== undefined && !/^[A-Za-z0-9-]{1,20}$/.test(own)) throw new Error(`TUNSTACK_NETNS_PREFIX must be letters, digits and '-', got ${JSON.stringify(own)}`);
  const base = own !== undefined && prefix.startsWith('tsk') ? own + prefix.slice(3) : prefix;
  const name = `${base}-${process.pid}-${counter}`;
  const add = ipSync(['netns', 'add', name]);
  if (add.status !== 0) throw new Error(`ip netns add ${name} failed: ${add.stderr.trim()}`);
  alive.add(name);
  const lo = ipSync(['-n', name, 'link', 'set', 'lo', 'up']);
  if (lo.status !== 0) {
    killAndDeleteSync(name);
    alive.delete(name);
    throw new Error(`ip -n ${name} link set lo up failed: ${lo.stderr.trim()}`);
  }
  return new NetnsImpl(name);
}

class NetnsImpl implements Netns {
  readonly name: string;
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;

  constructor(name: string) {
    this.name = name;
  }

  exec(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    this.#checkAlive();
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const [file, argv] = inNetns(this.name, cmd, args);
    const child = spawn(file, argv, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.on('error', () => {}); // the command may exit without reading its input
    child.stdin.end(opts.input ?? '');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${cmd} ${args.join(' ')} (in ${this.name}) timed out after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code, signal });
      });
    });
  }

  spawn(cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    this.#checkAlive();
    const [file, argv] = inNetns(this.name, cmd, args);
    const child = spawn(file, argv, {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...opts,
    });
    this.#track(child);
    recordOutput(child);
    child.on('error', () => {}); // surfaced through waitForLine / waitForExit
    return child;
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const running = [...this.#children].filter((c) => c.exitCode === null && c.signalCode === null);
    for (const child of running) child.kill('SIGTERM');
    await Promise.all(
      running.map(async (child) => {
        try {
          await waitForExit(child, 2000);
        } catch {
          child.kill('SIGKILL');
          await waitForExit(child, 2000).catch(() => {});
        }
      }),
    );
    killAndDeleteSync(this.name); // also whatever the children left behind in the namespace
    alive.delete(this.name);
  }

  #track(child: ChildProcess): void {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new Error(`namespace ${this.name} was destroyed`);
  }
}
