/**
 * `--break-on syn,fin,rst,retransmit,state,line:N`: stop an attached debugger (Chrome DevTools,
 * VS Code, `node inspect`) at the moment a segment or a state change of interest happens, with the
 * segment and the connection in local variables of one function, `stopHere` below:
 *
 *   reason      'syn' | 'fin' | 'rst' | 'retransmit' | 'state' | 'line'
 *   dir         'in' (the stack has not handled it yet) or 'out' (the stack just sent it)
 *   segment     the TCP segment, parsed (wire/tcp.ts TcpSegment: seq, ack (undefined without the ACK
 *               bit), flags, window, options, payload), or undefined (a state change, a script line)
 *   info        the connection as TcpInfo (api.ts: state, sndUna, sndNxt, rcvNxt, cwnd, rtoMs ...)
 *   connection  the Connection object itself (tcp/connection.ts), to expand in the debugger
 *   stack       the Stack (stack.clock.now() is the time the stack sees)
 *
 * The statement is `debugger`: a no-op when no inspector is attached, so a one-line marker is
 * printed as well. Under `tunstack drill` the clock is a ManualClock that only the runner moves, so
 * nothing moves while the debugger holds the process; on a live `serve` the kernel on the other side
 * of the TUN keeps its timers running (the caller prints that caveat).
 *
 * Which segments match (RFC 9293 §3.1 header flags):
 *   syn, fin, rst   the flag is set, either direction
 *   retransmit      an outbound segment occupying sequence space (SYN, FIN or data) that ends at or
 *                   before the highest sequence number the connection already sent (RFC 9293 §3.4:
 *                   sequence space; a retransmission re-sends space already sent). Tracked per
 *                   Connection object in a WeakMap, so it is forgotten with the connection.
 *   state           any state transition of a connection (TcpLayer.onStateChange); the debugger
 *                   stops inside the TCP code that made it (look one frame down the call stack)
 *   line:N          before the drill script's line N is played (drill only)
 *
 * Cost: nothing when --break-on is not given (no observer is installed). When it is, one flags byte
 * is read per packet; a lookup and parse happen only for segments that stop.
 */
import { url as inspectorUrl } from 'node:inspector';
import type { Stack } from '../stack.ts';
import type { TcpInfo } from '../tcp/api.ts';
import type { Connection } from '../tcp/connection.ts';
import type { TcpStateChange } from '../tcp/tcp-layer.ts';
import type { TupleMap } from '../tcp/tuple.ts';
import { UsageError } from '../util/errors.ts';
import { formatIpv4Address, parseIpv4Address, readIpv4Address } from '../wire/ipv4-address.ts';
import { seqGt } from '../wire/seq.ts';
import {
  FIN,
  RST,
  SYN,
  TCP_HEADER_MIN,
  formatTcpFlags,
  parseTcp,
  tcpDstPort,
  tcpFlags,
  tcpHeaderBytes,
  tcpSeq,
  tcpSrcPort,
  type TcpSegment,
} from '../wire/tcp.ts';

export type BreakEvent = 'syn' | 'fin' | 'rst' | 'retransmit' | 'state';

const EVENTS: readonly BreakEvent[] = ['syn', 'fin', 'rst', 'retransmit', 'state'];

export interface BreakSpec {
  readonly events: ReadonlySet<BreakEvent>;
  /** Script lines (drill only). */
  readonly lines: ReadonlySet<number>;
}

/** Parse `syn,fin,rst,retransmit,state,line:N` (any subset, any order); a bad item is a UsageError. */
export function parseBreakOn(text: string): BreakSpec {
  const events = new Set<BreakEvent>();
  const lines = new Set<number>();
  for (const raw of text.split(',')) {
    const item = raw.trim().toLowerCase();
    const m = /^line:(\d{1,7})$/.exec(item);
    if (m) {
      const n = Number(m[1]);
      if (n < 1) throw new UsageError(`--break-on: line numbers start at 1, got ${JSON.stringify(raw)}`);
      lines.add(n);
    } else if ((EVENTS as readonly string[]).includes(item)) events.add(item as BreakEvent);
    else throw new UsageError(`--break-on: unknown event ${JSON.stringify(raw)} (syn, fin, rst, retransmit, state, line:N)`);
  }
  return { events, lines };
}

export type BreakReason = BreakEvent | 'line';

/** Where a stop happened, as the marker line and the tests see it. */
export interface BreakHit {
  readonly reason: BreakReason;
  readonly dir: 'in' | 'out' | undefined;
  readonly segment: TcpSegment | undefined;
  readonly info: TcpInfo | undefined;
  readonly connection: Connection | undefined;
  readonly detail: string;
}

export interface BreakpointsOptions {
  /** Where the one-line marker goes. */
  print: (line: string) => void;
  /** Called at each stop, after the marker and the `debugger` statement (tests). */
  onHit?: (hit: BreakHit) => void;
  /** A packet in words (drill: script notation); default: flags, seq, ack, len, ports. */
  describe?: (dir: 'in' | 'out', packet: Uint8Array) => string;
}

/**
 * The `debugger` statement, in a function of its own so that the debugger shows exactly these
 * locals. Keep it small: its line is the one the marker names and the debugger test looks for.
 */
function stopHere(
  reason: BreakReason,
  dir: 'in' | 'out' | undefined,
  segment: TcpSegment | undefined,
  info: TcpInfo | undefined,
  connection: Connection | undefined,
  stack: Stack,
): void {
  // Stopped by --break-on: inspect reason, dir, segment, info, connection, stack (Scope: Local).
  debugger; // eslint-disable-line no-debugger
  void [reason, dir, segment, info, connection, stack];
}

export class Breakpoints {
  private stack: Stack | undefined;
  /** Highest sequence number (exclusive end) each connection sent so far, for `retransmit`. */
  private readonly sent = new WeakMap<Connection, number>();
  private readonly flagMask: number;
  private readonly retransmit: boolean;
  private noticeGiven = false;
  /** Stops so far. */
  hits = 0;

  constructor(
    readonly spec: BreakSpec,
    private readonly opts: BreakpointsOptions,
  ) {
    this.flagMask = (spec.events.has('syn') ? SYN : 0) | (spec.events.has('fin') ? FIN : 0) | (spec.events.has('rst') ? RST : 0);
    this.retransmit = spec.events.has('retransmit');
  }

  /** The stack whose connections are looked up; its state changes are observed from now on. */
  attach(stack: Stack): void {
    this.stack = stack;
    if (!this.spec.events.has('state')) return;
    const previous = stack.tcpLayer.onStateChange;
    stack.tcpLayer.onStateChange = (e) => {
      previous?.(e);
      this.stateChange(e);
    };
  }

  /** A PacketObserver (trace/events.ts): 'in' before the stack handles it, 'out' after it sent it. */
  readonly observer = (dir: 'in' | 'out', p: Uint8Array, _now: number): void => {
    // IPv4 with TCP, first fragment only (RFC 791 §3.1: IHL @0, protocol @9, fragment offset @6).
    if (this.stack === undefined || p.length < 20 || p[0]! >> 4 !== 4 || p[9] !== 6 || (((p[6]! & 0x1f) << 8) | p[7]!) !== 0) return;
    const t = (p[0]! & 0x0f) * 4;
    if (p.length < t + TCP_HEADER_MIN) return;
    const flags = tcpFlags(p, t);
    let reason: BreakReason | undefined = flags & this.flagMask & SYN ? 'syn' : flags & this.flagMask & FIN ? 'fin' : flags & this.flagMask & RST ? 'rst' : undefined;
    if (dir === 'out' && this.retransmit) {
      const c = this.lookup(dir, p, t);
      if (c !== undefined && this.isRetransmit(c, p, t, flags)) reason = 'retransmit';
    }
    if (reason !== undefined) this.packetHit(reason, dir, p, t);
  };

  /** Before drill script line `n` is played. */
  line(n: number, text: string): void {
    if (!this.spec.lines.has(n) || this.stack === undefined) return;
    const conns = this.stack.connections();
    const info = conns[conns.length - 1];
    const connection = info === undefined ? undefined : this.find(info.remoteAddress, info.remotePort, info.localPort);
    this.stop({ reason: 'line', dir: undefined, segment: undefined, info, connection, detail: `line ${n}: ${text}` });
  }

  private stateChange(e: TcpStateChange): void {
    if (this.stack === undefined) return;
    const [rh, rp] = splitEndpoint(e.remote);
    const [, lp] = splitEndpoint(e.local);
    const connection = this.find(rh, rp, lp);
    this.stop({ reason: 'state', dir: undefined, segment: undefined, info: connection?.info(), connection, detail: `${e.local} <-> ${e.remote} ${e.from} -> ${e.to}` });
  }

  private isRetransmit(c: Connection, p: Uint8Array, t: number, flags: number): boolean {
    const total = Math.min(((p[2]! << 8) | p[3]!), p.length);
    const hl = tcpHeaderBytes(p, t);
    const space = total - t - hl + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    if (space <= 0) return false;
    const seq = tcpSeq(p, t);
    const end = (seq + space) >>> 0;
    const high = this.sent.get(c);
    if (high === undefined || seqGt(end, high)) {
      this.sent.set(c, end);
      return false;
    }
    return true;
  }

  private lookup(dir: 'in' | 'out', p: Uint8Array, t: number): Connection | undefined {
    const srcPort = tcpSrcPort(p, t);
    const dstPort = tcpDstPort(p, t);
    return dir === 'in' ? this.conns()?.get(readIpv4Address(p, 12), srcPort, dstPort) : this.conns()?.get(readIpv4Address(p, 16), dstPort, srcPort);
  }

  private find(remoteHost: string, remotePort: number, localPort: number): Connection | undefined {
    try {
      return this.conns()?.get(parseIpv4Address(remoteHost), remotePort, localPort);
    } catch {
      return undefined;
    }
  }

  /**
   * The layer's connection table, read-only. It is private to TcpLayer (nobody else may change a
   * connection); a debugger view is the one reader that needs the objects themselves.
   */
  private conns(): TupleMap<Connection> | undefined {
    return this.stack?.tcpLayer['conns'];
  }

  private packetHit(reason: BreakReason, dir: 'in' | 'out', p: Uint8Array, t: number): void {
    const connection = this.lookup(dir, p, t);
    const total = Math.min(((p[2]! << 8) | p[3]!), p.length);
    const parsed = parseTcp(p.subarray(t, total), readIpv4Address(p, 12), readIpv4Address(p, 16), { verifyChecksum: false });
    const segment = parsed instanceof Error ? undefined : parsed;
    const detail = this.opts.describe?.(dir, p) ?? describePacket(p, segment);
    this.stop({ reason, dir, segment, info: connection?.info(), connection, detail: `${dir} ${detail}` });
  }

  private stop(hit: BreakHit): void {
    const stack = this.stack!;
    this.hits++;
    const now = stack.clock.now();
    const state = hit.info === undefined ? '' : ` [${hit.info.state}]`;
    this.opts.print(`break on ${hit.reason} at ${(now / 1000).toFixed(3)}: ${hit.detail}${state}${this.notice()}`);
    stopHere(hit.reason, hit.dir, hit.segment, hit.info, hit.connection, stack);
    this.opts.onHit?.(hit);
  }

  /** Once: how to make the marker a real stop. */
  private notice(): string {
    if (this.noticeGiven) return '';
    this.noticeGiven = true;
    return inspectorUrl() === undefined ? ' (no inspector: run under node --inspect-brk, e.g. npm run debug:drill, to stop here)' : ' (the debugger stops in stopHere, src/drill/break.ts)';
  }
}

function splitEndpoint(text: string): [string, number] {
  const i = text.lastIndexOf(':');
  return [text.slice(0, i), Number(text.slice(i + 1))];
}

function describePacket(p: Uint8Array, s: TcpSegment | undefined): string {
  const src = formatIpv4Address(readIpv4Address(p, 12));
  const dst = formatIpv4Address(readIpv4Address(p, 16));
  if (s === undefined) return `${src} > ${dst} (a TCP segment that does not parse)`;
  const ack = s.ack === undefined ? '' : ` ack ${s.ack}`; // a segment without ACK has no number
  return `${src}:${s.srcPort} > ${dst}:${s.dstPort} [${formatTcpFlags(s.flags)}] seq ${s.seq}${ack} win ${s.window} len ${s.payload.length}`;
}
