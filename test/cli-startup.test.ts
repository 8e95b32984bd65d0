/**
 * Start-up failures a newcomer meets first: each is a usage error (exit 2, one line naming the flag or
 * the file, then the usage), not a stack trace with exit 1, and none opens a device (so these run
 * without root or a TUN device).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, describeTun, waitForLine, type Netns } from './e2e/helpers/index.ts';

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tunstack start-up errors exit 2 with a message', () => {
  it.each([
    [['ladder', 'missing.pcap'], /^tunstack: cannot read missing\.pcap: no such file$/m],
    [['ladder', 'package.json'], /^tunstack: package\.json: pcap: bad magic 0x7b0a2020/m],
    [['serve', '--addr', '10.77.0.300'], /^tunstack: --addr must be an IPv4 address like 10\.77\.0\.2, got "10\.77\.0\.300"$/m],
    [['serve', '--host-addr', '10.77.0.1'], /^tunstack: --host-addr must be ADDRESS\/PREFIX like 10\.77\.0\.1\/24 \(the prefix length is required\), got "10\.77\.0\.1"$/m],
    [['serve', '--host-addr', '10.77.0.1/33'], /^tunstack: --host-addr must be ADDRESS\/PREFIX like 10\.77\.0\.1\/24 \(prefix 0\.\.32\), got "10\.77\.0\.1\/33"$/m],
    [['fetch', 'http://example.com/'], /^tunstack: fetch needs an IPv4 address in the URL, got the host name "example\.com": the stack has no DNS resolver/m],
    [['fetch', 'not a url'], /^tunstack: not a URL: "not a url"/m],
    [['fetch', 'https://10.77.0.1/'], /^tunstack: fetch supports http:\/\/ URLs only, got https:$/m],
    [['serve', '--root', '/nonexistent'], /^tunstack: --root \/nonexistent: no such directory$/m],
    [['serve', '--root', 'package.json'], /^tunstack: --root package\.json: not a directory$/m],
    // The capture file is created before the device is opened: a bad path opens nothing.
    [['serve', '--pcap', 'no/dir/x.pcap'], /^tunstack: --pcap no\/dir\/x\.pcap: cannot create the capture file \(ENOENT\)$/m],
    [['serve', '--tun', 'way-too-long-interface-name'], /^tunstack: --tun must be an interface name of 1 to 15 bytes/m],
    [['doctor', '--host-addr', '10.77.0.1'], /^tunstack: --host-addr must be ADDRESS\/PREFIX/m],
    [['doctor', 'extra'], /^tunstack: unexpected argument "extra"$/m],
    [['nosuchcommand'], /^tunstack: unknown command "nosuchcommand"$/m],
    [['serve', '--syn-cookies', 'maybe'], /^tunstack: --syn-cookies must be on or off, got "maybe"$/m],
    [['serve', '--max-connections', '0'], /^tunstack: --max-connections must be between 1 and 10000000, got 0$/m],
    [['serve', '--msl', '2s'], /^tunstack: --msl must be an integer, got "2s"$/m],
  ])('%j', (args, message) => {
    const r = cli(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/\nusage:\n/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
  });

  it('ladder --help prints its own usage (its flags, one line each) on stdout, exit 0', () => {
    const r = cli('ladder', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: tunstack ladder FILE \[--list\] \[--flow /);
    for (const flag of ['--list', '--flow F', '--time', '--width N']) expect(r.stdout).toContain(`  ${flag}`);
    expect(r.stderr).toBe('');
  });

  it.each([['--help'], ['serve', '--help'], ['fetch', '--help'], ['doctor', '--help']])('%j prints the usage on stdout, exit 0', (...args) => {
    const r = cli(...args);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage:\n {2}tunstack serve /);
    expect(r.stdout).toMatch(/tunstack doctor /);
    expect(r.stderr).toBe('');
  });

  it('no command at all prints the usage on stderr with exit 2', () => {
    const r = cli();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage:/);
  });
});

describeTun('a start-up failure after files were opened releases them and exits (real TUN, in a namespace)', () => {
  let ns: Netns;
  let dir: string;
  beforeAll(async () => {
    ns = await createNetns('tsk-start');
    dir = mkdtempSync('/tmp/tunstack-start-');
  });
  afterAll(async () => {
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a second serve on a busy device exits 1 with the reason (capture file closed, no hang); the first one keeps serving', async () => {
    const first = ns.spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--log-level', 'warn']);
    await waitForLine(first, /^tunstack: ready /, 20_000);
    const pcap = join(dir, 'second.pcap');
    const second = await ns.exec(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--pcap', pcap], { timeoutMs: 20_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toBe('tunstack: TUNSETIFF tunstack0: Device or resource busy (device name in use) [ERR_TUN_OPEN]\n');
    expect(statSync(pcap).size).toBe(24); // the global header only: created, then closed
    const curl = await ns.exec('curl', ['-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', 'http://10.77.0.2/']);
    expect(curl.stdout).toBe('200');
    first.kill('SIGTERM');
  });
});
