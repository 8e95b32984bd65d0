/**
 * `tunstack doctor`: what running the stack needs, checked one thing per line, each failure with what
 * to do about it. Exit status 0 when `tunstack serve` with the same flags can start, 1 otherwise.
 *
 * It only reads (/proc, /sys, the addon, `ip addr`): it opens no device and sends nothing. The
 * machine is seen through a Probe so that tests can put any machine in front of it.
 */
import { accessSync, constants, readFileSync, readlinkSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { spawnSync } from 'node:child_process';
import { loadTunAddon } from '../link/tun-device.ts';
import { formatIpv4Address } from '../wire/ipv4-address.ts';
import { addressFlag, cidrFlag } from './serve.ts';
import { UsageError } from '../util/errors.ts';

export interface DoctorFlags {
  tun: string;
  hostAddr: string;
  addr: string;
}

export type CheckStatus = 'ok' | 'warn' | 'FAIL';

export interface Check {
  status: CheckStatus;
  name: string;
  detail: string;
  /** What to do (failures and warnings). */
  fix?: string;
}

/** A route of the kernel's IPv4 table (/proc/net/route), as host-order numbers. */
export interface Route {
  iface: string;
  destination: number;
  mask: number;
}

/** What doctor looks at. */
export interface Probe {
  nodeVersion: string;
  uid: number;
  /** The user's name, as `ip -d link` names a TUN device's owner. */
  user: string;
  /** Bits of CapEff in /proc/self/status. */
  effectiveCaps: bigint;
  /** 'missing' | 'no-access' | 'ok' for /dev/net/tun. */
  tunNode(): 'missing' | 'no-access' | 'ok';
  addon(): string | undefined; // undefined: loaded; else why not
  /**
   * The interface of that name in this network namespace (undefined: none); a TUN device's owner as
   * `ip -d link` gives it (a user name, or a uid where it has no name; undefined: no owner).
   */
  device(name: string): { tun: boolean; owner: string | undefined } | undefined;
  /** The IPv4 addresses (A/P) the interface has. */
  deviceAddresses(name: string): string[];
  routes(): Route[];
  /** The net namespace of this process and of pid 1 (undefined: cannot be read). */
  netns(): { self: string | undefined; init: string | undefined; userns: boolean };
  /** Can this user make a user namespace with its own network (`unshare -rn`)? undefined: unknown. */
  userNamespaces(): boolean | undefined;
  /** Every network interface's name in this network namespace. */
  interfaces(): string[];
}

const CAP_NET_ADMIN = 12n;

export function doctorChecks(f: DoctorFlags, probe: Probe): Check[] {
  const host = cidrFlag('host-addr', f.hostAddr);
  addressFlag('addr', f.addr);
  if (!/^[^\s/]{1,15}$/.test(f.tun)) throw new UsageError(`--tun must be an interface name of 1 to 15 characters, got ${JSON.stringify(f.tun)}`);
  const checks: Check[] = [];

  const major = Number(/^v?(\d+)/.exec(probe.nodeVersion)?.[1] ?? 0);
  checks.push(
    major >= 20
      ? { status: 'ok', name: 'node', detail: `${probe.nodeVersion} (20 or later needed)` }
      : { status: 'FAIL', name: 'node', detail: `${probe.nodeVersion} is too old`, fix: 'install Node.js 20 or later' },
  );

  const addonError = probe.addon();
  checks.push(
    addonError === undefined
      ? { status: 'ok', name: 'addon', detail: 'native/build/Release/tun.node loads' }
      : { status: 'FAIL', name: 'addon', detail: addonError, fix: 'run `npm install` (node-gyp builds it; needs python3, make and a C compiler)' },
  );

  const node = probe.tunNode();
  checks.push(
    node === 'ok'
      ? { status: 'ok', name: '/dev/net/tun', detail: 'present, readable and writable' }
      : node === 'missing'
        ? { status: 'FAIL', name: '/dev/net/tun', detail: 'missing', fix: 'sudo modprobe tun' }
        : {
            status: 'FAIL',
            name: '/dev/net/tun',
            detail: `present, but uid ${probe.uid} cannot open it for reading and writing`,
            fix: 'sudo chmod 0666 /dev/net/tun (the usual mode; opening it grants nothing by itself)',
          },
  );

  const capable = ((probe.effectiveCaps >> CAP_NET_ADMIN) & 1n) === 1n;
  const dev = probe.device(f.tun);
  const ownedByMe = (owner: string | undefined): boolean => owner === probe.user || owner === String(probe.uid);
  const owned = dev !== undefined && dev.tun && ownedByMe(dev.owner);
  const persistentHint = `sudo ip tuntap add mode tun user $USER name ${f.tun}`;
  if (capable) {
    checks.push({ status: 'ok', name: 'permission', detail: 'CAP_NET_ADMIN: the stack can create and configure its device' });
  } else if (owned) {
    checks.push({ status: 'ok', name: 'permission', detail: `no CAP_NET_ADMIN, but ${f.tun} is a persistent TUN device owned by you: serve attaches to it as it is` });
  } else {
    const userns = probe.userNamespaces();
    checks.push({
      status: 'FAIL',
      name: 'permission',
      detail:
        'no CAP_NET_ADMIN, and no persistent TUN device of yours by that name' +
        (userns === false ? '; unprivileged user namespaces are not available here (unshare -rn fails)' : ''),
      fix:
        userns === false
          ? `run it with sudo (sudo scripts/netns-run.sh ...), or have ${persistentHint} made for you`
          : `run inside \`unshare -rn\` (no sudo: scripts/netns-run.sh does it), or have ${persistentHint} made for you`,
    });
  }

  if (dev === undefined) {
    checks.push({ status: 'ok', name: 'device', detail: `${f.tun} does not exist: serve creates it` + (capable ? '' : ' (needs CAP_NET_ADMIN)') });
  } else if (!dev.tun) {
    checks.push({ status: 'FAIL', name: 'device', detail: `${f.tun} exists and is not a TUN device`, fix: 'choose another --tun NAME' });
  } else if (!capable && dev.owner !== undefined && !ownedByMe(dev.owner)) {
    checks.push({ status: 'FAIL', name: 'device', detail: `${f.tun} is a persistent TUN device owned by ${dev.owner}`, fix: `choose another --tun NAME, or ${persistentHint}` });
  } else if (!capable && dev.owner === undefined) {
    checks.push({ status: 'FAIL', name: 'device', detail: `${f.tun} is a persistent TUN device with no owner: only CAP_NET_ADMIN may attach`, fix: persistentHint });
  } else {
    const addrs = probe.deviceAddresses(f.tun);
    const want = `${formatIpv4Address(host.address)}/${host.prefixLength}`;
    if (capable || addrs.includes(want)) {
      checks.push({
        status: 'ok',
        name: 'device',
        detail: `${f.tun} is a persistent TUN device: serve attaches to it (EBUSY if another process has it open)` + (addrs.length ? `; it has ${addrs.join(', ')}` : ''),
      });
    } else {
      checks.push({
        status: 'FAIL',
        name: 'device',
        detail: `${f.tun} has ${addrs.length ? addrs.join(', ') : 'no IPv4 address'}, not ${want}, and you cannot change it`,
        fix: addrs.length ? `use --host-addr ${addrs[0]}` : `sudo ip addr add ${want} dev ${f.tun} && sudo ip link set ${f.tun} up`,
      });
    }
  }

  const clash = probe
    .routes()
    .filter((r) => r.iface !== f.tun && r.mask !== 0)
    .find((r) => {
      const mask = (prefixMask(host.prefixLength) & r.mask) >>> 0;
      return ((host.address & mask) >>> 0) === ((r.destination & mask) >>> 0);
    });
  const net = `${formatIpv4Address((host.address & prefixMask(host.prefixLength)) >>> 0)}/${host.prefixLength}`;
  checks.push(
    clash === undefined
      ? { status: 'ok', name: 'addresses', detail: `${net} clashes with no route of another interface` }
      : {
          status: 'FAIL',
          name: 'addresses',
          detail: `${net} overlaps the route ${formatIpv4Address(clash.destination)}/${maskLength(clash.mask)} on ${clash.iface}`,
          fix: 'choose --host-addr and --addr in a subnet that no interface uses',
        },
  );

  // Inside a namespace of its own when its net namespace differs from pid 1's; where pid 1 cannot be
  // read (containers, user namespaces), a namespace with no interface but lo and ours is private.
  const ns = probe.netns();
  const others = probe.interfaces().filter((i) => i !== 'lo' && i !== f.tun);
  if (ns.self !== undefined && ns.init !== undefined && ns.self !== ns.init) {
    checks.push({ status: 'ok', name: 'namespace', detail: `inside a network namespace of its own (${ns.self}): its traffic stays there` });
  } else if ((ns.init === undefined || ns.self === undefined) && others.length === 0) {
    checks.push({
      status: 'ok',
      name: 'namespace',
      detail: `inside a private network namespace (no interface but lo${ns.userns ? ', in a user namespace as unshare -rn makes' : ''})`,
    });
  } else {
    checks.push({
      status: 'warn',
      name: 'namespace',
      detail: `not inside a private network namespace (interfaces: ${others.join(', ') || 'lo'})`,
      fix: 'on a shared machine, run inside one: scripts/netns-run.sh npx tunstack serve',
    });
  }
  return checks;
}

function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

function maskLength(mask: number): number {
  let n = 0;
  for (let m = mask >>> 0; m & 0x80000000; m = (m << 1) >>> 0) n++;
  return n;
}

export function formatCheck(c: Check): string {
  return `${c.status.padEnd(4)}  ${c.name}: ${c.detail}` + (c.fix ? ` -> ${c.fix}` : '');
}

/** Print every check, one line each; 0 when none failed. */
export function runDoctor(f: DoctorFlags, probe: Probe = systemProbe()): number {
  const checks = doctorChecks(f, probe);
  for (const c of checks) process.stdout.write(formatCheck(c) + '\n');
  const failed = checks.filter((c) => c.status === 'FAIL').length;
  process.stdout.write(failed === 0 ? 'tunstack doctor: ready\n' : `tunstack doctor: ${failed} problem${failed > 1 ? 's' : ''}\n`);
  return failed === 0 ? 0 : 1;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** /proc/net/route holds addresses as the kernel's (little-endian) u32 in hex. */
function hexLe(text: string): number {
  const v = parseInt(text, 16);
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** `ip -j ARGS` parsed; [] when ip fails (no such device, no iproute2). */
function ipJson(args: string[]): unknown[] {
  const r = spawnSync('ip', ['-j', ...args], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || !r.stdout) return [];
  try {
    const v = JSON.parse(r.stdout) as unknown;
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

/** This machine. */
export function systemProbe(): Probe {
  return {
    nodeVersion: process.version,
    uid: process.getuid?.() ?? -1,
    user: userName(),
    effectiveCaps: BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readText('/proc/self/status') ?? '')?.[1] ?? '0'}`),
    tunNode() {
      try {
        if (!statSync('/dev/net/tun').isCharacterDevice()) return 'missing';
      } catch {
        return 'missing';
      }
      try {
        accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
        return 'ok';
      } catch {
        return 'no-access';
      }
    },
    addon() {
      try {
        loadTunAddon();
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
    // `ip` (netlink) rather than /sys/class/net, which shows the namespace that /sys was mounted in:
    // under `unshare -rn` that is still the host's.
    device(name) {
      const links = ipJson(['-d', 'link', 'show', 'dev', name]) as { linkinfo?: { info_kind?: string; info_data?: { user?: string | number } } }[];
      const link = links[0];
      if (link === undefined) return undefined;
      const user = link.linkinfo?.info_data?.user;
      return { tun: link.linkinfo?.info_kind === 'tun', owner: user === undefined ? undefined : String(user) };
    },
    deviceAddresses(name) {
      const r = spawnSync('ip', ['-4', '-o', 'addr', 'show', 'dev', name], { encoding: 'utf8', timeout: 5000 });
      return [...(r.stdout ?? '').matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]!);
    },
    routes() {
      const lines = (readText('/proc/net/route') ?? '').trim().split('\n').slice(1);
      return lines
        .map((l) => l.trim().split(/\s+/))
        .filter((c) => c.length >= 8)
        .map((c) => ({ iface: c[0]!, destination: hexLe(c[1]!), mask: hexLe(c[7]!) }));
    },
    netns() {
      const link = (p: string): string | undefined => {
        try {
          return readlinkSync(p);
        } catch {
          return undefined;
        }
      };
      const uidMap = (readText('/proc/self/uid_map') ?? '').trim().split(/\s+/);
      const userns = !(uidMap[0] === '0' && uidMap[1] === '0' && uidMap[2] === '4294967295');
      return { self: link('/proc/self/ns/net'), init: link('/proc/1/ns/net'), userns };
    },
    userNamespaces() {
      const r = spawnSync('unshare', ['--user', '--map-root-user', '--net', 'true'], { timeout: 5000 });
      if (r.error) return undefined; // no unshare (util-linux) to try with
      return r.status === 0;
    },
    interfaces() {
      return (ipJson(['link', 'show']) as { ifname?: string }[]).map((l) => l.ifname ?? '');
    },
  };
}
