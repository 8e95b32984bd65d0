/**
 * The e2e harness itself (test/e2e/helpers/netns.ts): when a test process dies without its exit
 * handlers (SIGKILL, as vitest kills a worker that overran its time), what it started inside a
 * namespace must not go on running there. A child process makes a namespace, starts `sleep 300` in
 * it through the helper, prints both, and is killed with SIGKILL: the sleep must be gone (the helper
 * asks the kernel for SIGTERM on its parent's death). The namespace it leaves is deleted here, by
 * its exact name.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, expect, it } from 'vitest';
import { describeTun, REPO_ROOT, waitForExit, waitForLine } from './helpers/index.ts';
import { killAndDeleteSync } from './helpers/netns.ts';

describeTun('a test process that dies leaves nothing running', () => {
  let leftNs: string | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tunstack-orphans-'));

  afterAll(() => {
    // The dead parent's namespace (its name it printed): what still runs there is killed with it.
    if (leftNs !== undefined) killAndDeleteSync(leftNs);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the child started in a namespace gets SIGTERM when its parent is SIGKILLed', async () => {
    const script = join(dir, 'parent.mts'); // an ES module (top-level await) wherever it lies
    writeFileSync(
      script,
      `import { createNetns } from ${JSON.stringify(join(REPO_ROOT, 'test/e2e/helpers/netns.ts'))};\n` +
        `const ns = await createNetns('tsk-orph');\n` +
        `const child = ns.spawn('sleep', ['300']);\n` +
        `child.on('spawn', () => console.log('ready ' + ns.name + ' ' + child.pid));\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const parent = spawn('node', ['--import', 'tsx', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const m = await waitForLine(parent, /^ready (\S+) (\d+)$/, 20_000);
    leftNs = m[1]!;
    const pid = Number(m[2]);
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await waitForExit(parent, 5000);
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = !alive(pid);
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    expect(gone).toBe(true);
  });
});

/** The process exists and is not a zombie. */
function alive(pid: number): boolean {
  const r = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  const stat = r.stdout.trim();
  return stat !== '' && !stat.startsWith('Z');
}
