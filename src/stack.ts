/**
 * The stack: composition and the run loop. This is where the layers meet and the only place that
 * owns a real timer.
 *
 *   device.rx(batch) -> for each packet: ip.receive -> (icmp | tcp).receive      [process]
 *                    -> tcp.flush: every connection with something to send emits  [dispatch]
 *                    -> arm one timer at min(ip.pollAt, tcp.pollAt)               [schedule]
 *
 * Outbound is the mirror image: connection -> tcp serialize -> ip.send -> device.send.
 * Socket calls (write/end/destroy) outside packet processing ask for a flush through tcp.onNeedFlush;
 * the stack runs it once in a microtask, so writes made in one tick coalesce into full segments.
 */
import type { DeviceStats, NetDevice, RxOffload } from './link/device.ts';
import { Ipv4Layer, type Ipv4Stats } from './ip/ipv4-layer.ts';
import type { IcmpCounters } from './ip/counters.ts';
import type { IcmpHandler } from './ip/icmp.ts';
import { IPPROTO_TCP } from './ip/types.ts';
import { TcpLayer, type TcpLayerOptions, type TcpStats } from './tcp/tcp-layer.ts';
import { TcpNet } from './socket/tcp-net.ts';
import { SystemClock, type Clock, type TimerHandle } from './util/clock.ts';
import { silentLogger, type Logger } from './util/logger.ts';
import { parseIpv4Address, formatIpv4Address } from './wire/ipv4-address.ts';
import type { TcpInfo } from './tcp/api.ts';

export interface StackOptions {
  /** The link: a TunDevice, a memory link end, or any stack of wrappers over one. */
  device: NetDevice;
  /** The stack's own IPv4 address, e.g. "10.77.0.2". */
  address: string;
  /**
   * The prefix length of the subnet the address is in (0..32; `serve` takes it from --host-addr).
   * With it, datagrams to the subnet's directed broadcast are told apart from datagrams for another
   * host (RFC 1122 §3.3.6): counted as rxBroadcast, not rxNotOurs. Without it, only 255.255.255.255
   * and multicast are.
   */
  prefixLength?: number;
  clock?: Clock;
  logger?: Logger;
  /** TCP tunables (MSL, min RTO, buffer sizes, backlog, ISN key for tests...). */
  tcp?: Partial<Omit<TcpLayerOptions, 'address' | 'ip' | 'clock' | 'logger'>>;
  /** Reassembly limits for incoming IPv4 fragments. */
  reassembly?: { timeoutMs?: number; maxDatagrams?: number; maxBytes?: number };
}

/** Every layer's counters (`Stack.stats()`), each the type its layer declares. */
export interface StackStats {
  device: DeviceStats;
  ip: Ipv4Stats;
  icmp: IcmpCounters;
  tcp: TcpStats;
}

export class Stack {
  readonly address: string;
  readonly device: NetDevice;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly ip: Ipv4Layer;
  readonly icmp: IcmpHandler;
  readonly tcpLayer: TcpLayer;
  /** node:net-style API: `stack.tcp.createServer(...)`, `stack.tcp.connect(...)`. */
  readonly tcp: TcpNet;

  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private flushQueued = false;
  private closed = false;
  /** Timer work deferred to the check phase (see onTimer); undefined when none is pending. */
  private deferred: ReturnType<typeof setImmediate> | undefined;
  /** Real clocks defer timer work past the I/O poll; a ManualClock runs it synchronously (tests). */
  private readonly deferTimerWork: boolean;

  constructor(opts: StackOptions) {
    this.address = formatIpv4Address(parseIpv4Address(opts.address));
    this.device = opts.device;
    this.clock = opts.clock ?? new SystemClock();
    this.logger = opts.logger ?? silentLogger();
    this.deferTimerWork = this.clock instanceof SystemClock;
    const device = this.device;

    this.ip = new Ipv4Layer({
      address: parseIpv4Address(this.address),
      transmit: (packet, segmentSize) => device.send(packet, segmentSize),
      ...(device.allocPacket !== undefined ? { allocPacket: (length: number) => device.allocPacket!(length) } : {}),
      mtu: device.mtu,
      tsoMaxSize: device.tsoMaxSize ?? 0,
      logger: this.logger,
      ...(opts.prefixLength !== undefined ? { prefixLength: opts.prefixLength } : {}),
      ...(opts.reassembly ? { reassembly: opts.reassembly } : {}),
    });
    this.icmp = this.ip.icmp; // the layer's own: echo replies, and the errors it sends
    this.tcpLayer = new TcpLayer({
      ...opts.tcp,
      address: this.address,
      ip: this.ip,
      clock: this.clock,
      logger: this.logger,
    });
    this.ip.register(IPPROTO_TCP, this.tcpLayer);
    this.tcpLayer.onNeedFlush = () => this.requestFlush();
    this.tcp = new TcpNet(this.tcpLayer, { clock: this.clock, localAddress: this.address });

    device.setReceiver((batch, offload) => this.onPackets(batch, offload));
  }

  /** One device wake-up: process every packet, then send what the connections have, then re-arm. */
  private onPackets(batch: readonly Uint8Array[], offload: RxOffload | undefined): void {
    if (this.closed) return;
    const now = this.clock.now();
    if (offload === undefined) for (let i = 0; i < batch.length; i++) this.ip.receive(now, batch[i]!);
    else for (let i = 0; i < batch.length; i++) this.ip.receive(now, batch[i]!, offload.flags[i]!);
    this.tcpLayer.flush(now);
    this.schedule();
  }

  private requestFlush(): void {
    if (this.flushQueued || this.closed) return;
    this.flushQueued = true;
    queueMicrotask(this.flushTask);
  }

  /** The microtask requestFlush queues, made once (socket writes ask for it every tick). */
  private readonly flushTask = (): void => {
    this.flushQueued = false;
    if (this.closed) return;
    this.tcpLayer.flush(this.clock.now());
    this.schedule();
  };

  /**
   * Node runs expired timers before it polls for I/O, so packets that arrived meanwhile (say, the ACK
   * that makes a tail loss probe unnecessary) are still unread in the device when the timer fires.
   * With a real clock the timer work therefore waits for the check phase (setImmediate), which comes
   * after the poll phase has delivered those packets; a ManualClock runs it at once, deterministically.
   * (One function for every timer armed: the timer is re-armed whenever the earliest deadline moves.)
   */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.closed) return;
    if (!this.deferTimerWork) {
      this.runTimers();
      return;
    }
    if (this.deferred) return;
    this.deferred = setImmediate(this.runDeferred);
  };

  /** The check phase's turn of deferred timer work (one function for every setImmediate). */
  private readonly runDeferred = (): void => {
    this.deferred = undefined;
    this.runTimers();
  };

  private runTimers(): void {
    this.timerAt = Infinity;
    if (this.closed) return;
    const now = this.clock.now();
    this.ip.poll(now);
    this.tcpLayer.poll(now);
    this.tcpLayer.flush(now);
    this.schedule();
  }

  /** Keep exactly one real timer armed, at the earliest deadline any layer asked for. */
  private schedule(): void {
    const ipAt = this.ip.pollAt() ?? Infinity;
    const tcpAt = this.tcpLayer.pollAt() ?? Infinity;
    const at = Math.min(ipAt, tcpAt);
    // Deferred timer work is pending: it re-arms the timer when it has run.
    if (this.deferred) return;
    if (at === this.timerAt) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    // setTimeout counts whole milliseconds (and fires a millisecond or two late), and RACK's
    // reordering window on a path of a fraction of a millisecond is tens of microseconds (RFC 8985
    // §6.2: min_RTT / 4): a deadline less than a millisecond ahead is waited for on the event loop
    // instead, checked once per turn after the I/O poll (setImmediate), for at most that millisecond.
    // A deadline already past goes through setTimeout as before, so that a layer that does not
    // clear its deadline costs a timer a millisecond, not a spinning loop.
    const ahead = at - this.clock.now();
    if (this.deferTimerWork && ahead > 0 && ahead < 1) {
      this.deferred = setImmediate(this.runDeferred);
      return;
    }
    this.timer = this.clock.setTimer(at, this.onTimer);
  }

  /** Counters of every layer, like `netstat -s`. */
  stats(): StackStats {
    return {
      device: this.device.stats(),
      ip: this.ip.stats(),
      icmp: this.icmp.stats(),
      tcp: this.tcpLayer.stats(),
    };
  }

  /** The connection table, like `ss -tan`. */
  connections(): TcpInfo[] {
    return this.tcpLayer.connectionTable();
  }

  /** Stop the run loop and close the device. Connections are abandoned (no FIN/RST is sent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    if (this.deferred) clearImmediate(this.deferred);
    this.deferred = undefined;
    await this.device.close();
  }
}

export function createStack(opts: StackOptions): Stack {
  return new Stack(opts);
}
