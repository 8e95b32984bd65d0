/**
 * The benchmark's lwIP server (scripts/bench/lwip/) and the suite (scripts/bench-suite.sh).
 *
 * lwip-httpd is built with cc against Debian's liblwip-dev, then run in a throwaway namespace on a
 * real TUN device, as the suite runs it: curl fetches / and /bytes/1000 (the bytes checked one by
 * one), two requests on one connection, a pipelined pair, an upload to /echo and a malformed request.
 * Then the suite's quick mode must print its table with the lwIP column filled in.
 *
 * Skipped where no TUN can be used (see test/e2e/helpers/tun-available.ts) or liblwip-dev is not
 * installed; with TUNSTACK_REQUIRE_TUN=1 in CI a missing library fails instead (.ci/run installs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, describeTun, REPO_ROOT, waitForLine, type Netns } from '../e2e/helpers/index.ts';

const LWIP = '10.78.0.2';

function lwipInstalled(): boolean {
  const r = spawnSync('dpkg', ['-s', 'liblwip-dev'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && /^Status: install ok installed/m.test(r.stdout);
}

/** describeTun, also gated on liblwip-dev (required in CI, as the TUN is). */
function describeLwip(name: string, fn: () => void): void {
  if (lwipInstalled()) {
    describeTun(name, fn);
  } else if (process.env.TUNSTACK_REQUIRE_TUN === '1' && process.env.CI !== undefined) {
    describe(name, () => {
      it('has liblwip-dev installed (TUNSTACK_REQUIRE_TUN=1 in CI)', () => {
        throw new Error('liblwip-dev is required here but not installed: apt-get install liblwip-dev');
      });
    });
  } else {
    console.warn(`[bench] skipping "${name}": liblwip-dev is not installed (apt-get install liblwip-dev)`);
    describe.skip(`${name} [skipped: liblwip-dev is not installed]`, fn);
  }
}

describeLwip('lwip-httpd (lwIP raw TCP API on a TUN)', () => {
  let ns: Netns;
  let dir: string;
  let bin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsk-lw-test-'));
    const build = spawnSync('bash', ['scripts/bench/lwip/build.sh', join(dir, 'build')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (build.status !== 0) throw new Error(`build.sh failed (${build.status}): ${build.stderr}`);
    bin = build.stdout.trim();
    expect(existsSync(bin)).toBe(true);
    ns = await createNetns('tsk-lw');
    const server = ns.spawn(bin, ['--tun', 'lwip0', '--host-addr', '10.78.0.1/24', '--addr', LWIP]);
    await waitForLine(server, /^lwip-httpd: ready lwIP 2\.1\.\d+ on http:\/\/10\.78\.0\.2:80\//, 10_000);
  });

  afterAll(async () => {
    await ns?.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Raw bytes over one TCP connection (bash's /dev/tcp): what the server answered in 3 s. */
  async function raw(request: string): Promise<string> {
    const r = await ns.exec('bash', ['-c', `exec 3<>/dev/tcp/${LWIP}/80; printf '%s' "$1" >&3; timeout 3 cat <&3`, 'raw', request]);
    return r.stdout;
  }

  it('GET / answers the 13-byte body with its Content-Length', async () => {
    const r = await ns.exec('curl', ['-sS', '-i', '--max-time', '5', `http://${LWIP}/`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toContain('\r\nContent-Length: 13\r\n');
    expect(r.stdout.endsWith('\r\n\r\nHello, world\n')).toBe(true);
  });

  it('GET /bytes/1000 answers 1000 bytes, byte i = i % 251 (as the demo site)', async () => {
    const out = join(dir, 'bytes.bin');
    const r = await ns.exec('curl', ['-sS', '--max-time', '5', '-o', out, '-w', '%{http_code} %{size_download}', `http://${LWIP}/bytes/1000`]);
    expect(r.stdout).toBe('200 1000');
    const body = readFileSync(out);
    expect(body.length).toBe(1000);
    for (let i = 0; i < body.length; i++) {
      if (body[i] !== i % 251) throw new Error(`byte ${i} is ${body[i]}, expected ${i % 251}`);
    }
  });

  it('keeps the connection alive: two requests, one connect', async () => {
    const r = await ns.exec('curl', ['-sS', '--max-time', '5', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{num_connects} %{size_download}\n', `http://${LWIP}/bytes/100`, `http://${LWIP}/`]);
    expect(r.stdout.trim().split('\n')).toEqual(['1 100', '0 13']);
  });

  it('answers pipelined requests in order, and closes after Connection: close', async () => {
    const out = await raw('GET /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const first = out.indexOf('Content-Length: 5\r\n');
    const second = out.indexOf('Content-Length: 13\r\n');
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    expect(out.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(out).toContain('Connection: close\r\n');
    expect(out.endsWith('Hello, world\n')).toBe(true); // and cat saw the end of the stream (FIN)
  });

  it('POST /echo reads the whole body and reports its length', async () => {
    const file = join(dir, 'upload.bin');
    writeFileSync(file, Buffer.alloc(300_000, 0x61));
    const r = await ns.exec('curl', ['-sS', '--max-time', '10', '-X', 'POST', '--data-binary', `@${file}`, `http://${LWIP}/echo`]);
    expect(r.stdout).toBe('body length: 300000\n');
  });

  it('a malformed request line gets 400 and the connection closed, an unknown path 404', async () => {
    const bad = await raw('NONSENSE\r\n\r\n');
    expect(bad).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(bad).toContain('Connection: close\r\n');
    const missing = await ns.exec('curl', ['-s', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${LWIP}/nowhere`]);
    expect(missing.stdout).toBe('404');
  });
});

describeLwip('scripts/bench-suite.sh quick mode', () => {
  it('prints the table with an lwIP column, figures in it, and removes its namespaces', () => {
    const r = spawnSync('bash', ['scripts/bench-suite.sh'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 170_000,
      env: { ...process.env, BENCH_QUICK: '1', BENCH_NS_PREFIX: 'tsk-lw-suite' },
    });
    if (r.status !== 0) throw new Error(`bench-suite.sh failed (${r.status}):\n${r.stdout}\n${r.stderr.slice(-3000)}`);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('| metric | lwIP | node:http | tunstack | tunstack/lwIP | tunstack/node:http | target (issue 14) | met? |');
    const ka = lines.find((l) => l.startsWith('| keep-alive req/s'));
    expect(ka).toBeDefined();
    const cells = ka!.split('|').map((c) => c.trim());
    // lwIP, node:http and tunstack each measured a rate (digits, maybe with thousands separators)
    for (const c of cells.slice(2, 5)) expect(c).toMatch(/^[0-9][0-9,.]*$/);
    const names = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(names).not.toMatch(/tsk-lw-suite-/);
  }, 180_000);
});
