/**
 * The real link: a Linux TUN device through the small native addon in native/tun.c.
 *
 * The kernel side of the link gets `hostAddress/prefixLength` (default 10.77.0.1/24); the stack on
 * top of this device uses another address in that subnet (10.77.0.2), so that the kernel routes
 * packets for it into the TUN device, where we read them, and takes the packets we write as if they
 * had arrived on a wire.
 *
 * Reads arrive in batches (up to 64 packets per event-loop wake-up) as views into a 256 KiB
 * ArrayBuffer that the addon fills batch after batch and never rewrites: the receiver owns them
 * (NetDevice contract). Like Node's Buffer pool, a view kept for a long time keeps its whole chunk
 * alive; copy a packet (`slice()`) if you store it for long.
 *
 * With offload (the default) each packet comes with the virtio_net_hdr the kernel wrote in front of
 * it: checked here against its packet (link/virtio-net.ts) and passed up as the batch's RxOffload
 * (super-segments, partial checksums), or the packet is dropped and counted (rxBadVnetHdr). The
 * packets sent in a tick leave in one writeBatch call, which the addon writes with one
 * io_uring_enter where it can (native/uring.c).
 */
import { createRequire } from 'node:module';
import { RX_GSO_TCPV4, type DeviceStats, type NetDevice, type PacketHandler, type RxOffload } from './device.ts';
import { DeviceError } from '../util/errors.ts';
import { acceptRxOffload, vnetGsoSize } from './virtio-net.ts';

export interface TunOpenOptions {
  /** Interface name (at most 15 bytes). Omitted: the kernel picks tun0, tun1, ... */
  name?: string;
  /** The kernel side's address on the link. Default 10.77.0.1. */
  hostAddress?: string;
  /** Default 24. */
  prefixLength?: number;
  /** Default 1500. */
  mtu?: number;
  /**
   * Configure address, MTU and link-up (default true). Steps that need CAP_NET_ADMIN are reported
   * 'skipped' when the device already has what they would set (a persistent device set up for you
   * by an administrator); otherwise opening fails with EPERM.
   */
  configure?: boolean;
  /** Called once if the device fails while open (e.g. deleted under us); reading has stopped. */
  onError?: (err: DeviceError) => void;
  /**
   * Segmentation offload both ways (default true): open the device with IFF_VNET_HDR, so that the
   * stack may write TCP super-segments of up to 64 KiB that the kernel takes in one write(2)
   * (tsoMaxSize), and ask the kernel for receive offload (TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4): it
   * then hands us its TCP super-segments whole and leaves checksums partial, each packet saying so
   * in its virtio_net_hdr (RxOffload, link/device.ts). False: one packet per read and per write, up
   * to the MTU, every checksum complete, like a plain TUN device.
   */
  offload?: boolean;
  /**
   * The device's transmit queue length, in packets (default DEFAULT_TXQUEUELEN): how many packets
   * the kernel may have sent towards us before we read them. The kernel's default of 500 drops SYN
   * bursts (each dropped SYN costs its client a retransmission 1 s later). Set with the rest of the
   * configuration (skipped without CAP_NET_ADMIN: the device keeps its own).
   */
  txqueuelen?: number;
  /**
   * Write a tick's packets with one io_uring_enter instead of one writev(2) each (native/uring.c),
   * where the kernel allows io_uring; elsewhere (old kernel, seccomp, the io_uring_disabled sysctl)
   * the writes stay plain and `stats().ioUring` says why. Default true: with 2 packets per tick it
   * writes 1.3 times as many per second, with 64 3.3 times (scripts/bench-tx.sh); a tick with one
   * packet is written plainly either way (README "Fewer system calls per packet").
   */
  ioUring?: boolean;
  /**
   * Busy polling, in microseconds (default 0: off; at most BUSY_POLL_MAX_US): after each read batch
   * the addon waits that long for the next packet by polling the fd instead of sleeping in epoll, as
   * Linux's SO_BUSY_POLL does for a socket (native/tun.c read_busy). A request-response peer's next
   * packet then finds the stack awake; the price is a core kept busy while it waits. See
   * README "Busy polling".
   */
  busyPollUs?: number;
}

/** The largest busy-poll wait the addon takes (native/tun.c TUN_BUSY_POLL_MAX_US). */
export const BUSY_POLL_MAX_US = 1000;

/**
 * The transmit queue length TunDevice.open() gives the device. Deeper absorbs more of a burst, but
 * what waits there waits: the stack takes some 50,000 SYNs per second here, so 10,000 is ~0.2 s
 * of queue. Measured (scripts/attack/05-burst.sh, 10,000 clients at once; 01-syn-flood.sh,
 * 100,000 spoofed SYNs with 20 curls among them): with the kernel's 500, 30,613 packets of the burst
 * dropped, the last client in after 5.3 s, the flood's slowest curl 1.0 s (its SYN resent once); with
 * 10,000, the last client in after 0.6 s, the slowest curl 2.0 s; with 50,000, nothing of the burst
 * dropped, but the slowest curl 4.0 s, queued behind the flood.
 */
export const DEFAULT_TXQUEUELEN = 10_000;
/** The largest it accepts (a pointer per slot in the kernel's ring: 8 MiB at this size). */
export const MAX_TXQUEUELEN = 1_000_000;

/** What open() did to each setting: 'set', 'skipped' (no permission, already configured), 'unchanged' (not asked). */
export type ConfigStep = 'set' | 'skipped' | 'unchanged';

export interface TunConfigured {
  readonly address: ConfigStep;
  readonly mtu: ConfigStep;
  readonly up: ConfigStep;
  readonly txqueuelen: ConfigStep;
  /** The kernel side's address as the device has it now (null when it has none). */
  readonly currentAddress: string | null;
}

export interface TunStats extends DeviceStats {
  /**
   * Batches handed over: one per wake-up that read packets, two when the wake-up's first packet
   * went alone (rxAloneFirst); rxPackets / rxBatches is the average batch size.
   */
  rxBatches: number;
  rxErrors: number;
  /** Packets that were not IPv4 (the kernel sends IPv6 router solicitations, for one); counted in rxDropped. */
  rxNotIpv4: number;
  /** Packets queued because write() said EAGAIN (total), and the queue length now. */
  txQueued: number;
  txQueueLength: number;
  txErrors: number;
  /** EAGAIN from write(2). */
  eagain: number;
  /** TCP super-segments written (each one counted once in txPackets). */
  txTso: number;
  /** The device's transmit queue length as the kernel has it (what we set, or its own; -1: unknown). */
  txqueuelen: number;
  /** TCP super-segments received (receive offload; each counted once in rxPackets). */
  rxGso: number;
  /** Packets whose virtio_net_hdr did not fit them (link/virtio-net.ts): dropped, counted in rxDropped. */
  rxBadVnetHdr: number;
  /** Read chunks (native/tun.c) malloc'ed, and refilled from the pool once JS had let go of them. */
  rxChunksNew: number;
  rxChunksReused: number;
  /** 'on' when writes go through io_uring, 'off' when not asked for, else why not (an errno name). */
  ioUring: string;
  /** io_uring_enter calls made for writes, and the packets they wrote. */
  uringEnters: number;
  uringPackets: number;
  /** Busy polls after a batch (see busyPoll), and those that found the next packet before giving up. */
  busyPolls: number;
  busyPollHits: number;
  /** Wake-ups whose first packet was handed over before the next read (the one before found one). */
  rxAloneFirst: number;
}

/** The shape of the addon (native/tun.c). */
export interface NativeConfigureResult {
  address: ConfigStep;
  mtu: ConfigStep;
  up: ConfigStep;
  txqueuelen: ConfigStep;
  currentMtu?: number;
  currentTxqueuelen?: number;
  currentAddress: string | null;
}

export interface NativeStats {
  rx: number;
  rxBytes: number;
  rxBatches: number;
  rxErrors: number;
  tx: number;
  txBytes: number;
  txQueued: number;
  txQueueLength: number;
  txDropped: number;
  txErrors: number;
  eagain: number;
  txGso: number;
  rxChunksNew: number;
  rxChunksReused: number;
  uringEnters: number;
  uringPackets: number;
  busyPolls: number;
  busyPollHits: number;
  rxAloneFirst: number;
}

export interface NativeTun {
  readonly name: string;
  readonly fd: number;
  /** Opened with IFF_VNET_HDR: writes may carry a segment size (TSO). */
  readonly vnetHdr: boolean;
  /** The kernel agreed to receive offload (TUNSETOFFLOAD): read packets may be partial or super-segments. */
  readonly rxOffload: boolean;
  /** txqueuelen: 0 or absent leaves the device's own. */
  configure(address: string | null, prefixLength: number, mtu: number, up: boolean, txqueuelen?: number): NativeConfigureResult;
  /** cb(chunk, offset, count): lengths as uint32 at chunk[offset..], packets from offset + BATCH * 4. */
  start(cb: (chunk: ArrayBuffer | null, offset: number, count: number, error: string | undefined) => void): void;
  stop(): void;
  /** gsoSize > 0: packet is a TCP super-segment to be cut into segments of gsoSize payload bytes. */
  write(packet: Uint8Array, gsoSize?: number): number;
  writeBatch(packets: readonly Uint8Array[], gsoSizes?: Uint16Array): number;
  stats(): NativeStats;
  ref(): void;
  unref(): void;
  close(): void;
  /** writeBatch through io_uring (on) or not: null when done, else the errno name why it cannot. */
  useIoUring(on: boolean): string | null;
  /** Test hook: the next n write attempts fail with EAGAIN, to exercise the queue. */
  /** After each batch, poll up to us microseconds for the next packet (0: off). */
  busyPoll(us: number): void;
  _simulateEagain(n: number): void;
}

export interface NativeAddon {
  /** rxOffload defaults to vnetHdr. */
  Tun: new (name?: string, vnetHdr?: boolean, rxOffload?: boolean) => NativeTun;
  BATCH: number;
  TX_QUEUE_MAX: number;
  /** Bytes of virtio_net_hdr in front of every packet read from a device opened with vnetHdr. */
  VNET_HDR_LEN: number;
}

interface NativeError extends Error {
  code?: string;
  syscall?: string;
  hint?: string;
}

const ADDON_PATHS = ['../../native/build/Release/tun.node', '../../native/build/Debug/tun.node'];

/** Load the addon built by `npm install` (node-gyp). Throws DeviceError ERR_TUN_ADDON if it is missing. */
export function loadTunAddon(): NativeAddon {
  const require = createRequire(import.meta.url);
  let firstError: unknown;
  for (const path of ADDON_PATHS) {
    try {
      return require(path) as NativeAddon;
    } catch (err) {
      firstError ??= err;
    }
  }
  const detail = firstError instanceof Error ? firstError.message.split('\n')[0] : String(firstError);
  throw new DeviceError(
    'ERR_TUN_ADDON',
    `the native TUN addon is not built (native/build/Release/tun.node): ${detail}`,
    undefined,
    'run `npm install`, which builds it with node-gyp',
  );
}

/** Turn an addon error (code = errno name, hint) into a DeviceError with a stable code. */
function toDeviceError(code: string, err: unknown): DeviceError {
  if (err instanceof DeviceError) return err;
  const e = err as NativeError;
  const hint = typeof e.hint === 'string' ? e.hint : undefined;
  const message = e instanceof Error ? e.message : String(err); // the hint is not in it: DeviceError adds it
  const errno = typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) ? e.code : undefined;
  const out = new DeviceError(code, message, errno, hint);
  (out as { cause?: unknown }).cause = err;
  return out;
}

const IPV4_VERSION = 4;
/** What a reused slot holds once its packet has gone. */
const NO_PACKET = new Uint8Array(0);
/** Transmit space of a TunDevice (allocPacket): 1 MiB to start, at most 16 MiB. */
const TX_ARENA_START = 1 << 20;
const TX_ARENA_MAX = 16 << 20;

export class TunDevice implements NetDevice {
  readonly #tun: NativeTun;
  readonly #mtu: number;
  readonly #configured: TunConfigured;
  readonly #onError: ((err: DeviceError) => void) | undefined;
  #receiver: PacketHandler | undefined;
  #closed = false;
  #rxNotIpv4 = 0;
  #rxNoReceiver = 0;
  #rxGso = 0;
  #txqueuelen = -1;
  #ioUring = 'off';
  #rxBadVnetHdr = 0;
  /** What the kernel said about each packet of the batch being delivered (receive offload), reused. */
  readonly #rxOffload: RxOffload | undefined;
  /**
   * The chunk consecutive batches are read into, as bytes (its virtio headers are read there) and
   * as 32-bit words (each batch's packet lengths): two views made once per 256 KiB chunk, not per batch.
   */
  #chunk: ArrayBuffer | undefined;
  #chunkBytes: Uint8Array | undefined;
  #chunkWords: Uint32Array | undefined;
  /**
   * The batch handed to the receiver, refilled for each wake-up (valid during the call only, like
   * RxOffload). Its slots are overwritten and its length set, never emptied: V8 drops the storage
   * of an array whose length is set to 0, and the next push allocates it again.
   */
  readonly #batch: Uint8Array[] = [];
  /** A batch is being delivered: what it sends is written when the receiver returns, without a microtask. */
  #delivering = false;
  /**
   * Packets sent this tick, written with one writeBatch call at its end (see send): the first
   * #pendingCount slots (refilled like #batch, never emptied).
   */
  readonly #pending: Uint8Array[] = [];
  /**
   * Their segment sizes (0: a plain packet); all zero unless #pendingTso. Handed to writeBatch as
   * it is (the addon reads the first #pendingCount), grown by doubling.
   */
  #pendingSizes = new Uint16Array(64);
  #pendingCount = 0;
  #pendingTso = false;
  #flushQueued = false;
  /** The microtask that flushes, made once (not a closure per tick). */
  readonly #flushTask = (): void => this.#flush();
  /**
   * Transmit space (allocPacket): this tick's outgoing packets are built back to back in it, and
   * once #flush's writes have returned (the addon copies what it must queue) it is free again.
   * Grown (doubled, up to TX_ARENA_MAX) when a tick needs more; the old one lives on only while
   * the packets in it are pending.
   */
  #txArena = new Uint8Array(TX_ARENA_START);
  #txUsed = 0;
  readonly #tsoMaxSize: number;

  readonly #headerBytes: number;
  /** Bytes before each packet in a batch (the virtio_net_hdr on a device with offload, else 0). */
  readonly #packetGap: number;

  private constructor(
    tun: NativeTun,
    batchSize: number,
    packetGap: number,
    mtu: number,
    configured: TunConfigured,
    onError?: (err: DeviceError) => void,
  ) {
    this.#tun = tun;
    this.#mtu = mtu;
    this.#configured = configured;
    this.#onError = onError;
    // TSO: super-segments of up to 64 KiB - 1 (an IPv4 datagram's largest size), when the device
    // was opened with a virtio-net header (the IPv4 layer uses it only where it exceeds the MTU).
    this.#tsoMaxSize = tun.vnetHdr ? 65535 : 0;
    // Start reading at once: while open, the device keeps the process alive (like a listening
    // socket); packets that arrive before setReceiver() are counted in rxDropped.
    this.#headerBytes = batchSize * 4;
    this.#packetGap = tun.vnetHdr ? packetGap : 0;
    this.#rxOffload = tun.rxOffload ? { flags: new Uint8Array(batchSize), segmentSize: new Uint16Array(batchSize) } : undefined;
    tun.start((chunk, offset, count, error) => this.#onBatch(chunk, offset, count, error));
  }

  /**
   * Open (or attach to a persistent) TUN device and configure its kernel side.
   * Throws DeviceError: ERR_TUN_ADDON, ERR_TUN_OPEN (errno EPERM, ENOENT, EBUSY, ...), ERR_TUN_CONFIGURE.
   */
  static open(opts: TunOpenOptions = {}): TunDevice {
    const addon = loadTunAddon();
    const hostAddress = opts.hostAddress ?? '10.77.0.1';
    const prefixLength = opts.prefixLength ?? 24;
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
      throw new DeviceError('ERR_TUN_CONFIGURE', `prefixLength must be an integer 0..32, got ${prefixLength}`);
    }
    // 68: the minimum MTU of an IPv4 link (RFC 791 §3.2, "Every internet module must be able to forward
    // a datagram of 68 octets without further fragmentation").
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new DeviceError('ERR_TUN_CONFIGURE', `mtu must be an integer 68..65535, got ${mtu}`);
    }
    const txqueuelen = opts.txqueuelen ?? DEFAULT_TXQUEUELEN;
    if (!Number.isInteger(txqueuelen) || txqueuelen < 1 || txqueuelen > MAX_TXQUEUELEN) {
      throw new DeviceError('ERR_TUN_CONFIGURE', `txqueuelen must be an integer 1..${MAX_TXQUEUELEN}, got ${txqueuelen}`);
    }
    let tun: NativeTun;
    try {
      tun = new addon.Tun(opts.name, opts.offload ?? true);
    } catch (err) {
      // A kernel that refuses the virtio-net header (EINVAL) still gets a plain TUN device, without TSO.
      if (opts.offload === false || (err as NativeError).code !== 'EINVAL') throw toDeviceError('ERR_TUN_OPEN', err);
      try {
        tun = new addon.Tun(opts.name, false);
      } catch (err2) {
        throw toDeviceError('ERR_TUN_OPEN', err2);
      }
    }
    let result: NativeConfigureResult;
    try {
      result =
        opts.configure === false
          ? tun.configure(null, prefixLength, 0, false) // only reads back the current settings
          : tun.configure(hostAddress, prefixLength, mtu, true, txqueuelen);
    } catch (err) {
      tun.close();
      throw toDeviceError('ERR_TUN_CONFIGURE', err);
    }
    const configured: TunConfigured = {
      address: result.address,
      mtu: result.mtu,
      up: result.up,
      txqueuelen: result.txqueuelen,
      currentAddress: result.currentAddress,
    };
    const device = new TunDevice(tun, addon.BATCH, addon.VNET_HDR_LEN, result.currentMtu ?? mtu, configured, opts.onError);
    device.#txqueuelen = result.currentTxqueuelen ?? -1;
    if (opts.ioUring ?? true) device.useIoUring(true);
    if (opts.busyPollUs !== undefined) device.busyPoll(opts.busyPollUs);
    return device;
  }

  /**
   * @internal A TunDevice over something with the addon's shape (tests: a fake NativeTun that hands
   * over batches laid out as native/tun.c lays them out). The device starts reading it at once.
   */
  static fromNative(tun: NativeTun, mtu = 1500, batchSize = 64, vnetHdrLen = 10): TunDevice {
    const configured: TunConfigured = { address: 'unchanged', mtu: 'unchanged', up: 'unchanged', txqueuelen: 'unchanged', currentAddress: null };
    return new TunDevice(tun, batchSize, vnetHdrLen, mtu, configured);
  }

  get name(): string {
    return this.#tun.name;
  }

  /** The device's MTU as the kernel has it (what we set, or what it had if that step was skipped). */
  get mtu(): number {
    return this.#mtu;
  }

  /** The largest TCP super-segment the kernel takes from us (0: no segmentation offload). */
  get tsoMaxSize(): number {
    return this.#tsoMaxSize;
  }

  /**
   * Write each tick's packets through io_uring (true) or with one writev(2) each (false). Returns
   * whether they now go through io_uring; when it cannot be had, stats().ioUring says why.
   */
  useIoUring(on: boolean): boolean {
    const err = this.#closed ? 'EBADF' : this.#tun.useIoUring(on);
    this.#ioUring = err === null ? (on ? 'on' : 'off') : err;
    return this.#ioUring === 'on';
  }

  /** Busy polling after each batch, up to us microseconds (0: off); see TunOpenOptions.busyPollUs. */
  busyPoll(us: number): void {
    if (!Number.isInteger(us) || us < 0 || us > BUSY_POLL_MAX_US) {
      throw new RangeError(`busyPoll: microseconds must be an integer from 0 to ${BUSY_POLL_MAX_US}, got ${us}`);
    }
    if (!this.#closed) this.#tun.busyPoll(us);
  }

  /** The device's transmit queue length as the kernel has it (see TunOpenOptions.txqueuelen; -1: unknown). */
  get txqueuelen(): number {
    return this.#txqueuelen;
  }

  /** The kernel hands us super-segments and partial checksums (receive offload, see TunOpenOptions.offload). */
  get rxOffload(): boolean {
    return this.#tun.rxOffload;
  }

  get configured(): TunConfigured {
    return this.#configured;
  }

  get closed(): boolean {
    return this.#closed;
  }

  setReceiver(rx: PacketHandler): void {
    this.#receiver = rx;
  }

  /**
   * Queue one packet; the packets sent while a received batch is being processed go out, in order,
   * in one writeBatch call when the receiver returns, and those sent at other times (timers, socket
   * writes) in one writeBatch call from a microtask: one JS/C crossing per batch or tick instead of
   * one per packet (still one write(2) per packet unless io_uring takes them). The native side sends,
   * queues on EAGAIN or drops and counts each one; it never throws for a full queue.
   */
  send(packet: Uint8Array, segmentSize?: number): void {
    if (this.#closed) return;
    const k = this.#pendingCount++;
    this.#pending[k] = packet;
    const size = segmentSize ?? 0;
    if (k === this.#pendingSizes.length) {
      const grown = new Uint16Array(2 * k);
      grown.set(this.#pendingSizes);
      this.#pendingSizes = grown;
    }
    this.#pendingSizes[k] = size;
    if (size > 0) this.#pendingTso = true;
    // Flushed by #onBatch when the receiver returns: no microtask (an AsyncResource and a bound
    // function each in Node) per echo reply.
    if (this.#flushQueued || this.#delivering) return;
    this.#flushQueued = true;
    queueMicrotask(this.#flushTask);
  }

  /**
   * NetDevice.allocPacket: `length` bytes of this tick's transmit space, for a packet to be sent
   * right away (see send). Not zeroed: the caller writes every byte.
   */
  allocPacket(length: number): Uint8Array {
    let at = this.#txUsed;
    if (at + length > this.#txArena.length) {
      const size = this.#txArena.length;
      if (size >= TX_ARENA_MAX) return new Uint8Array(length); // a tick of more than 16 MiB: rare
      this.#txArena = new Uint8Array(Math.min(2 * size, TX_ARENA_MAX));
      at = 0;
    }
    this.#txUsed = (at + length + 7) & ~7; // 8-aligned, like the addon's read chunks
    return this.#txArena.subarray(at, at + length);
  }

  /** Hand the pending packets to the addon now; the transmit space is free again afterwards. */
  #flush(): void {
    this.#flushQueued = false;
    this.#txUsed = 0;
    const n = this.#pendingCount;
    if (n === 0 || this.#closed) return;
    const batch = this.#pending;
    const sizes = this.#pendingSizes;
    if (n === 1) this.#tun.write(batch[0]!, sizes[0]!);
    else {
      if (batch.length !== n) batch.length = n; // shorter: trimmed in place
      if (this.#pendingTso) this.#tun.writeBatch(batch, sizes);
      else this.#tun.writeBatch(batch);
    }
    // The addon is done with both arrays (it copies what it must queue): reuse them, without
    // holding on to the packets (a super-segment is 64 KiB).
    for (let i = 0; i < n; i++) batch[i] = NO_PACKET;
    this.#pendingCount = 0;
    this.#pendingTso = false;
  }

  /** Let the process exit even while the device is open (like socket.unref()). */
  unref(): this {
    this.#tun.unref();
    return this;
  }

  ref(): this {
    this.#tun.ref();
    return this;
  }

  stats(): TunStats {
    this.#flush(); // count what this tick sent
    const n = this.#tun.stats();
    return {
      rxPackets: n.rx,
      rxBytes: n.rxBytes,
      txPackets: n.tx,
      txBytes: n.txBytes,
      txDropped: n.txDropped,
      rxDropped: this.#rxNotIpv4 + this.#rxNoReceiver + this.#rxBadVnetHdr,
      rxBatches: n.rxBatches,
      rxErrors: n.rxErrors,
      rxNotIpv4: this.#rxNotIpv4,
      txQueued: n.txQueued,
      txQueueLength: n.txQueueLength,
      txErrors: n.txErrors,
      eagain: n.eagain,
      txTso: n.txGso,
      txqueuelen: this.#txqueuelen,
      rxGso: this.#rxGso,
      rxBadVnetHdr: this.#rxBadVnetHdr,
      rxChunksNew: n.rxChunksNew,
      rxChunksReused: n.rxChunksReused,
      ioUring: this.#ioUring,
      uringEnters: n.uringEnters,
      uringPackets: n.uringPackets,
      busyPolls: n.busyPolls,
      busyPollHits: n.busyPollHits,
      rxAloneFirst: n.rxAloneFirst,
    };
  }

  /** Stop reading, close the fd (a non-persistent device disappears) and let the process exit. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#flush();
      this.#closed = true;
      this.#tun.close();
      this.#chunk = undefined; // let the last read chunk go back to the addon's pool
      this.#chunkBytes = undefined;
      this.#chunkWords = undefined;
    }
    return Promise.resolve();
  }

  /**
   * One wake-up's packets: `count` uint32 lengths at chunk[offset..], then the packets back to back
   * from offset + BATCH * 4 (on a device with offload each one after its VNET_HDR_LEN-byte
   * virtio_net_hdr, which is not part of its length). The chunk is shared with other batches but its bytes are never
   * rewritten, so the views below stay valid for as long as anyone holds them.
   */
  #onBatch(chunk: ArrayBuffer | null, offset: number, count: number, error: string | undefined): void {
    if (chunk === null) {
      const err = new DeviceError('ERR_TUN_IO', `reading from ${this.name} failed: ${error ?? 'unknown error'}`, error);
      if (this.#onError !== undefined) this.#onError(err);
      return;
    }
    if (chunk !== this.#chunk) {
      this.#chunk = chunk;
      this.#chunkBytes = new Uint8Array(chunk);
      this.#chunkWords = new Uint32Array(chunk, 0, chunk.byteLength >>> 2);
    }
    const bytes = this.#chunkBytes!;
    const lengths = this.#chunkWords!;
    const first = offset >>> 2; // the addon starts each batch 8-aligned
    const packets = this.#batch;
    let k = 0; // packets accepted so far
    let at = offset + this.#headerBytes;
    const gap = this.#packetGap;
    const rx = this.#rxOffload;
    for (let i = 0; i < count; i++) {
      const len = lengths[first + i]!;
      const hdrAt = at;
      at += gap;
      // The one object per packet: the receiver owns its bytes (NetDevice contract) and may keep them.
      const packet = new Uint8Array(chunk, at, len);
      at += len;
      if (len === 0 || packet[0]! >> 4 !== IPV4_VERSION) {
        this.#rxNotIpv4++;
        continue;
      }
      if (rx !== undefined) {
        // The virtio_net_hdr in front of it: checked against the packet, its flags passed up.
        const flags = acceptRxOffload(bytes, hdrAt, packet);
        if (flags < 0) {
          this.#rxBadVnetHdr++;
          continue;
        }
        rx.flags[k] = flags;
        rx.segmentSize[k] = flags & RX_GSO_TCPV4 ? vnetGsoSize(bytes, hdrAt) : 0;
        if (flags & RX_GSO_TCPV4) this.#rxGso++;
      }
      packets[k++] = packet;
    }
    if (k === 0) return;
    if (this.#receiver === undefined) {
      this.#rxNoReceiver += k;
      for (let i = 0; i < k; i++) packets[i] = NO_PACKET;
      return;
    }
    if (packets.length !== k) packets.length = k; // shorter: trimmed in place
    this.#delivering = true;
    try {
      this.#receiver(packets, rx);
    } finally {
      this.#delivering = false;
      // Let the views go (a view keeps its whole chunk out of the addon's pool).
      for (let i = 0; i < k; i++) packets[i] = NO_PACKET;
      this.#flush();
    }
  }
}
