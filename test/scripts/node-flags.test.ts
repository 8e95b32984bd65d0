/**
 * The node flags the `tunstack` command runs with (scripts/tunstack.js explains them) are written in
 * three places: the command's first line (`env -S` splits them off when it is run as a program, as
 * an installed bin is), `npm start`, and scripts/bench/lib.sh (the benchmarks run the stack as people
 * run it). They must be the same flags, and ones this Node accepts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

function shebangFlags(): string[] {
  const first = readFileSync('scripts/tunstack.js', 'utf8').split('\n')[0]!;
  const m = /^#!\/usr\/bin\/env -S node((?: --[a-z-]+=\S+)*)$/.exec(first);
  if (m === null) throw new Error(`unexpected first line of scripts/tunstack.js: ${first}`);
  return m[1]!.trim().split(' ');
}

function npmStartFlags(): string[] {
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
  const m = /^node((?: --[a-z-]+=\S+)*) scripts\/tunstack\.js serve$/.exec(start);
  if (m === null) throw new Error(`unexpected npm start: ${start}`);
  return m[1]!.trim().split(' ');
}

function benchFlags(): string[] {
  const m = /^BENCH_STACK_NODE_FLAGS=\(([^)]*)\)$/m.exec(readFileSync('scripts/bench/lib.sh', 'utf8'));
  if (m === null) throw new Error('BENCH_STACK_NODE_FLAGS=(...) not found in scripts/bench/lib.sh');
  return m[1]!.trim().split(/\s+/);
}

describe('the tunstack command’s node flags', () => {
  it('are the same on the first line of scripts/tunstack.js, in npm start and in scripts/bench/lib.sh', () => {
    const flags = shebangFlags();
    expect(flags).toEqual(['--max-semi-space-size=2', '--initial-old-space-size=64']);
    expect(npmStartFlags()).toEqual(flags);
    expect(benchFlags()).toEqual(flags);
  });

  it('are accepted by this node, and take effect when the command is run as a program', () => {
    const ok = spawnSync(process.execPath, [...shebangFlags(), '-e', '0'], { encoding: 'utf8', timeout: 20_000 });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    // Run through its first line (as npm's bin link runs it): the usage comes out, exit status 0.
    const help = spawnSync('scripts/tunstack.js', ['--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage:\n {2}tunstack serve /);
  });
});
