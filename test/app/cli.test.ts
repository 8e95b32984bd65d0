/**
 * The command line refuses bad flags with exit status 2 and a message naming the flag, before it
 * touches any device (so these run without a TUN device or root).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function cli(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('tunstack CLI flag errors', () => {
  it.each([
    [['serve', '--tso', 'maybe'], /--tso must be on or off, got "maybe"/],
    [['serve', '--mtu', '100'], /--mtu must be between 576 and 65535, got 100/],
    [['serve', '--txqueuelen', '0'], /--txqueuelen must be between 1 and 1000000, got 0/],
    [['fetch', 'http://10.77.0.1/', '--txqueuelen', 'lots'], /--txqueuelen must be an integer, got "lots"/],
    [['serve', '--busy-poll', '5000'], /--busy-poll must be between 0 and 1000, got 5000/],
    [['serve', '--log-level', 'loud'], /--log-level must be one of/],
    [['serve', '--no-such-flag'], /no-such-flag/],
    // The echo service defaults to port 7: both listeners on one port would crash the process.
    [['serve', '--port', '7'], /--port 7 is also the echo port \(--echo-port 7\)/],
    [['serve', '--port', '8080', '--echo-port', '8080'], /--port 8080 is also the echo port \(--echo-port 8080\)/],
  ])('%j exits 2 with a precise message', (args, message) => {
    const r = cli(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage:/);
  });
});
