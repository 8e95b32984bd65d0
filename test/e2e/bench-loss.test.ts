/**
 * `npm run bench:loss -- --quick` from this checkout: the benchmark's plumbing works end to end (two
 * namespaces, the relay, both servers, a checked download per profile) and it prints its table with
 * every profile and no failure. The figures themselves are not asserted (they are timings).
 */
import { spawnSync } from 'node:child_process';
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
});
