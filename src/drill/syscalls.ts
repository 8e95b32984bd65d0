/**
 * The system calls of a script, played on the socket API (src/socket/: stack.tcp.createServer,
 * stack.tcp.connect, TcpSocket) with Linux's return values and errno names. Descriptors are numbered
 * from 3, as in a fresh process (0, 1 and 2 are stdin, stdout and stderr).
 *
 * What the socket API cannot express (SO_LINGER with a timeout, buffer sizes or TCP_MAXSEG changed
 * after the handshake, other options and calls) makes the script SKIP with the reason, never a
 * silent pass: see SUPPORTED and unsupportedReason.
 */
import type { Stack } from '../stack.ts';
import type { TcpServer } from '../socket/tcp-server.ts';
import { POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, type TcpSocket } from '../socket/tcp-socket.ts';
import type { ConnectionOptions } from '../tcp/api.ts';
import type { SyscallArg, SyscallEvent } from './script.ts';

/** Linux's errno numbers for the names getsockopt(SO_ERROR) reports (asm-generic/errno.h). */
const ERRNO: Record<string, number> = {
  EPIPE: 32,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
};

/** fcntl(2) flag values on Linux x86-64 (asm-generic/fcntl.h). */
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;

export interface CallResult {
  readonly ret: number;
  readonly errno?: string;
  /** An out-argument that did not match (getsockopt, ioctl): what was found. */
  readonly mismatch?: string;
}

/**
 * Done now, or not yet: `blocked` is asked again after every step of virtual time until it answers.
 * `nonblocking`: what the call returns instead (EAGAIN) on an O_NONBLOCK descriptor when it still
 * cannot answer once the events of the same instant have run.
 */
export type CallOutcome =
  | { readonly done: CallResult }
  | { readonly blocked: () => CallResult | undefined; readonly nonblocking?: CallResult };

/** The script asked for something we do not model: the whole script is skipped with this reason. */
export class DrillSkip extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'DrillSkip';
  }
}

/** poll(2) bits by name (asm-generic/poll.h); POLLNVAL for a descriptor that is not open. */
const POLL_BITS: Record<string, number> = { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP, POLLNVAL: 0x020 };

const SUPPORTED = new Set(['socket', 'bind', 'listen', 'accept', 'connect', 'write', 'send', 'read', 'recv', 'close', 'shutdown', 'setsockopt', 'getsockopt', 'fcntl', 'ioctl', 'poll']);
const SOCKOPTS = new Set(['SO_REUSEADDR', 'TCP_NODELAY', 'SO_KEEPALIVE', 'SO_ERROR', 'SO_LINGER', 'TCP_MAXSEG', 'SO_SNDBUF', 'SO_RCVBUF']);
const GETSOCKOPTS = new Set(['SO_ERROR', 'TCP_MAXSEG', 'SO_SNDBUF', 'SO_RCVBUF']);

/** Why a call cannot be played (checked before the script runs), or undefined. */
export function unsupportedReason(e: SyscallEvent): string | undefined {
  if (!SUPPORTED.has(e.name)) return `line ${e.line}: system call ${e.name}() is not modelled`;
  if (e.name === 'setsockopt' || e.name === 'getsockopt') {
    const opt = symName(e.args[2]);
    if (opt === undefined || !SOCKOPTS.has(opt)) {
      return `line ${e.line}: ${e.name}(${opt ?? '?'}) is not in the socket API yet`;
    }
    if (e.name === 'getsockopt' && !GETSOCKOPTS.has(opt)) return `line ${e.line}: getsockopt(${opt}) is not in the socket API yet`;
    if (e.name === 'setsockopt' && opt === 'SO_LINGER') {
      const l = lingerArg(e.args[3]);
      if (l === undefined) return `line ${e.line}: setsockopt(SO_LINGER) needs {onoff=N, linger=N}`;
      if (l.onoff && l.linger !== 0) return `line ${e.line}: SO_LINGER with a timeout (a close that blocks until sent) is not modelled, only linger=0`;
    }
  }
  if (e.name === 'poll' && pollArgs(e.args) === undefined) {
    return `line ${e.line}: poll() needs [{fd=N, events=..., revents=...}, ...], nfds, timeout`;
  }
  if (e.name === 'ioctl' && symName(e.args[1]) !== 'SIOCINQ' && symName(e.args[1]) !== 'FIONREAD') {
    return `line ${e.line}: ioctl(${symName(e.args[1]) ?? '?'}) is not modelled (only SIOCINQ)`;
  }
  return undefined;
}

function field(a: SyscallArg | undefined, name: string): SyscallArg | undefined {
  return a?.kind === 'struct' ? a.fields.find((f) => f.name === name)?.value : undefined;
}

/** `{onoff=1, linger=0}` (a struct, or a one-item list of it). */
function lingerArg(a: SyscallArg | undefined): { onoff: boolean; linger: number } | undefined {
  const st = a?.kind === 'list' && a.items.length === 1 ? a.items[0] : a;
  const onoff = num(field(st, 'onoff'));
  const linger = num(field(st, 'linger'));
  return onoff === undefined || linger === undefined ? undefined : { onoff: onoff !== 0, linger };
}

/** Bits by name (`POLLIN|POLLOUT`) or number; undefined for `...` or a name we do not know. */
function pollBits(a: SyscallArg | undefined): number | undefined {
  if (a?.kind === 'num') return a.value;
  if (a?.kind !== 'sym') return undefined;
  let v = 0;
  for (const n of a.names) {
    const b = POLL_BITS[n];
    if (b === undefined) return undefined;
    v |= b;
  }
  return v;
}

interface PollFd {
  fd: number;
  events: number;
  /** Expected revents; undefined: not checked. */
  revents: number | undefined;
}

/** poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, timeout) */
function pollArgs(args: readonly SyscallArg[]): { fds: PollFd[]; timeout: number } | undefined {
  const list = args[0];
  if (list?.kind !== 'list') return undefined;
  const fds: PollFd[] = [];
  for (const it of list.items) {
    const fd = num(field(it, 'fd'));
    const events = pollBits(field(it, 'events'));
    const rv = field(it, 'revents');
    const revents = rv === undefined || rv.kind === 'ellipsis' ? undefined : pollBits(rv);
    if (fd === undefined || events === undefined || (rv !== undefined && rv.kind !== 'ellipsis' && revents === undefined)) return undefined;
    fds.push({ fd, events, revents });
  }
  const timeout = num(args[2]);
  if (timeout === undefined) return undefined;
  return { fds, timeout };
}

function pollNames(v: number): string {
  if (v === 0) return '0';
  const names = Object.entries(POLL_BITS).filter(([, b]) => (v & b) !== 0).map(([n]) => n);
  return names.join('|');
}

function symName(a: SyscallArg | undefined): string | undefined {
  return a?.kind === 'sym' && a.names.length === 1 ? a.names[0] : undefined;
}

function num(a: SyscallArg | undefined): number | undefined {
  if (a?.kind === 'num') return a.value;
  if (a?.kind === 'list' && a.items.length === 1 && a.items[0]!.kind === 'num') return a.items[0]!.value;
  return undefined;
}

interface Fd {
  nonblock: boolean;
  port: number | undefined;
  server?: TcpServer;
  /** Connections the handshake completed and accept() has not taken yet (each with its own Fd). */
  acceptQueue?: Fd[];
  socket?: TcpSocket;
  connecting?: boolean;
  /** The error the connection ended with (errno name), kept for SO_ERROR and the next call. */
  error?: string;
  /** SO_ERROR already reported it. */
  errorTaken?: boolean;
  eof?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** SO_LINGER {onoff=1, linger=0}: close() resets (socket.resetAndDestroy()). */
  lingerZero?: boolean;
  /** TCP_MAXSEG, SO_SNDBUF, SO_RCVBUF set before connect() or listen(). */
  connOptions?: ConnectionOptions;
  /** shutdown(SHUT_RD) was called: a read that would block returns 0. */
  readShut?: boolean;
}

export interface SocketTableOptions {
  /** Where connect() goes (the script's remote host). */
  remoteAddress: string;
  remotePort: number;
  /** The port bind(..., ...) picks (packetdrill's habit: 8080). */
  defaultPort: number;
}

const ok = (ret: number): CallOutcome => ({ done: { ret } });
const err = (errno: string): CallOutcome => ({ done: { ret: -1, errno } });

export class SocketTable {
  private readonly fds = new Map<number, Fd>();

  constructor(
    private readonly stack: Stack,
    private readonly opts: SocketTableOptions,
  ) {}

  /** Tear everything down at the end of a script (no packets are looked at after this). */
  closeAll(): void {
    for (const fd of this.fds.values()) {
      fd.socket?.destroy();
      fd.server?.close();
      for (const q of fd.acceptQueue ?? []) q.socket?.destroy();
    }
    this.fds.clear();
  }

  private newFd(fd: Fd): number {
    let n = 3;
    while (this.fds.has(n)) n++;
    this.fds.set(n, fd);
    return n;
  }

  private watch(fd: Fd, s: TcpSocket): void {
    s.on('error', (e: Error & { code?: string }) => {
      fd.error = e.code !== undefined && /^E[A-Z]+$/.test(e.code) ? e.code : 'ECONNRESET';
    });
    s.on('end', () => {
      fd.eof = true;
    });
  }

  call(e: SyscallEvent): CallOutcome {
    const a = e.args;
    if (e.name === 'socket') return ok(this.newFd({ nonblock: false, port: undefined }));
    if (e.name === 'poll') return this.poll(e);
    const n = num(a[0]);
    const fd = n === undefined ? undefined : this.fds.get(n);
    if (fd === undefined) return err('EBADF');
    switch (e.name) {
      case 'bind': {
        fd.port = this.opts.defaultPort;
        return ok(0);
      }
      case 'listen': {
        // The sockets wait in fd.acceptQueue until accept(): held in the layer's accept queue too, so
        // that listen()'s backlog bounds them as on Linux.
        const server = this.stack.tcp.createServer({ allowHalfOpen: true, noDelay: fd.noDelay === true, keepAlive: fd.keepAlive === true, ...fd.connOptions, holdAccepted: true });
        fd.acceptQueue = [];
        server.on('connection', (s: TcpSocket) => {
          // Watched from the start: a connection reset while still in the queue must not become an
          // unhandled 'error'; accept() then hands over the error with the descriptor.
          // Accepted sockets inherit the listener's options, as on Linux (SO_LINGER included).
          const nfd: Fd = { nonblock: false, port: fd.port, socket: s, lingerZero: fd.lingerZero, connOptions: fd.connOptions };
          this.watch(nfd, s);
          fd.acceptQueue!.push(nfd);
        });
        server.on('error', (x: Error & { code?: string }) => {
          fd.error = x.code ?? 'EADDRINUSE';
        });
        const backlog = num(a[1]) ?? 1;
        server.listen(fd.port ?? this.opts.defaultPort, Math.max(backlog, 0));
        fd.server = server;
        return ok(0);
      }
      case 'accept': {
        if (fd.acceptQueue === undefined) return err('EINVAL');
        const take = (): CallResult | undefined => {
          const nfd = fd.acceptQueue!.shift();
          if (nfd === undefined) return undefined;
          fd.server?.accepted();
          return { ret: this.newFd(nfd) };
        };
        const r = take();
        if (r !== undefined) return { done: r };
        return { blocked: take, ...(fd.nonblock ? { nonblocking: { ret: -1, errno: 'EAGAIN' } } : {}) };
      }
      case 'connect': {
        if (fd.socket !== undefined) return err(fd.connecting ? 'EALREADY' : 'EISCONN');
        const s = this.stack.tcp.connect({ host: this.opts.remoteAddress, port: this.opts.remotePort, allowHalfOpen: true, ...fd.connOptions });
        fd.socket = s;
        fd.connecting = true;
        this.watch(fd, s);
        if (fd.noDelay) s.setNoDelay(true);
        if (fd.keepAlive) s.setKeepAlive(true);
        s.once('connect', () => {
          fd.connecting = false;
        });
        if (fd.nonblock) return err('EINPROGRESS');
        return {
          blocked: () => {
            if (!fd.connecting) return { ret: 0 };
            if (fd.error !== undefined) {
              fd.errorTaken = true;
              return { ret: -1, errno: fd.error };
            }
            return undefined;
          },
        };
      }
      case 'write':
      case 'send': {
        const s = fd.socket;
        if (s === undefined) return err('ENOTCONN');
        if (fd.error !== undefined) return this.takeError(fd, 'EPIPE');
        if (s.writableEnded || s.destroyed) return err('EPIPE');
        const len = num(a[2]) ?? 0;
        if (len > 16 * 1024 * 1024) return err('EINVAL');
        s.write(Buffer.alloc(len));
        return ok(len);
      }
      case 'read':
      case 'recv': {
        const s = fd.socket;
        if (s === undefined) return err('ENOTCONN');
        const want = num(a[2]) ?? 0;
        const take = (): CallResult | undefined => {
          const avail = s.readableLength;
          if (avail > 0) {
            const got = s.read(Math.min(want, avail)) as Buffer | null;
            return { ret: got?.length ?? 0 };
          }
          if (fd.error !== undefined) return { ret: -1, errno: fd.error };
          if (fd.eof || (fd.readShut && s.bytesUnread === 0)) return { ret: 0 };
          // Ask the stream for EOF: a push(null) becomes 'end' only when someone reads.
          s.read(0);
          return undefined;
        };
        const r = take();
        if (r !== undefined) return { done: r };
        return { blocked: take, ...(fd.nonblock ? { nonblocking: { ret: -1, errno: 'EAGAIN' } } : {}) };
      }
      case 'close': {
        // Linux resets a connection closed with unread data (RFC 1122 §4.2.2.13). Bytes in the
        // stream's readable buffer are unread here, although the TCP layer counts them consumed.
        const s = fd.socket;
        // SO_LINGER {onoff=1, linger=0}: close() sends a RST and drops everything (socket(7)).
        if (s !== undefined && (s.readableLength > 0 || fd.lingerZero === true)) s.resetAndDestroy();
        else s?.destroy();
        fd.server?.close();
        for (const q of fd.acceptQueue ?? []) q.socket?.destroy();
        this.fds.delete(n!);
        return ok(0);
      }
      case 'shutdown': {
        const s = fd.socket;
        if (s === undefined) return err('ENOTCONN');
        const how = symName(a[1]);
        if (how === 'SHUT_RD' || how === 'SHUT_RDWR') {
          fd.readShut = true;
          s.shutdownRead();
        }
        if (how !== 'SHUT_RD') s.end();
        return ok(0);
      }
      case 'setsockopt': {
        const opt = symName(a[2]);
        const on = (num(a[3]) ?? 0) !== 0;
        if (opt === 'TCP_NODELAY') {
          fd.noDelay = on;
          fd.socket?.setNoDelay(on);
        } else if (opt === 'SO_KEEPALIVE') {
          fd.keepAlive = on;
          fd.socket?.setKeepAlive(on);
        } else if (opt === 'SO_LINGER') {
          const l = lingerArg(a[3])!;
          fd.lingerZero = l.onoff && l.linger === 0;
        } else if (opt === 'TCP_MAXSEG' || opt === 'SO_SNDBUF' || opt === 'SO_RCVBUF') {
          if (fd.socket !== undefined || fd.server !== undefined) {
            throw new DrillSkip(`line ${e.line}: setsockopt(${opt}) after connect() or listen() is not modelled`);
          }
          const v = num(a[3]);
          // Linux: TCP_MAXSEG outside 88..32767 is EINVAL (TCP_MIN_MSS, MAX_TCP_WINDOW).
          if (v === undefined || (opt === 'TCP_MAXSEG' && (v < 88 || v > 32767)) || v < 0) return err('EINVAL');
          const key = opt === 'TCP_MAXSEG' ? 'maxSegment' : opt === 'SO_SNDBUF' ? 'sendBufferSize' : 'receiveBufferSize';
          // SO_SNDBUF/SO_RCVBUF: Linux keeps twice the value (the other half for its bookkeeping) and
          // at least 4608 / 2304 bytes; our buffers hold data only, so they get the value asked for.
          fd.connOptions = { ...fd.connOptions, [key]: Math.max(v, 1) };
        }
        return ok(0);
      }
      case 'getsockopt': {
        const gopt = symName(a[2]);
        if (gopt !== 'SO_ERROR') return this.getOption(e, fd, gopt!);
        // SO_ERROR: the pending error, cleared by reading it.
        const code = fd.error !== undefined && !fd.errorTaken ? (ERRNO[fd.error] ?? 0) : 0;
        if (fd.error !== undefined) fd.errorTaken = true;
        const arg = a[3];
        let want = num(arg);
        if (arg?.kind === 'list' && arg.items.length === 1 && arg.items[0]!.kind === 'sym') {
          const name = symName(arg.items[0]);
          want = name === undefined ? undefined : ERRNO[name];
          if (want === undefined) throw new DrillSkip(`line ${e.line}: errno ${name ?? '?'} is not modelled`);
        }
        if (want !== undefined && want !== code) return { done: { ret: 0, mismatch: `[${code}] (${fd.error ?? 'no error'})` } };
        return ok(0);
      }
      case 'fcntl': {
        const cmd = symName(a[1]);
        if (cmd === 'F_GETFL') return ok(O_RDWR | (fd.nonblock ? O_NONBLOCK : 0));
        if (cmd === 'F_SETFL') {
          const f = a[2];
          fd.nonblock = f?.kind === 'sym' ? f.names.includes('O_NONBLOCK') : ((num(f) ?? 0) & O_NONBLOCK) !== 0;
          return ok(0);
        }
        return err('EINVAL');
      }
      case 'ioctl': {
        // SIOCINQ: everything received and not read, the bytes held back for a slow reader included.
        const have = fd.socket?.bytesUnread ?? 0;
        const want = num(a[2]);
        if (want !== undefined && want !== have) return { done: { ret: 0, mismatch: `[${have}]` } };
        return ok(0);
      }
      default:
        throw new DrillSkip(`line ${e.line}: system call ${e.name}() is not modelled`);
    }
  }

  /** getsockopt of TCP_MAXSEG, SO_SNDBUF, SO_RCVBUF. */
  private getOption(e: SyscallEvent, fd: Fd, opt: string): CallOutcome {
    let have: number;
    if (opt === 'TCP_MAXSEG') {
      // Linux: the current send MSS once connected (options excluded), else TCP_MAXSEG or 536.
      const info = fd.socket !== undefined && !fd.connecting ? fd.socket.tcpInfo() : undefined;
      have = info !== undefined && info.mss > 0 ? info.mss : (fd.connOptions?.maxSegment ?? 536);
    } else {
      const v = opt === 'SO_SNDBUF' ? fd.connOptions?.sendBufferSize : fd.connOptions?.receiveBufferSize;
      if (v === undefined) throw new DrillSkip(`line ${e.line}: getsockopt(${opt}) before setsockopt: Linux's default sizes are not modelled`);
      have = 2 * v; // as Linux reports it (socket(7): "the kernel doubles this value")
    }
    const want = num(e.args[3]);
    if (want !== undefined && want !== have) return { done: { ret: 0, mismatch: `[${have}]` } };
    return ok(0);
  }

  /** poll(2)'s revents for one descriptor, as Linux computes them. */
  private revents(n: number, events: number): number {
    const fd = this.fds.get(n);
    if (fd === undefined) return POLL_BITS.POLLNVAL!;
    let r: number;
    if (fd.acceptQueue !== undefined) r = fd.acceptQueue.length > 0 ? POLLIN : 0;
    else if (fd.socket === undefined) r = POLLOUT | POLLHUP; // a fresh socket is in CLOSE (tcp_poll)
    else {
      r = fd.socket.poll();
      // SO_ERROR, a failed call or a read took the error: POLLERR goes with it (sk_err cleared).
      if (fd.errorTaken) r &= ~POLLERR;
      else if (fd.error !== undefined) r |= POLLERR;
    }
    // POLLERR, POLLHUP and POLLNVAL are reported whether asked for or not.
    return r & (events | POLLERR | POLLHUP | POLL_BITS.POLLNVAL!);
  }

  private poll(e: SyscallEvent): CallOutcome {
    const p = pollArgs(e.args)!;
    const start = this.stack.clock.now();
    const answer = (timedOut: boolean): CallResult | undefined => {
      let ready = 0;
      const got: number[] = [];
      for (const f of p.fds) {
        const r = this.revents(f.fd, f.events);
        got.push(r);
        if (r !== 0) ready++;
      }
      if (ready === 0 && !timedOut) return undefined;
      const bad = p.fds.findIndex((f, i) => f.revents !== undefined && f.revents !== got[i]);
      if (bad >= 0) return { ret: ready, mismatch: `revents=${pollNames(got[bad]!)} for fd ${p.fds[bad]!.fd}` };
      return { ret: ready };
    };
    const now = answer(p.timeout === 0);
    if (now !== undefined) return { done: now };
    // A timer of its own, so that virtual time stops at the timeout and the call is asked again.
    const timer = p.timeout > 0 ? this.stack.clock.setTimer(start + p.timeout, () => {}) : undefined;
    return {
      blocked: () => {
        const r = answer(p.timeout >= 0 && this.stack.clock.now() - start >= p.timeout);
        if (r !== undefined) timer?.cancel();
        return r;
      },
    };
  }

  private takeError(fd: Fd, after: string): CallOutcome {
    if (fd.errorTaken) return err(after);
    fd.errorTaken = true;
    return err(fd.error!);
  }

  /** The socket `%{ }%` checks look at: the highest descriptor that has a connection (tcp-info.ts). */
  infoSocket(): TcpSocket | undefined {
    let best: TcpSocket | undefined;
    let bestFd = -1;
    for (const [n, fd] of this.fds) if (fd.socket !== undefined && n > bestFd) [best, bestFd] = [fd.socket, n];
    return best;
  }
}
