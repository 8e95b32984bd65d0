/**
 * The drill runner: plays one parsed script against a real Stack in virtual time. The script is the
 * remote host; the stack is the code under test, the same as `serve` runs, on a memory link whose
 * other end the runner holds, with a ManualClock so that nothing moves unless the script says so.
 *
 *   `<` line      advance virtual time to its time, build the packet (packets.ts), inject it
 *   `>` line      advance until the stack sends something (or the tolerance runs out), compare
 *   system call   advance to its time, call the socket API (syscalls.ts); a blocking call
 *                 (`+0...0.2`) stays pending while later lines run, and must return at its end time
 *
 * Every packet the stack sends must be matched by the next `>` line, in order: one sent between two
 * other events is "unexpected" (as a `>` line the script forgot). Timing tolerance is packetdrill's
 * default, the larger of 4 ms and 12.5% of the gap from the previous event, unless a header flag
 * (`--tolerance_usecs=`) or the command line (`--tolerance-ms`) fixes it. Relative times (`+0.1`)
 * count from the previous event's time: for a `>` line, when the packet was really seen.
 *
 * Sockets emit their events through process.nextTick and the stack flushes in a microtask, so after
 * each step of virtual time the runner yields to the event loop (settle) before looking at results.
 */
import { createMemoryLink, type MemoryDevice } from '../link/memory-device.ts';
import { Stack, type StackOptions } from '../stack.ts';
import { renderLadder } from '../trace/ladder.ts';
import type { PcapWriter } from '../trace/pcap-writer.ts';
import { ManualClock } from '../util/clock.ts';
import { parseIpv4Address } from '../wire/ipv4-address.ts';
import { FIN, PSH, RST, SYN } from '../wire/tcp.ts';
import { buildInbound, buildInboundIcmp, decodeOutbound, formatOutbound, SeqSpace, type Endpoints, type Outbound } from './packets.ts';
import { formatScriptFlags } from './parse.ts';
import { Breakpoints, type BreakHit, type BreakSpec } from './break.ts';
import type { CodeEvent, DrillScript, PacketEvent, PktOption, ShellEvent, SyscallEvent } from './script.ts';
import { checkTcpInfo, parseTcpInfoBlock } from './tcp-info.ts';
import { DrillSkip, SocketTable, unsupportedReason, type CallOutcome, type CallResult } from './syscalls.ts';
import { sysctlOptions, type TcpOptions } from './sysctl.ts';

/** The addresses and ports of the play (packetdrill's conventional ones). */
export const STACK_ADDRESS = '192.168.0.1';
export const REMOTE_ADDRESS = '192.0.2.1';
/** bind() and connect() port. */
export const SCRIPT_PORT = 8080;
/** The remote host's port when it opens connections to the stack. */
export const REMOTE_PORT = 47_000;

/** Virtual time a `*` line waits for its packet at most. */
const ANY_WAIT_MS = 600_000;
/** Steps of virtual time per script at most (a timer that re-arms itself at the same instant). */
const MAX_STEPS = 200_000;

export interface DrillOptions {
  /** Fixed timing tolerance in ms (overrides the script's --tolerance_usecs and the default). */
  toleranceMs?: number;
  /** One line per event and per packet, as it happens. */
  trace?: (line: string) => void;
  /** Every packet both ways, timestamped in virtual time. */
  pcap?: PcapWriter;
  /** Stack options on top of the script's (a profile). */
  stack?: StackOptions['tcp'];
  /** Segments shown in the ladder of a failure (default 12). */
  ladderSegments?: number;
  /** Also draw the ladder (all segments) of a script that passed. */
  ladder?: boolean;
  /**
   * Stepping (--step): called before every script line, every stack timer that is about to fire,
   * and every packet the stack sent, with the event and the connection's state; virtual time stands
   * still until it answers: 'step' (go on to the next event), 'continue' (stop asking), 'quit'.
   */
  step?: (text: string) => Promise<StepAnswer>;
  /** --break-on: a `debugger` statement (break.ts) at these events, with a one-line marker. */
  breakOn?: { spec: BreakSpec; print: (line: string) => void; onHit?: (hit: BreakHit) => void };
}

export type StepAnswer = 'step' | 'continue' | 'quit';

export type DrillResult =
  | { readonly status: 'pass'; readonly file: string; readonly ladder?: string }
  | { readonly status: 'fail'; readonly file: string; readonly line: number; readonly message: string; readonly ladder: string }
  | { readonly status: 'skip'; readonly file: string; readonly reason: string }
  | { readonly status: 'quit'; readonly file: string; readonly line: number };

/** The user quit while stepping. */
class Quit extends Error {}

class Failure extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

interface Blocked {
  readonly e: SyscallEvent;
  readonly poll: () => CallResult | undefined;
  readonly end: number;
  readonly tol: number;
}

const HEADER_FLAGS = new Set(['tolerance_usecs', 'mss', 'ip_version']);

/** Why the script as a whole cannot be played (checked before it starts), or undefined. */
export function skipReason(script: DrillScript): string | undefined {
  for (const [name, value] of script.flags) {
    if (!HEADER_FLAGS.has(name)) return `header flag --${name} is not supported`;
    if (name === 'ip_version' && value !== 'ipv4') return `--ip_version=${value}: only IPv4 is modelled`;
  }
  for (const e of script.events) {
    if (e.type === 'shell') {
      const r = shellSkipReason(script, e);
      if (r !== undefined) return r;
      continue;
    }
    if (e.type === 'code') {
      const r = parseTcpInfoBlock(e.code);
      if (typeof r === 'string') return `line ${e.line}: ${r}`;
    }
    if (e.type === 'syscall') {
      const r = unsupportedReason(e);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

// -------------------------------------------------------------------------------------------
// Backtick shell lines (sysctl.ts): sysctls we model become stack options, set before the play.

/** Why a shell line cannot be played, or undefined when it only sets sysctls we model. */
function shellSkipReason(script: DrillScript, e: ShellEvent): string | undefined {
  const cmd = e.command.trim();
  const r = sysctlOptions(cmd);
  if (typeof r === 'string') return `line ${e.line}: ${r}`;
  const first = script.events.findIndex((x) => x.type !== 'shell');
  if (first >= 0 && script.events.indexOf(e) > first) {
    return `line ${e.line}: a sysctl after the first packet or system call is not modelled (\`${cmd.slice(0, 60)}\`)`;
  }
  return undefined;
}

/** The stack options all the script's shell lines set (skipReason has vetted them). */
function scriptSysctls(script: DrillScript): Partial<TcpOptions> {
  const out: Partial<TcpOptions> = {};
  for (const e of script.events) {
    if (e.type !== 'shell') continue;
    const r = sysctlOptions(e.command.trim());
    if (typeof r !== 'string') Object.assign(out, r);
  }
  return out;
}

function fmt(ms: number): string {
  return (ms / 1000).toFixed(3);
}

class Runner {
  private readonly clock = new ManualClock(0);
  private readonly stack: Stack;
  private readonly remote: MemoryDevice;
  private readonly sockets: SocketTable;
  private readonly seq = new SeqSpace();
  private readonly ep: Endpoints;
  private readonly queue: Outbound[] = [];
  private readonly history: { packet: Uint8Array; now: number }[] = [];
  /** --trace: why each segment the stack sent left, in order, until the link delivers it. */
  private readonly reasons: { seq: number; flags: number; reason: string }[] = [];
  private readonly fixedTol: number | undefined;
  private badOutbound: string | undefined;
  private blocked: Blocked | undefined;
  private prevTime = 0;
  private steps = 0;
  private line = 0;
  /** The text of the `<` line being injected (for the --break-on marker). */
  private injecting: string | undefined;
  private stepping: boolean;
  /** --break-on (break.ts); undefined when not asked for. */
  private readonly breaks: Breakpoints | undefined;

  constructor(
    private readonly script: DrillScript,
    private readonly opts: DrillOptions,
  ) {
    this.stepping = opts.step !== undefined;
    const f = script.flags;
    const tolUs = f.get('tolerance_usecs');
    if (opts.toleranceMs !== undefined) this.fixedTol = opts.toleranceMs;
    else if (tolUs !== undefined) this.fixedTol = Number(tolUs) / 1000;
    if (this.fixedTol !== undefined && !(this.fixedTol >= 0 && Number.isFinite(this.fixedTol))) {
      throw new DrillSkip(`--tolerance_usecs=${tolUs ?? ''} is not a number of microseconds`);
    }
    const mssFlag = f.get('mss');
    const mss = mssFlag === undefined ? 1460 : Number(mssFlag);
    if (!Number.isInteger(mss) || mss < 88 || mss > 65495) throw new DrillSkip(`--mss=${mssFlag ?? ''} is not an MSS we can model (88..65495)`);
    const [stackDev, remote] = createMemoryLink(this.clock, { latencyMs: 0, mtu: mss + 40, names: ['drill0', 'remote0'] });
    this.remote = remote;
    this.stack = new Stack({
      device: stackDev,
      address: STACK_ADDRESS,
      clock: this.clock,
      // A fixed key: ISNs, ephemeral ports and TS offsets are the same on every run.
      // The profile's options, then the script's sysctls on top (as on a Linux host).
      tcp: { isnKey: new Uint8Array(16).fill(7), ...opts.stack, ...scriptSysctls(script) },
    });
    this.ep = { remote: parseIpv4Address(REMOTE_ADDRESS), local: parseIpv4Address(STACK_ADDRESS), remotePort: REMOTE_PORT, localPort: SCRIPT_PORT };
    this.sockets = new SocketTable(this.stack, { remoteAddress: REMOTE_ADDRESS, remotePort: SCRIPT_PORT, defaultPort: SCRIPT_PORT });
    remote.setReceiver((batch) => {
      for (const p of batch) this.onOutbound(p);
    });
    if (opts.trace !== undefined) {
      // Why each segment left (tcp/config.ts SendReason), for --trace: the link delivers later, so
      // the reasons wait in order; replies that belong to no connection (a RST) have none.
      this.stack.tcpLayer.onSegmentSent = (_c, seg, reason) => void this.reasons.push({ seq: seg.seq, flags: seg.flags, reason });
    }
    this.breaks = this.breakpoints(opts.breakOn);
  }

  /** --break-on: packets in script notation in the marker, the script line's text for line:N. */
  private breakpoints(b: DrillOptions['breakOn']): Breakpoints | undefined {
    if (b === undefined) return undefined;
    const breaks = new Breakpoints(b.spec, {
      print: b.print,
      ...(b.onHit !== undefined ? { onHit: b.onHit } : {}),
      describe: (dir, p) => {
        if (dir === 'in') return this.injecting ?? 'packet';
        const o = decodeOutbound(p, this.clock.now());
        return typeof o === 'string' ? o : formatOutbound(o, this.seq);
      },
    });
    breaks.attach(this.stack);
    return breaks;
  }

  // -------------------------------------------------------------------------------------------
  // Packets from the stack

  private onOutbound(p: Uint8Array): void {
    const at = this.clock.now();
    this.history.push({ packet: p, now: at });
    this.opts.pcap?.write(p, at);
    const o = decodeOutbound(p, at);
    if (typeof o === 'string') {
      this.badOutbound ??= `the stack sent ${o} at ${fmt(at)}`;
      return;
    }
    const s = o.seg;
    if (s.flags & SYN) {
      // The stack's ISN (relative 0 of its side), and the connection's ports (for an active open,
      // the stack's ephemeral port and the port connect() asked for).
      this.seq.stackIsn = s.seq;
      this.ep.localPort = s.srcPort;
      this.ep.remotePort = s.dstPort;
    }
    if (s.options.timestamp !== undefined) this.seq.lastTsVal = s.options.timestamp.value;
    this.queue.push(o);
    if (this.opts.trace !== undefined) {
      const r = this.reasons[0];
      const why = r !== undefined && r.seq === s.seq && r.flags === s.flags ? this.reasons.shift()!.reason : undefined;
      this.opts.trace(`${fmt(at)} ${formatOutbound(o, this.seq)}${why !== undefined ? `  [${why}]` : ''}`);
    }
    this.breaks?.observer('out', p, at);
  }

  // -------------------------------------------------------------------------------------------
  // Virtual time

  private tolerance(gap: number): number {
    return this.fixedTol ?? Math.max(4, 0.125 * gap);
  }

  /** Let sockets and the stack's microtask run, delivering what they send at this same instant. */
  private async settle(): Promise<void> {
    for (let k = 0; k < 1000; k++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const next = this.clock.nextTimerAt();
      if (next !== undefined && next <= this.clock.now()) {
        this.clock.runUntil(this.clock.now());
        continue;
      }
      break;
    }
    if (this.badOutbound !== undefined) throw new Failure(this.line, this.badOutbound);
    this.checkBlocked();
  }

  /** One step: to the next timer or to `limit`, whichever is first. */
  private async stepTo(limit: number): Promise<void> {
    if (++this.steps > MAX_STEPS) throw new Failure(this.line, `more than ${MAX_STEPS} timer events: a timer that never stops?`);
    const next = this.clock.nextTimerAt();
    if (next !== undefined && next <= limit) await this.pause(`timer due at ${fmt(next)}`);
    this.clock.runUntil(next === undefined ? limit : Math.min(next, limit));
    await this.settle();
    const b = this.blocked;
    if (b !== undefined && this.clock.now() > b.end + b.tol) {
      throw new Failure(b.e.line, `expected ${b.e.text} to return at ${fmt(b.end)}, still blocked at ${fmt(this.clock.now())}`);
    }
  }

  /** Advance to time `t`; stops early when the stack sends something (unless `ignorePackets`). */
  private async advanceTo(t: number, ignorePackets = false): Promise<void> {
    await this.settle();
    for (;;) {
      if (ignorePackets) this.queue.length = 0;
      if (this.queue.length > 0) return;
      const next = this.clock.nextTimerAt();
      if (this.clock.now() >= t && (next === undefined || next > t)) return;
      await this.stepTo(t);
    }
  }

  private noUnexpected(what: string, t: number): void {
    const o = this.queue[0];
    if (o === undefined) return;
    throw new Failure(this.line, `expected ${what} at ${fmt(t)}, got ${formatOutbound(o, this.seq)} at ${fmt(o.at)} (unexpected packet)`);
  }

  // -------------------------------------------------------------------------------------------
  // The script

  async run(): Promise<void> {
    for (const e of this.script.events) {
      this.line = e.line;
      await this.pause(`line ${e.line}: ${e.type === 'packet' || e.type === 'syscall' ? e.text : e.type}`);
      this.breaks?.line(e.line, e.type === 'packet' || e.type === 'syscall' ? e.text : e.type);
      const base = e.time.kind === 'abs' ? 0 : this.prevTime;
      const t = base + e.time.start;
      const tEnd = e.time.end !== undefined ? base + e.time.end : t;
      if (e.time.kind !== 'any' && t + this.tolerance(0) < this.prevTime) {
        throw new Failure(e.line, `time ${fmt(t)} is before the previous event (${fmt(this.prevTime)})`);
      }
      if (e.type === 'packet' && e.dir === '>') {
        this.prevTime = await this.expectOutbound(e, t, tEnd);
        continue;
      }
      await this.advanceTo(t);
      if (e.type === 'packet') {
        this.noUnexpected(e.text, t);
        this.inject(e, t);
        await this.settle();
      } else if (e.type === 'syscall') {
        this.noUnexpected(e.text, t);
        await this.syscall(e, t, base);
      } else if (e.type === 'shell') {
        // Applied when the stack was built (scriptSysctls).
      } else {
        this.noUnexpected('%{ }%', t);
        this.checkTcpInfo(e);
      }
      this.prevTime = Math.max(this.prevTime, t);
    }
    const b = this.blocked;
    if (b !== undefined) {
      this.line = b.e.line;
      await this.advanceTo(b.end + b.tol, true);
      if (this.blocked !== undefined) throw new Failure(b.e.line, `expected ${b.e.text} to return at ${fmt(b.end)}, still blocked at the end of the script`);
    }
  }

  /** A `%{ }%` block of `assert tcpi_...` lines (tcp-info.ts), on the script's connected socket. */
  private checkTcpInfo(e: CodeEvent): void {
    const checks = parseTcpInfoBlock(e.code);
    if (typeof checks === 'string') throw new DrillSkip(`line ${e.line}: ${checks}`);
    const s = this.sockets.infoSocket();
    if (s === undefined) throw new Failure(e.line, 'a %{ }% check, but no descriptor has a connection');
    const bad = checkTcpInfo(checks, s.tcpInfo());
    this.opts.trace?.(`${fmt(this.clock.now())} %{ ${checks.map((c) => c.text).join('; ')} }%${bad === undefined ? '' : ` FAILED`}`);
    if (bad !== undefined) throw new Failure(e.line, bad);
  }

  private inject(e: PacketEvent, t: number): void {
    if (40 + e.len > this.remote.mtu) throw new Failure(e.line, `${e.len} bytes of data do not fit the link MTU ${this.remote.mtu}`);
    const p = e.icmp !== undefined ? buildInboundIcmp(e, this.ep, this.seq) : buildInbound(e, this.ep, this.seq);
    if (p.length > this.remote.mtu) throw new Failure(e.line, `the packet is ${p.length} bytes, larger than the link MTU ${this.remote.mtu}`);
    this.history.push({ packet: p, now: this.clock.now() });
    this.opts.pcap?.write(p, this.clock.now());
    this.opts.trace?.(`${fmt(t)} ${e.text}`);
    if (this.breaks !== undefined) {
      this.injecting = `line ${e.line}: ${e.text}`;
      this.breaks.observer('in', p, this.clock.now());
      this.injecting = undefined;
    }
    this.remote.send(p);
  }

  // -------------------------------------------------------------------------------------------
  // Outbound packets

  private async expectOutbound(e: PacketEvent, t: number, tEnd: number): Promise<number> {
    const any = e.time.kind === 'any';
    const tol = any ? Infinity : this.tolerance(t - this.prevTime);
    const deadline = any ? this.clock.now() + ANY_WAIT_MS : tEnd + tol;
    await this.settle();
    while (this.queue.length === 0) {
      if (this.clock.now() >= deadline) {
        throw new Failure(e.line, `expected ${e.text} at ${fmt(t)}, got nothing by ${fmt(deadline)}`);
      }
      await this.stepTo(deadline);
    }
    const first = this.queue.shift()!;
    // Consecutive segments sent at the same instant make one larger expected segment (TSO).
    let len = first.seg.payload.length;
    let flags = first.seg.flags;
    let last = first;
    while (len < e.len && this.queue.length > 0) {
      const n = this.queue[0]!;
      const contiguous = n.seg.seq === ((last.seg.seq + last.seg.payload.length) >>> 0) && n.seg.payload.length > 0;
      const same = n.at === last.at && n.seg.ack === last.seg.ack && (last.seg.flags & (SYN | FIN | RST)) === 0 && (n.seg.flags & ~(PSH | FIN)) === (last.seg.flags & ~PSH);
      if (!contiguous || !same) break;
      this.queue.shift();
      len += n.seg.payload.length;
      flags = (flags & ~(PSH | FIN)) | (n.seg.flags & (PSH | FIN));
      last = n;
    }
    const got = `${formatOutbound(first, this.seq, len, flags)} at ${fmt(first.at)}`;
    const gotRel = `(+${fmt(first.at - this.prevTime)})`;
    if (!any && (first.at < t - tol || first.at > tEnd + tol)) {
      throw new Failure(e.line, `expected ${e.text} at ${fmt(t)}${tEnd !== t ? `~${fmt(tEnd)}` : ''} (±${tol.toFixed(1)} ms), got ${got} ${gotRel}: ${first.at < t ? 'too early' : 'too late'}`);
    }
    const diffs = this.compare(e, first, len, flags);
    if (diffs.length > 0) throw new Failure(e.line, `expected ${e.text} at ${fmt(t)}, got ${got} ${gotRel}: ${diffs.join(', ')} ${diffs.length === 1 ? 'differs' : 'differ'}`);
    await this.pause(`packet out, matches line ${e.line}: ${formatOutbound(first, this.seq, len, flags)}`);
    return first.at;
  }

  private compare(e: PacketEvent, o: Outbound, len: number, flags: number): string[] {
    const s = o.seg;
    const d: string[] = [];
    if (formatScriptFlags(flags) !== formatScriptFlags(e.flags)) d.push('flags');
    if (((s.seq - this.seq.stackBase()) >>> 0) !== e.start) d.push('sequence number');
    if (len !== e.len) d.push('length');
    if (e.ack !== undefined && (s.ack === undefined || ((s.ack - this.seq.remoteIsn) >>> 0) !== e.ack)) d.push('ack');
    if (e.win !== undefined && s.window !== e.win) d.push('window');
    if (e.options !== 'any') {
      const want = e.options ?? [];
      const o2 = s.options;
      const mss = want.find((x): x is Extract<PktOption, { kind: 'mss' }> => x.kind === 'mss');
      const ws = want.find((x): x is Extract<PktOption, { kind: 'wscale' }> => x.kind === 'wscale');
      const sack = want.find((x): x is Extract<PktOption, { kind: 'sack' }> => x.kind === 'sack');
      const ts = want.find((x): x is Extract<PktOption, { kind: 'TS' }> => x.kind === 'TS');
      if (o2.mss !== mss?.value) d.push('mss');
      if (o2.windowScale !== ws?.value) d.push('wscale');
      if ((o2.sackPermitted === true) !== want.some((x) => x.kind === 'sackOK')) d.push('sackOK');
      const gotSack = (o2.sack ?? []).map(([l, r]) => `${(l - this.seq.remoteIsn) >>> 0}:${(r - this.seq.remoteIsn) >>> 0}`).join(' ');
      const wantSack = (sack?.blocks ?? []).map(([l, r]) => `${l}:${r}`).join(' ');
      if (gotSack !== wantSack) d.push('sack blocks');
      if ((o2.timestamp === undefined) !== (ts === undefined)) d.push('TS');
      else if (ts !== undefined && o2.timestamp !== undefined) {
        // TSval is the stack's clock: not checked, but remembered so that inbound ecr can echo it.
        this.seq.tsMap.set(ts.val, o2.timestamp.value);
        if (o2.timestamp.echo !== ts.ecr) d.push('TS ecr');
      }
    }
    return d;
  }

  // -------------------------------------------------------------------------------------------
  // System calls

  private async syscall(e: SyscallEvent, t: number, base: number): Promise<void> {
    this.opts.trace?.(`${fmt(t)} ${e.text}`);
    const out: CallOutcome = this.sockets.call(e);
    let r: CallResult | undefined;
    if ('done' in out) {
      r = out.done;
    } else {
      await this.settle();
      r = out.blocked() ?? out.nonblocking;
      if (r === undefined) {
        if (e.time.blockEnd === undefined) {
          throw new Failure(e.line, `${e.text}: the call blocks (write its time as +a...b when it should)`);
        }
        if (this.blocked !== undefined) throw new Failure(e.line, 'two blocking calls at once are not supported');
        const end = base + e.time.blockEnd;
        this.blocked = { e, poll: out.blocked, end, tol: this.tolerance(end - t) };
        return;
      }
    }
    this.checkResult(e, r);
    if (e.time.blockEnd !== undefined) {
      const end = base + e.time.blockEnd;
      const tol = this.tolerance(end - t);
      if (end - t > tol) throw new Failure(e.line, `expected ${e.text} to block until ${fmt(end)}, it returned at ${fmt(t)}`);
    }
  }

  private checkResult(e: SyscallEvent, r: CallResult): void {
    if (r.mismatch !== undefined) throw new Failure(e.line, `expected ${e.text}, got ${r.mismatch} in the result argument`);
    if (e.ret === undefined) return;
    if (r.ret !== e.ret || r.errno !== e.errno) {
      throw new Failure(e.line, `expected ${e.text}, got = ${r.ret}${r.errno !== undefined ? ` ${r.errno}` : ''} at ${fmt(this.clock.now())}`);
    }
  }

  /** A blocked call that can answer now: check its value and its return time. */
  private checkBlocked(): void {
    const b = this.blocked;
    if (b === undefined) return;
    const r = b.poll();
    if (r === undefined) return;
    this.blocked = undefined;
    const now = this.clock.now();
    this.opts.trace?.(`${fmt(now)} ${b.e.name}() returned ${r.ret}${r.errno !== undefined ? ` ${r.errno}` : ''}`);
    this.checkResult(b.e, r);
    if (Math.abs(now - b.end) > b.tol) {
      throw new Failure(b.e.line, `expected ${b.e.text} to return at ${fmt(b.end)} (±${b.tol.toFixed(1)} ms), it returned at ${fmt(now)}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Stepping

  /** The connections as `ss` would show them, with relative sequence numbers. */
  stateText(): string {
    const conns = this.stack.connections();
    const next = this.clock.nextTimerAt();
    const lines = conns.map((c) => {
      const snd = (x: number): number => (x - c.iss) >>> 0;
      const rcv = (x: number): number => (x - c.irs) >>> 0;
      const ss = c.ssthresh >= 0x7fffffff ? 'inf' : String(c.ssthresh);
      return (
        `    ${c.state} ${c.localAddress}:${c.localPort} <-> ${c.remoteAddress}:${c.remotePort}` +
        ` snd.una=${snd(c.sndUna)} snd.nxt=${snd(c.sndNxt)} rcv.nxt=${rcv(c.rcvNxt)} snd.wnd=${c.sndWnd} rcv.wnd=${c.rcvWnd}` +
        ` cwnd=${c.cwnd} ssthresh=${ss} rto=${c.rtoMs} retransmits=${c.retransmits} queued=${c.sendQueued}`
      );
    });
    if (lines.length === 0) lines.push('    (no connections)');
    lines.push(`    next timer: ${next === undefined ? 'none' : fmt(next)}`);
    return lines.join('\n');
  }

  private async pause(what: string): Promise<void> {
    const ask = this.opts.step;
    if (!this.stepping || ask === undefined) return;
    const answer = await ask(`${fmt(this.clock.now())} ${what}\n${this.stateText()}`);
    if (answer === 'continue') this.stepping = false;
    else if (answer === 'quit') throw new Quit();
  }

  get currentLine(): number {
    return this.line;
  }

  ladder(keep = this.opts.ladderSegments ?? 12): string {
    const text = renderLadder(this.history, { time: true, preview: false });
    const lines = text.split('\n');
    if (lines.length <= keep + 1) return text;
    return [lines[0]!, `  ... (${lines.length - 1 - keep} earlier segments)`, ...lines.slice(-keep)].join('\n');
  }

  async close(): Promise<void> {
    await this.stack.close();
    this.sockets.closeAll();
    this.queue.length = 0;
  }
}

/** Play one parsed script. Never throws for anything the script does: PASS, FAIL or SKIP. */
export async function runScript(script: DrillScript, opts: DrillOptions = {}): Promise<DrillResult> {
  const file = script.file;
  const reason = skipReason(script);
  if (reason !== undefined) return { status: 'skip', file, reason };
  let runner: Runner;
  try {
    runner = new Runner(script, opts);
  } catch (err) {
    if (err instanceof DrillSkip) return { status: 'skip', file, reason: err.reason };
    throw err;
  }
  try {
    await runner.run();
    return opts.ladder === true ? { status: 'pass', file, ladder: runner.ladder(Infinity) } : { status: 'pass', file };
  } catch (err) {
    if (err instanceof Failure) return { status: 'fail', file, line: err.line, message: err.message, ladder: runner.ladder() };
    if (err instanceof DrillSkip) return { status: 'skip', file, reason: err.reason };
    if (err instanceof Quit) return { status: 'quit', file, line: runner.currentLine };
    throw err;
  } finally {
    await runner.close();
  }
}
