/**
 * A userspace link emulator: two TUN devices, each moved into its own network namespace, and every
 * packet one side sends handed to the other through a seeded fault device (link/fault-device.ts) in
 * its direction. A Linux host on each side then talks to the other as over a wire with the loss,
 * delay, rate limit, reordering, duplication and corruption asked for, without `tc netem` (which many
 * kernels, this project's CI among them, lack).
 *
 *   namespace A                 this process                  namespace B
 *   10.9.0.1 --(DEV A)--> read --> FaultDevice a->b --> write --(DEV B)--> 10.9.0.2
 *            <-(DEV A)--  write <-- FaultDevice b->a <-- read  <-(DEV B)--
 *
 * It is a link, not a router: packets are forwarded as they are (no TTL decrement, no ICMP), so the
 * two sides see each other as neighbours. Devices are opened without offload so that what crosses is
 * what a wire would carry: MTU-sized packets with complete checksums, each impaired on its own.
 * Forwarding copies nothing: the buffer read from one device is the one written to the other.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { TunDevice, DEFAULT_TXQUEUELEN } from '../link/tun-device.ts';
import { checkFaultOptions, FaultDevice, type FaultCounters, type FaultOptions, type FaultRates } from '../link/fault-device.ts';
import { DeviceError, UsageError } from '../util/errors.ts';
import { formatIpv4Address, parseIpv4Address, parseIpv4Cidr, sameSubnet } from '../wire/ipv4-address.ts';

/** One end of the emulated link: the namespace, the TUN device created in it, and its host's address. */
export interface RelaySide {
  netns: string;
  dev: string;
  addr: string;
  prefixLength: number;
}

export interface RelayOptions {
  a: RelaySide;
  b: RelaySide;
  /** Impairment from A to B (packets A's host sends). */
  aToB?: FaultRates;
  /** Impairment from B to A. */
  bToA?: FaultRates;
  /** PRNG seed; each direction draws from its own stream derived from it. Default 1. */
  seed?: number;
  /** MTU of both devices. Default 1500. */
  mtu?: number;
}

/** What each direction does to its packets, and the seed both derive their faults from. */
export type RelayImpairment = Pick<RelayOptions, 'aToB' | 'bToA' | 'seed'>;

/**
 * One direction's fault options: its rates on the 'out' path of the device it writes to, and its own
 * stream of the seed (B to A's is offset, so the two directions' patterns are independent).
 */
function directionOptions(rates: FaultRates | undefined, seed: number, dir: 'aToB' | 'bToA'): FaultOptions {
  return { ...rates, dir: 'out', seed: dir === 'aToB' ? seed : (seed + 0x6d2b79f5) >>> 0 };
}

export interface RelayDirectionStats {
  /** What the fault stage did to this direction's packets. */
  fault: FaultCounters;
  /** Packets the receiving side's device could not take (its queue was full). */
  txDropped: number;
  bytes: number;
}

export interface RelayStats {
  aToB: RelayDirectionStats;
  bToA: RelayDirectionStats;
}

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const DEV_NAME = /^[^\s/:]{1,15}$/;

/**
 * Parse `NS:DEV:ADDR/PREFIX` (for example `tsk-a:relay0:10.9.0.1/24`). Throws UsageError naming the
 * flag and the part that is wrong.
 */
export function parseRelaySide(flag: string, text: string): RelaySide {
  const parts = text.split(':');
  if (parts.length !== 3) throw new UsageError(`${flag}: expected NETNS:DEV:ADDR/PREFIX (e.g. tsk-a:relay0:10.9.0.1/24), got ${JSON.stringify(text)}`);
  const [netns, dev, cidr] = parts as [string, string, string];
  if (!NETNS_NAME.test(netns) || netns === '.' || netns === '..') {
    throw new UsageError(`${flag}: not a network namespace name: ${JSON.stringify(netns)}`);
  }
  if (!DEV_NAME.test(dev) || Buffer.byteLength(dev) > 15) {
    throw new UsageError(`${flag}: device name must be 1 to 15 bytes without '/', ':' or spaces, got ${JSON.stringify(dev)}`);
  }
  let parsed: { address: number; prefixLength: number } | undefined;
  try {
    parsed = cidr.includes('/') ? parseIpv4Cidr(cidr) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || parsed.prefixLength < 1) {
    throw new UsageError(`${flag}: expected an IPv4 address with a prefix length 1..32 (10.9.0.1/24), got ${JSON.stringify(cidr)}`);
  }
  return { netns, dev, addr: formatIpv4Address(parsed.address), prefixLength: parsed.prefixLength };
}

/** Is `addr` inside `side`'s subnet (then the kernel's connected route reaches it)? */
function onLink(side: RelaySide, addr: string): boolean {
  return sameSubnet(parseIpv4Address(side.addr), parseIpv4Address(addr), side.prefixLength);
}

/** Run `ip ARGS`; a failure becomes a DeviceError with ip's own message. */
function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) {
    const msg = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    throw new DeviceError('ERR_RELAY_SETUP', `ip ${args.join(' ')}: ${msg}`);
  }
}

/** The forwarding loop's hot path: nothing here allocates per packet. */
export class Relay {
  private closed = false;
  private bytesAtoB = 0;
  private bytesBtoA = 0;

  private constructor(
    readonly options: Readonly<RelayOptions>,
    private readonly tunA: TunDevice,
    private readonly tunB: TunDevice,
    /** Wraps tunB: its 'out' path is the A->B impairment; its 'in' path passes B's packets up unchanged. */
    private readonly toB: FaultDevice,
    private readonly toA: FaultDevice,
  ) {
    toB.setReceiver((packets) => {
      for (let i = 0; i < packets.length; i++) {
        this.bytesBtoA += packets[i]!.length;
        toA.send(packets[i]!);
      }
    });
    toA.setReceiver((packets) => {
      for (let i = 0; i < packets.length; i++) {
        this.bytesAtoB += packets[i]!.length;
        toB.send(packets[i]!);
      }
    });
  }

  /**
   * Create both devices, move each into its namespace, give it its address and bring it up; then
   * forward. Throws UsageError for a bad configuration, DeviceError (ERR_TUN_OPEN, ERR_RELAY_SETUP)
   * when the kernel refuses; nothing is left behind on failure.
   */
  static open(opts: RelayOptions): Relay {
    const { a, b } = opts;
    if (a.netns === b.netns) throw new UsageError(`--a and --b must be in different namespaces (both ${a.netns})`);
    if (a.addr === b.addr) throw new UsageError(`--a and --b must have different addresses (both ${a.addr})`);
    for (const side of [a, b]) {
      if (!existsSync(`/run/netns/${side.netns}`)) {
        throw new UsageError(`network namespace ${JSON.stringify(side.netns)} does not exist (create it: ip netns add ${side.netns})`);
      }
    }
    const mtu = opts.mtu ?? 1500;
    const seed = opts.seed ?? 1;
    const opened: TunDevice[] = [];
    try {
      for (const side of [a, b]) {
        // Created unconfigured here (no address: nothing in this namespace can use it), then moved.
        const tun = TunDevice.open({ name: side.dev, configure: false, offload: false, mtu });
        opened.push(tun);
        ip(['link', 'set', 'dev', side.dev, 'netns', side.netns]);
        ip(['-n', side.netns, 'link', 'set', 'dev', side.dev, 'mtu', String(mtu), 'txqueuelen', String(DEFAULT_TXQUEUELEN), 'up']);
        ip(['-n', side.netns, 'addr', 'add', `${side.addr}/${side.prefixLength}`, 'dev', side.dev]);
      }
      for (const [side, other] of [
        [a, b],
        [b, a],
      ] as const) {
        if (!onLink(side, other.addr)) ip(['-n', side.netns, 'route', 'replace', `${other.addr}/32`, 'dev', side.dev]);
      }
    } catch (err) {
      for (const t of opened) void t.close();
      throw err;
    }
    const [tunA, tunB] = opened as [TunDevice, TunDevice];
    const toB = new FaultDevice(tunB, directionOptions(opts.aToB, seed, 'aToB'));
    const toA = new FaultDevice(tunA, directionOptions(opts.bToA, seed, 'bToA'));
    return new Relay(opts, tunA, tunB, toB, toA);
  }

  /**
   * Change the impairment while the link carries traffic (FaultDevice.setImpairment, each direction):
   * the faults from here on are those a relay opened with `imp` would make, from its seed; packets
   * held by the old impairment are sent on at once. Throws RangeError for a rate out of its range,
   * with the old impairment left in force in both directions.
   */
  setImpairment(imp: RelayImpairment): void {
    if (this.closed) return;
    const seed = imp.seed ?? 1;
    const ab = directionOptions(imp.aToB, seed, 'aToB');
    const ba = directionOptions(imp.bToA, seed, 'bToA');
    checkFaultOptions(ab); // both checked before either direction changes
    checkFaultOptions(ba);
    this.toB.setImpairment(ab);
    this.toA.setImpairment(ba);
  }

  stats(): RelayStats {
    const dir = (fault: FaultDevice, to: TunDevice, bytes: number): RelayDirectionStats => ({
      fault: fault.faultStats().out,
      txDropped: to.stats().txDropped,
      bytes,
    });
    return { aToB: dir(this.toB, this.tunB, this.bytesAtoB), bToA: dir(this.toA, this.tunA, this.bytesBtoA) };
  }

  /** Stop forwarding and delete both devices (they go with their addresses and routes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.toA.close(), this.toB.close()]);
  }
}
