/**
 * `npm run bench:loss -- --quick` from this checkout: the benchmark's plumbing works end to end (two
 * namespaces, the relay, both servers, a checked download per profile) and it prints its table with
 * every profile and no failure. The figures themselves are not asserted (they are timings).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeTun, REPO_ROOT } from './helpers/index.ts';

describeTun('e2e: npm run bench:loss (quick mode)', () => {
  it('prints a row per profile, every download byte-exact', () => {
    const r = spawnSync('node', ['--import', 'tsx', 'scripts/bench-loss.ts', '--quick'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 240_000 });
    expect(r.stderr).not.toContain('FAILED');
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('| '));
    expect(rows[0]).toMatch(/^\| profile \(each direction\) +\| size +\| Linux s +\| tunstack s +\| ratio/);
    const profiles = rows.slice(1).map((l) => l.split('|')[1]!.trim());
    expect(profiles).toEqual([
      'clean',
      'loss=5%',
      'delay=10ms,reorder=25%,reorder-corr=50%',
      'corrupt=1%',
      'delay=10ms,reorder=25%,reorder-corr=50%,loss=5%,dup=5%,corrupt=1%',
      'rate=20mbit,delay=20ms',
    ]);
    for (const row of rows.slice(1)) expect(row).not.toContain('failed');
  }, 300_000);

  it('--capture: keeps the pcaps and prints each sender\'s turnaround, with tunstack\'s split', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tunstack-bl-capture-'));
    try {
      const r = spawnSync('node', ['--import', 'tsx', 'scripts/bench-loss.ts', '--quick', '--profile', 'corrupt', '--capture', dir], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 240_000,
      });
      expect(r.stderr).not.toContain('FAILED');
      expect(r.status).toBe(0);
      for (const f of ['relay-side.pcap', 'tunstack0.pcap']) expect(statSync(join(dir, f)).size).toBeGreaterThan(10_000);
      const tail = r.stdout.slice(r.stdout.indexOf('turnaround, µs'));
      const rows = tail.split('\n').filter((l) => l.startsWith('| '));
      expect(rows[0]).toMatch(/Linux: ACK in -> data out .*tunstack: ACK in -> data out .*forward in .*the stack .*forward out/);
      const cells = rows[1]!.split('|').slice(1, -1).map((c) => c.trim());
      expect(cells[0]).toBe('corrupt=1%');
      // Every column has samples: "median [p10-p90]" in whole microseconds.
      for (const c of cells.slice(1)) expect(c).toMatch(/^\d+ \[\d+-\d+\]$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('--capture refuses a path with shell characters, before anything is set up', () => {
    const r = spawnSync('node', ['--import', 'tsx', 'scripts/bench-loss.ts', '--capture', '/tmp/a b;x'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--capture: not a plain directory path');
    expect(existsSync('/tmp/a b;x')).toBe(false);
  });
});
