/**
 * Waiting on child processes without timing assertions: every wait has a timeout that turns into a
 * failure message carrying what the child printed, never into a pass.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { LineSplitter } from '../../../src/util/lines.ts';

/** Everything a child printed, line by line, recorded from the moment it was spawned. */
export interface OutputLog {
  readonly lines: string[];
  stderr: string;
  readonly events: EventEmitter; // 'line' (line: string)
}

const logs = new WeakMap<ChildProcess, OutputLog>();

/** Start recording a child's stdout lines and stderr (ns.spawn does this for you). */
export function recordOutput(child: ChildProcess): OutputLog {
  const existing = logs.get(child);
  if (existing) return existing;
  const log: OutputLog = { lines: [], stderr: '', events: new EventEmitter() };
  const lines = new LineSplitter((line) => {
    log.lines.push(line);
    log.events.emit('line', line);
  });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => lines.push(chunk));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    log.stderr = (log.stderr + chunk).slice(-8000);
  });
  logs.set(child, log);
  return log;
}

export function outputOf(child: ChildProcess): OutputLog | undefined {
  return logs.get(child);
}

function describeChild(child: ChildProcess, log: OutputLog): string {
  return `stdout:\n${log.lines.slice(-20).join('\n')}\nstderr:\n${log.stderr.slice(-2000)}` + (child.exitCode !== null ? `\nexit code ${child.exitCode}` : '');
}

/**
 * Resolve with the match of the first stdout line (already printed or yet to come) that matches
 * `regex`; reject if the child exits first or `timeoutMs` passes.
 */
export function waitForLine(child: ChildProcess, regex: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  const log = recordOutput(child);
  return new Promise((resolve, reject) => {
    for (const line of log.lines) {
      const m = regex.exec(line);
      if (m) return resolve(m);
    }
    const cleanup = (): void => {
      clearTimeout(timer);
      log.events.off('line', onLine);
      child.off('exit', onExit);
    };
    const onLine = (line: string): void => {
      const m = regex.exec(line);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (): void => {
      // Let the last stdout chunks arrive before giving up.
      setImmediate(() => {
        for (const line of log.lines) {
          const m = regex.exec(line);
          if (m) {
            cleanup();
            return resolve(m);
          }
        }
        cleanup();
        reject(new Error(`child exited before printing a line matching ${regex}\n${describeChild(child, log)}`));
      });
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no line matching ${regex} within ${timeoutMs} ms\n${describeChild(child, log)}`));
    }, timeoutMs);
    log.events.on('line', onLine);
    child.on('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) onExit();
  });
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolve when the child exits; reject after `timeoutMs` (the child is left running: destroy() kills it). */
export function waitForExit(child: ChildProcess, timeoutMs = 10_000): Promise<ExitStatus> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      const log = outputOf(child);
      reject(new Error(`child ${child.pid} did not exit within ${timeoutMs} ms` + (log ? `\n${describeChild(child, log)}` : '')));
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    child.once('exit', onExit);
  });
}
