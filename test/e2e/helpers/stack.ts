/**
 * Start `tunstack serve` (the real CLI) inside a namespace and wait for its ready line.
 */
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.ts';
import { waitForExit, waitForLine, outputOf } from './wait.ts';

export interface ServeHandle {
  child: ChildProcess;
  readyLine: string;
  /** SIGTERM, wait for a clean exit; returns the exit code and every stdout line printed. */
  stop(): Promise<{ code: number | null; lines: string[] }>;
}

export async function startServe(ns: Netns, args: readonly string[] = []): Promise<ServeHandle> {
  const child = ns.spawn('node', ['--import', 'tsx', 'src/cli.ts', 'serve', '--log-level', 'warn', ...args]);
  const m = await waitForLine(child, /^tunstack: ready .*/, 20_000);
  return {
    child,
    readyLine: m[0],
    async stop() {
      child.kill('SIGTERM');
      const status = await waitForExit(child, 10_000);
      return { code: status.code, lines: outputOf(child)?.lines ?? [] };
    },
  };
}

/** Run `tunstack fetch URL` inside the namespace; returns its summary fields. */
export async function runFetch(
  ns: Netns,
  url: string,
  args: readonly string[] = [],
  timeoutMs = 120_000,
): Promise<{ code: number | null; bytes: number; sha256: string; status: number; retransmits: number; stdout: string; stderr: string }> {
  const r = await ns.exec('node', ['--import', 'tsx', 'src/cli.ts', 'fetch', url, '--log-level', 'warn', ...args], { timeoutMs });
  const m = /fetched (\d+) bytes .* status (\d+), sha256 ([0-9a-f]{64}), retransmits (\d+)/.exec(r.stdout);
  return {
    code: r.code,
    bytes: m ? Number(m[1]) : -1,
    status: m ? Number(m[2]) : -1,
    sha256: m ? m[3]! : '',
    retransmits: m ? Number(m[4]) : -1,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}
