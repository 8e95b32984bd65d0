/**
 * The in-process benchmarks (scripts/bench/keepalive.ts, scripts/bench/conn-setup.ts) run no root
 * and no kernel, so CI can run them small: they must finish, serve every request byte-exact (the
 * client checks each response's length), and print their figures. Nothing about speed is asserted.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function run(script: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('in-process benchmarks', () => {
  it('keepalive.ts serves every request on its persistent connections and reports CPU and allocation per request', () => {
    const { code, out } = run('scripts/bench/keepalive.ts', ['2000', '10', '2', '--alloc']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/^round 1: 2000 requests on 10 connections in \d+ ms: \d+\/s, CPU [\d.]+ us per request$/m);
    expect(out).toMatch(/^round 2: 2000 requests/m);
    expect(out).toMatch(/^median of 2 rounds: \d+ requests\/s, CPU [\d.]+ us per request$/m);
    const alloc = /^allocated \(sampled, collected objects included\): (\d+) bytes per request, both stacks$/m.exec(out);
    expect(alloc, out).not.toBeNull();
    expect(Number(alloc![1])).toBeGreaterThan(0);
    expect(out).toMatch(/B\/request {2}\S+ /);
  });

  it('keepalive.ts refuses a bad argument with a message', () => {
    const { code, out } = run('scripts/bench/keepalive.ts', ['0']);
    expect(code).toBe(2);
    expect(out).toContain('keepalive: REQUESTS must be an integer 1..100000000, got 0');
  });

  it('conn-setup.ts completes its short connections, none failed', () => {
    const { code, out } = run('scripts/bench/conn-setup.ts', ['300', '10', '1']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/^round 1: 300 connections \(0 failed\) in \d+ ms/m);
    expect(out).toMatch(/^median of 1 rounds: \d+ connections\/s/m);
  });
});
