/**
 * Running without root, as an unprivileged user (nobody), with the installed package:
 *
 * 1. rootless, no sudo at all: scripts/netns-run.sh, run by that user, falls back to `unshare -rn`
 *    (a user namespace with its own network namespace, where the user holds CAP_NET_ADMIN over that
 *    private network only); `npx tunstack serve` runs there and curl gets an answer.
 * 2. a persistent device made for the user by the administrator (`ip tuntap add mode tun user ...`,
 *    the address set by root) in a namespace of this test: `tunstack serve` attaches to it without
 *    any capability, serves, and leaves the device's configuration as the administrator made it.
 *
 * Opening /dev/net/tun needs read-write permission on the node. Most distributions make it 0666; where
 * it is not (this CI machine's is 0600), each command runs in a private mount namespace in which a
 * 0666 node of the same device (10, 200) is bind-mounted over /dev/net/tun, as on such a machine;
 * the host's node is not changed.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, REPO_ROOT, waitForExit, waitForLine, outputOf, type Netns } from './helpers/index.ts';
import { packAndInstall, run, type InstalledPackage } from './helpers/package.ts';

describeTun('unprivileged runs with the installed package', () => {
  let pkg: InstalledPackage | undefined;
  let user: { uid: number; gid: number; name: string };
  let devDir: string | undefined;
  /** Run argv as the unprivileged user (with a 0666 /dev/net/tun where the host's is not). */
  let asUser: (argv: string[]) => string[];

  beforeAll(async () => {
    user = unprivilegedUser();
    const tunMode = statSync('/dev/net/tun').mode & 0o777;
    const drop = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'env', 'HOME=/nonexistent', `USER=${user.name}`];
    if ((tunMode & 0o006) === 0o006) {
      asUser = (argv) => [...drop, ...argv];
    } else {
      devDir = mkdtempSync('/tmp/tunstack-dev-');
      chmodSync(devDir, 0o755);
      const node = join(devDir, 'tun');
      const mk = spawnSync('mknod', ['-m', '0666', node, 'c', '10', '200'], { encoding: 'utf8' });
      if (mk.status !== 0) throw new Error(`mknod ${node} failed: ${mk.stderr}`);
      asUser = (argv) => [
        'unshare', '--mount', '--propagation', 'private', '--',
        'sh', '-c', 'mount --bind "$0" /dev/net/tun && exec "$@"', node, ...drop, ...argv,
      ];
    }
    // unshare -rn needs unprivileged user namespaces: say so plainly if this kernel refuses them.
    const probe = spawnSync(asUser(['unshare', '-rn', 'true'])[0]!, asUser(['unshare', '-rn', 'true']).slice(1), { encoding: 'utf8', timeout: 10_000 });
    if (probe.status !== 0) {
      throw new Error(
        `unprivileged user namespaces are not available (unshare -rn as ${user.name} failed: ${probe.stderr.trim()}); ` +
          'check sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone',
      );
    }
    pkg = await packAndInstall();
  }, 420_000);

  afterAll(() => {
    pkg?.remove();
    if (devDir) rmSync(devDir, { recursive: true, force: true });
  });

  it('rootless: netns-run.sh as an ordinary user uses unshare -rn; npx tunstack serve answers curl there', async () => {
    const app = pkg!.app;
    const script = [
      // who we are in there: root of the user namespace, mapped to the unprivileged uid outside
      'echo "map $(cat /proc/self/uid_map | tr -s " " | sed "s/^ //")"',
      'npx tunstack doctor; echo "doctor $?"',
      'npx tunstack serve --log-level warn &',
      'for i in $(seq 100); do curl -s -m 2 -o /dev/null http://10.77.0.2/ && break; sleep 0.2; done',
      'echo "conn $(curl -s -m 5 http://10.77.0.2/conn | tr -d "\\n")"',
    ].join('\n');
    const argv = asUser(['node_modules/tunstack/scripts/netns-run.sh', 'bash', '-c', script]);
    const r = await run(argv[0]!, argv.slice(1), { cwd: app, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^map 0 ${user.uid} 1$`, 'm'));
    expect(r.stdout).toMatch(/^doctor 0$/m);
    expect(r.stdout).toMatch(/^ok {4}permission: CAP_NET_ADMIN/m);
    expect(r.stdout).toMatch(/^ok {4}namespace: inside a private network namespace \(no interface but lo, in a user namespace as unshare -rn makes\)$/m);
    expect(r.stdout).toMatch(/^tunstack: ready on tunstack0: host 10\.77\.0\.1\/24, stack 10\.77\.0\.2/m);
    const conn = JSON.parse(/^conn (.*)$/m.exec(r.stdout)![1]!) as { client: { address: string }; server: { port: number }; requestOnConnection: number; transport: string };
    expect(conn.client.address).toBe('10.77.0.1');
    expect(conn.server.port).toBe(80);
    expect(conn.requestOnConnection).toBe(1);
    expect(conn.transport).toBe('tunstack');
    // netns-run.sh stopped the stack with SIGTERM when the command ended: it printed its counters.
    const stats = JSON.parse(/^tunstack: stats (.*)$/m.exec(r.stdout)![1]!) as { tcp: { passiveOpens: number } };
    expect(stats.tcp.passiveOpens).toBe(2);
  });

  it("the README's first run command, as written, from this clone, as an ordinary user (no sudo)", async (ctx) => {
    // The clone must be readable by that user (CI's and most clones are; a clone under /root is not).
    const readable = spawnSync(asUser(['test', '-r', 'package.json'])[0]!, asUser(['test', '-r', 'package.json']).slice(1), { cwd: REPO_ROOT });
    if (readable.status !== 0) {
      console.warn(`[e2e] skipping the README's run command as ${user.name}: ${REPO_ROOT} is not readable by that user`);
      ctx.skip();
    }
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const run0 = /```sh\n(.*)\n/.exec(readme.slice(readme.indexOf('\n## Run')))![1]!;
    expect(run0).toBe("scripts/netns-run.sh bash -c 'npm start & sleep 2; curl -s --retry 5 --retry-all-errors http://10.77.0.2/conn; ping -c 3 10.77.0.2'");
    const argv = asUser(['bash', '-c', run0]);
    const r = await run(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tunstack: ready on tunstack0: host 10\.77\.0\.1\/24, stack 10\.77\.0\.2/m);
    expect(r.stdout).toMatch(/"requestOnConnection": 1,/);
    expect(r.stdout).toMatch(/^3 packets transmitted, 3 received, 0% packet loss/m);
    expect(r.stdout).toMatch(/^tunstack: stats \{/m);
  });

  it("a persistent device of the user's, configured by root: serve attaches without capabilities and leaves it as it was", async () => {
    const app = pkg!.app;
    let ns: Netns | undefined;
    try {
      ns = await createNetns('tsk-unpriv');
      for (const args of [
        ['tuntap', 'add', 'mode', 'tun', 'user', user.name, 'name', 'tunstack0'],
        ['addr', 'add', '10.77.0.1/24', 'dev', 'tunstack0'],
        ['link', 'set', 'tunstack0', 'mtu', '1400', 'up'],
      ]) {
        const r = await ns.exec('ip', args);
        expect(r.code, `ip ${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const doctorArgv = asUser(['node_modules/.bin/tunstack', 'doctor']);
      const doctor = await ns.exec(doctorArgv[0]!, doctorArgv.slice(1), { cwd: app });
      expect(doctor.code, doctor.stdout).toBe(0);
      expect(doctor.stdout).toMatch(/^ok {4}permission: no CAP_NET_ADMIN, but tunstack0 is a persistent TUN device owned by you/m);
      expect(doctor.stdout).toMatch(/^ok {4}device: tunstack0 is a persistent TUN device: serve attaches to it .*; it has 10\.77\.0\.1\/24$/m);

      const argv = asUser(['node_modules/.bin/tunstack', 'serve', '--log-level', 'warn', '--mtu', '1400', '--echo-port', '0']);
      const child = ns.spawn(argv[0]!, argv.slice(1), { cwd: app });
      const ready = await waitForLine(child, /^tunstack: ready .*/, 30_000);
      expect(ready[0]).toBe('tunstack: ready on tunstack0: host 10.77.0.1/24, stack 10.77.0.2, mtu 1400, http://10.77.0.2:80/');
      const caps = await ns.exec('sh', ['-c', `grep CapEff /proc/${child.pid}/status; stat -c %u /proc/${child.pid}`]);
      expect(caps.stdout).toBe(`CapEff:\t0000000000000000\n${user.uid}\n`);

      const curl = await ns.exec('curl', ['-s', '-m', '5', 'http://10.77.0.2/conn']);
      expect(curl.code).toBe(0);
      const conn = JSON.parse(curl.stdout) as { client: { address: string }; tcp: { mss: number } };
      expect(conn.client.address).toBe('10.77.0.1');
      expect(conn.tcp.mss).toBe(1348); // the device's MTU 1400 - 40 - 12 (timestamp option)

      child.kill('SIGTERM');
      const exit = await waitForExit(child, 10_000);
      expect(exit.code, outputOf(child)?.stderr).toBe(0);
      // Still there, still the administrator's: persistent, owned by the user, same address and MTU.
      const link = await ns.exec('ip', ['-d', '-j', 'addr', 'show', 'dev', 'tunstack0']);
      const [info] = JSON.parse(link.stdout) as [{ mtu: number; linkinfo: { info_data: { user: string; persist: boolean } }; addr_info: { local: string; prefixlen: number }[] }];
      expect(info.mtu).toBe(1400);
      expect(info.linkinfo.info_data.persist).toBe(true);
      expect(info.linkinfo.info_data.user).toBe(user.name);
      expect(info.addr_info.filter((a) => a.local.includes('.')).map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.77.0.1/24']);
    } finally {
      await ns?.destroy();
    }
  });
});

/** nobody where it exists, else a system user made for these tests. */
function unprivilegedUser(): { uid: number; gid: number; name: string } {
  for (const name of ['nobody', 'tunstack-test']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), name };
  }
  const add = spawnSync('useradd', ['-r', '-M', '-s', '/usr/sbin/nologin', 'tunstack-test'], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`no unprivileged user to test with, and useradd failed: ${add.stderr}`);
  return unprivilegedUser();
}


