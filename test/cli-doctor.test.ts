/**
 * tunstack doctor's verdicts, for machines put in front of it through a fake Probe: each check's
 * status and fix, and the exit status (0 only when nothing failed).
 */
import { describe, expect, it, vi } from 'vitest';
import { doctorChecks, formatCheck, runDoctor, type Probe } from '../src/app/doctor.ts';

const ROOT_CAPS = 0x1ffffffffffn;

function probe(over: Partial<Probe> = {}): Probe {
  return {
    nodeVersion: 'v20.20.2',
    uid: 0,
    user: 'root',
    effectiveCaps: ROOT_CAPS,
    tunNode: () => 'ok',
    addon: () => undefined,
    device: () => undefined,
    deviceAddresses: () => [],
    // 0.0.0.0/0 via eth0 (ignored: a default route clashes with nothing) and 192.168.5.0/24 on eth0.
    routes: () => [
      { iface: 'eth0', destination: 0, mask: 0 },
      { iface: 'eth0', destination: 0xc0a80500, mask: 0xffffff00 },
    ],
    netns: () => ({ self: 'net:[2]', init: 'net:[1]', userns: false }),
    interfaces: () => ['lo'],
    userNamespaces: () => true,
    ...over,
  };
}

const flags = { tun: 'tunstack0', hostAddr: '10.77.0.1/24', addr: '10.77.0.2' };

function byName(p: Probe, f = flags): Map<string, ReturnType<typeof doctorChecks>[number]> {
  return new Map(doctorChecks(f, p).map((c) => [c.name, c]));
}

describe('tunstack doctor', () => {
  it('a root shell in a namespace of its own: every check ok, one line each, exit 0', () => {
    const checks = doctorChecks(flags, probe());
    expect(checks.map((c) => `${c.status} ${c.name}`)).toEqual([
      'ok node',
      'ok addon',
      'ok /dev/net/tun',
      'ok permission',
      'ok device',
      'ok addresses',
      'ok namespace',
    ]);
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      expect(runDoctor(flags, probe())).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out).toHaveLength(8);
    expect(out.at(-1)).toBe('tunstack doctor: ready\n');
    expect(out[2]).toBe('ok    /dev/net/tun: present, readable and writable\n');
  });

  it('an ordinary user without a device: the permission check fails with both ways out; exit 1', () => {
    const c = byName(probe({ uid: 1000, effectiveCaps: 0n, tunNode: () => 'no-access' }));
    expect(c.get('permission')?.status).toBe('FAIL');
    expect(c.get('permission')?.fix).toMatch(/unshare -rn/);
    expect(c.get('permission')?.fix).toMatch(/sudo ip tuntap add mode tun user \$USER name tunstack0/);
    expect(c.get('/dev/net/tun')?.status).toBe('FAIL');
    expect(c.get('/dev/net/tun')?.fix).toBe('sudo chmod 0666 /dev/net/tun (the usual mode; opening it grants nothing by itself)');
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(runDoctor(flags, probe({ uid: 1000, effectiveCaps: 0n }))).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('an ordinary user where user namespaces are refused is told to use sudo or a persistent device', () => {
    const c = byName(probe({ uid: 1000, user: 'alice', effectiveCaps: 0n, userNamespaces: () => false }));
    expect(formatCheck(c.get('permission')!)).toBe(
      'FAIL  permission: no CAP_NET_ADMIN, and no persistent TUN device of yours by that name; unprivileged user namespaces are not available here (unshare -rn fails)' +
        ' -> run it with sudo (sudo scripts/netns-run.sh ...), or have sudo ip tuntap add mode tun user $USER name tunstack0 made for you',
    );
  });

  it('an ordinary user with a persistent device of theirs, configured by the administrator: ready', () => {
    const c = byName(
      probe({
        uid: 1000,
        user: 'alice',
        effectiveCaps: 0n,
        device: () => ({ tun: true, owner: 'alice' }),
        deviceAddresses: () => ['10.77.0.1/24'],
      }),
    );
    expect(c.get('permission')?.status).toBe('ok');
    expect(c.get('permission')?.detail).toMatch(/persistent TUN device owned by you/);
    expect(c.get('device')?.status).toBe('ok');
    expect(c.get('device')?.detail).toMatch(/has 10\.77\.0\.1\/24/);
  });

  it('the same device with another address: the fix names the address it has', () => {
    const c = byName(
      probe({ uid: 1000, user: 'alice', effectiveCaps: 0n, device: () => ({ tun: true, owner: '1000' }), deviceAddresses: () => ['10.9.0.1/24'] }),
    );
    expect(c.get('device')?.status).toBe('FAIL');
    expect(c.get('device')?.fix).toBe('use --host-addr 10.9.0.1/24');
  });

  it("someone else's device, an unowned device, and a name that is not a TUN device fail", () => {
    const user = { uid: 1000, user: 'alice', effectiveCaps: 0n };
    expect(byName(probe({ ...user, device: () => ({ tun: true, owner: 'bob' }) })).get('device')?.detail).toBe(
      'tunstack0 is a persistent TUN device owned by bob',
    );
    expect(byName(probe({ ...user, device: () => ({ tun: true, owner: undefined }) })).get('device')?.status).toBe('FAIL');
    expect(byName(probe({ device: () => ({ tun: false, owner: undefined }) })).get('device')?.detail).toBe(
      'tunstack0 exists and is not a TUN device',
    );
  });

  it('a host prefix overlapping another interface\'s route fails; the default route does not count', () => {
    const c = byName(probe(), { ...flags, hostAddr: '192.168.0.1/16', addr: '192.168.0.2' });
    expect(formatCheck(c.get('addresses')!)).toBe(
      'FAIL  addresses: 192.168.0.0/16 overlaps the route 192.168.5.0/24 on eth0 -> choose --host-addr and --addr in a subnet that no interface uses',
    );
    expect(byName(probe()).get('addresses')?.detail).toBe('10.77.0.0/24 clashes with no route of another interface');
  });

  it("the host's namespace is a warning (not a failure); a user namespace with only lo is private", () => {
    const host = byName(probe({ netns: () => ({ self: 'net:[1]', init: 'net:[1]', userns: false }), interfaces: () => ['lo', 'eth0'] }));
    expect(host.get('namespace')?.status).toBe('warn');
    expect(host.get('namespace')?.detail).toBe('not inside a private network namespace (interfaces: eth0)');
    const userns = byName(probe({ netns: () => ({ self: 'net:[5]', init: undefined, userns: true }), interfaces: () => ['lo', 'tunstack0'] }));
    expect(userns.get('namespace')?.status).toBe('ok');
    expect(userns.get('namespace')?.detail).toMatch(/user namespace as unshare -rn makes/);
  });

  it('an old node and a missing addon fail with what to do', () => {
    const c = byName(probe({ nodeVersion: 'v18.19.0', addon: () => 'the native TUN addon is not built' }));
    expect(c.get('node')?.status).toBe('FAIL');
    expect(c.get('addon')?.fix).toMatch(/npm install/);
  });
});
