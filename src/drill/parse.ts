/**
 * The drill script parser: text -> DrillScript (script.ts), or a DrillSyntaxError that points at the
 * line and column. Written from the description of the packetdrill language in its public README and
 * in "packetdrill: Scriptable Network Stack Testing, from Sockets to Packets" (USENIX ATC 2013): a
 * script is a sequence of events, each prefixed by a time, whose syntax follows tcpdump for packets
 * and strace for system calls. docs/drill.md lists the subset accepted here.
 *
 * A hand-written recursive descent over the characters (no tokenizer pass): newlines end an event,
 * except inside parentheses, brackets, braces, an option list, a `/* *\/` comment, a backtick
 * command or a `%{ }%` block. Every path either consumes input or throws, so any input ends in a
 * script or a typed error: never an exception of another kind, never a loop.
 */
import { ACK, CWR, ECE, FIN, PSH, RST, SYN, URG } from '../wire/tcp.ts';
import {
  DrillSyntaxError,
  type DrillEvent,
  type DrillScript,
  type EventTime,
  type PktOption,
  type SyscallArg,
} from './script.ts';

/** Scripts larger than this are refused (a script is a page of text, not a data file). */
export const MAX_SCRIPT_BYTES = 1 << 20;
const MAX_U32 = 0xffffffff;
/** A time in a script: at most a day, in seconds. */
const MAX_SECONDS = 86_400;
/** Nesting of syscall arguments ([..], {..}). */
const MAX_DEPTH = 8;

const FLAG_BITS: Record<string, number> = { F: FIN, S: SYN, R: RST, P: PSH, '.': ACK, U: URG, E: ECE, W: CWR };

/** ICMP error types an injected line may name (RFC 792), and their codes (RFC 792, RFC 1191, RFC 1812 §5.2.7.1). */
const ICMP_TYPES: Record<string, number> = { unreachable: 3, time_exceeded: 11, parameter_problem: 12 };
const ICMP_CODES: Record<number, Record<string, number>> = {
  3: {
    net_unreachable: 0,
    host_unreachable: 1,
    protocol_unreachable: 2,
    port_unreachable: 3,
    frag_needed: 4,
    source_route_failed: 5,
    net_unknown: 6,
    host_unknown: 7,
    net_prohibited: 9,
    host_prohibited: 10,
    filtered: 13,
  },
  11: { ttl_exceeded: 0, reassembly_timeout: 1 },
  12: { pointer: 0 },
};

class Parser {
  private i = 0;
  private readonly lineStarts: number[] = [0];

  constructor(
    private readonly src: string,
    private readonly file: string,
  ) {
    for (let k = 0; k < src.length; k++) if (src.charCodeAt(k) === 10) this.lineStarts.push(k + 1);
  }

  // -------------------------------------------------------------------------------------------
  // Positions and errors

  lineCol(at: number): [number, number] {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.lineStarts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return [lo + 1, at - this.lineStarts[lo]! + 1];
  }

  fail(message: string, at = this.i): never {
    const [line, col] = this.lineCol(Math.min(at, this.src.length));
    throw new DrillSyntaxError(this.file, line, col, message);
  }

  private peek(k = 0): string {
    return this.src.charAt(this.i + k);
  }

  private what(): string {
    if (this.i >= this.src.length) return 'end of file';
    const c = this.peek();
    if (c === '\n') return 'end of line';
    const m = /^[^\s]{1,20}/.exec(this.src.slice(this.i, this.i + 20));
    return JSON.stringify(m ? m[0] : c);
  }

  // -------------------------------------------------------------------------------------------
  // Blanks and comments

  /** Skip spaces, tabs and comments; with `newlines` also line ends. `//` runs to the line end. */
  private blank(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) {
        this.i++;
      } else if (c === '/' && this.peek(1) === '/') {
        while (this.i < this.src.length && this.peek() !== '\n') this.i++;
      } else if (c === '/' && this.peek(1) === '*') {
        const close = this.src.indexOf('*/', this.i + 2);
        if (close < 0) this.fail('unterminated /* comment');
        this.i = close + 2;
      } else {
        return;
      }
    }
  }

  private eat(s: string): boolean {
    if (this.src.startsWith(s, this.i)) {
      this.i += s.length;
      return true;
    }
    return false;
  }

  private expect(s: string, context: string): void {
    if (!this.eat(s)) this.fail(`expected "${s}" ${context}, found ${this.what()}`);
  }

  private ident(): string | undefined {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.i, this.i + 64));
    if (!m) return undefined;
    if (m[0].length >= 64) this.fail('identifier too long');
    this.i += m[0].length;
    return m[0];
  }

  /** An unsigned integer (decimal or 0x hex) no larger than max. */
  private uint(max: number, what: string): number {
    const at = this.i;
    const m = /^(0[xX][0-9a-fA-F]+|[0-9]+)/.exec(this.src.slice(this.i, this.i + 24));
    if (!m) this.fail(`expected ${what}, found ${this.what()}`);
    const v = Number(m[0]);
    if (!Number.isSafeInteger(v) || v > max) this.fail(`${what} ${m[0]} is out of range (0..${max})`, at);
    this.i += m[0].length;
    return v;
  }

  /** Seconds with an optional fraction (`0`, `.1`, `0.100`, `1.5`), returned in ms (µs precision). */
  private seconds(): number {
    const at = this.i;
    const m = /^([0-9]*\.?[0-9]+|[0-9]+\.)/.exec(this.src.slice(this.i, this.i + 32));
    if (!m) this.fail(`expected a time in seconds, found ${this.what()}`);
    const s = Number(m[0]);
    if (!Number.isFinite(s) || s > MAX_SECONDS) this.fail(`time ${m[0]} is out of range (0..${MAX_SECONDS} s)`, at);
    this.i += m[0].length;
    return Math.round(s * 1e6) / 1e3;
  }

  // -------------------------------------------------------------------------------------------
  // Script

  parse(): DrillScript {
    const flags = new Map<string, string>();
    const events: DrillEvent[] = [];
    // Header: `--name=value` lines (or one line with several) before the first event.
    for (;;) {
      this.blank(true);
      if (!this.src.startsWith('--', this.i)) break;
      while (this.src.startsWith('--', this.i)) {
        const at = this.i;
        const m = /^--([a-z][a-z0-9_-]*)(?:=([^\s]*))?/.exec(this.src.slice(this.i, this.i + 256));
        if (!m) this.fail('expected a flag --name=value');
        flags.set(m[1]!.replace(/-/g, '_'), m[2] ?? '');
        this.i += m[0].length;
        if (m[0].length >= 256) this.fail('flag too long', at);
        this.blank(false);
      }
      this.endOfEvent();
    }
    for (;;) {
      this.blank(true);
      if (this.i >= this.src.length) break;
      events.push(this.event());
      this.endOfEvent();
    }
    return { file: this.file, flags, events };
  }

  private endOfEvent(): void {
    this.blank(false);
    if (this.i >= this.src.length) return;
    if (this.peek() === '\n' || this.peek() === ';') {
      this.i++;
      return;
    }
    this.fail(`unexpected ${this.what()} after the event`);
  }

  private event(): DrillEvent {
    const at = this.i;
    const time = this.time();
    this.blank(false);
    const [line, col] = this.lineCol(at);
    const c = this.peek();
    if (c === '<' || c === '>') {
      if (time.blockEnd !== undefined) this.fail('only system calls can block (a...b)', at);
      if (c === '<' && time.kind === 'any') this.fail('"*" is for outbound packets only: an injected packet needs a time', at);
      return this.packet(line, col, time);
    }
    if (time.kind === 'any') this.fail('"*" is for outbound packets only', at);
    if (c === '`') {
      const close = this.src.indexOf('`', this.i + 1);
      if (close < 0) this.fail('unterminated ` command');
      const command = this.src.slice(this.i + 1, close);
      this.i = close + 1;
      return { type: 'shell', line, col, time, command };
    }
    if (c === '%' && this.peek(1) === '{') {
      const close = this.src.indexOf('}%', this.i + 2);
      if (close < 0) this.fail('unterminated %{ block');
      const code = this.src.slice(this.i + 2, close);
      this.i = close + 2;
      return { type: 'code', line, col, time, code };
    }
    if (/[A-Za-z_]/.test(c)) return this.syscall(line, col, time);
    return this.fail(`expected a packet (< or >), a system call, a \` command or %{ }%, found ${this.what()}`);
  }

  /** `0.1`, `+0.1`, `*`, `a~b`, `+a~+b`, `a...b`. */
  private time(): EventTime {
    if (this.eat('*')) return { kind: 'any', start: 0 };
    const rel = this.eat('+');
    if (!/[0-9.]/.test(this.peek())) this.fail(`expected a time (0.1, +0.1 or *), found ${this.what()}`);
    const start = this.seconds();
    const kind = rel ? 'rel' : 'abs';
    if (this.eat('~')) {
      const relEnd = this.eat('+');
      if (relEnd !== rel) this.fail('both ends of a time range must be relative (+a~+b) or both absolute (a~b)');
      const end = this.seconds();
      if (end < start) this.fail('a time range must not end before it starts');
      return { kind, start, end };
    }
    if (this.eat('...')) {
      const blockEnd = this.seconds();
      if (blockEnd < start) this.fail('a blocking call must not return before it starts');
      return { kind, start, blockEnd };
    }
    return { kind, start };
  }

  // -------------------------------------------------------------------------------------------
  // Packets: `< S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 7>`

  private packet(line: number, col: number, time: EventTime): DrillEvent {
    const textAt = this.i;
    const dir = this.peek() as '<' | '>';
    this.i++;
    this.blank(false);
    if (this.src.startsWith('icmp', this.i) && /[ \t]/.test(this.peek(4))) {
      if (dir === '>') this.fail('an ICMP line is for injected packets only (<)');
      return this.icmpPacket(line, col, time, textAt);
    }
    let flags = 0;
    const flagsAt = this.i;
    if (this.eat('-')) {
      // no control bits at all
    } else {
      while (this.i < this.src.length && FLAG_BITS[this.peek()] !== undefined) {
        const bit = FLAG_BITS[this.peek()]!;
        if (flags & bit) this.fail(`flag ${this.peek()} given twice`);
        flags |= bit;
        this.i++;
      }
      if (this.i === flagsAt) this.fail(`expected TCP flags (S . P F R or -), found ${this.what()}`);
    }
    if (!/[ \t]/.test(this.peek())) this.fail(`unknown TCP flag ${this.what()} (flags are F S R P . U E W, or -)`);
    this.blank(false);
    const { start, end, len } = this.seqRange();
    let ack: number | undefined;
    let win: number | undefined;
    let options: PktOption[] | 'any' | undefined;
    for (;;) {
      this.blank(false);
      if (this.src.startsWith('ack', this.i) && /[ \t]/.test(this.peek(3))) {
        if (ack !== undefined) this.fail('ack given twice');
        this.i += 3;
        this.blank(false);
        ack = this.uint(MAX_U32, 'an acknowledgment number');
      } else if (this.src.startsWith('win', this.i) && /[ \t]/.test(this.peek(3))) {
        if (win !== undefined) this.fail('win given twice');
        this.i += 3;
        this.blank(false);
        win = this.uint(0xffff, 'a window');
      } else if (this.peek() === '<') {
        if (options !== undefined) this.fail('a second option list');
        options = this.optionList(dir);
      } else {
        break;
      }
    }
    if (ack !== undefined && !(flags & ACK)) this.fail('"ack N" on a packet without the ACK flag (.)');
    const text = this.src.slice(textAt, this.i).replace(/\s+/g, ' ').trim();
    return { type: 'packet', line, col, time, dir, flags, start, end, len, ack, win, options, text };
  }

  /** `start:end(len)`, a segment's sequence space as the scripts write it; the length must match. */
  private seqRange(): { start: number; end: number; len: number } {
    const start = this.uint(MAX_U32, 'a sequence number');
    this.expect(':', 'between start and end sequence numbers');
    const end = this.uint(MAX_U32, 'a sequence number');
    this.expect('(', 'before the payload length');
    const lenAt = this.i;
    const len = this.uint(0xffffff, 'a payload length');
    this.expect(')', 'after the payload length');
    if (((end - start) >>> 0) !== len) this.fail(`payload length ${len} does not match ${start}:${end}`, lenAt);
    return { start, end, len };
  }

  /**
   * `icmp TYPE CODE [mtu N] [start:end(len)]`: an ICMP error about the stack's segment start:end
   * (its sequence space), as packetdrill writes it. TYPE and CODE are names (ICMP_NAMES) or numbers.
   */
  private icmpPacket(line: number, col: number, time: EventTime, textAt: number): DrillEvent {
    this.i += 4;
    this.blank(false);
    const typeAt = this.i;
    const typeName = this.word();
    const type = ICMP_TYPES[typeName] ?? (/^\d+$/.test(typeName) ? Number(typeName) : undefined);
    if (type === undefined || type > 255) this.fail(`unknown ICMP type ${JSON.stringify(typeName)} (${Object.keys(ICMP_TYPES).join(', ')}, or a number)`, typeAt);
    this.blank(false);
    const codeAt = this.i;
    const codeName = this.word();
    const code = ICMP_CODES[type]?.[codeName] ?? (/^\d+$/.test(codeName) ? Number(codeName) : undefined);
    if (code === undefined || code > 255) this.fail(`unknown ICMP code ${JSON.stringify(codeName)} for ${typeName}`, codeAt);
    this.blank(false);
    let mtu = 0;
    if (this.src.startsWith('mtu', this.i) && /[ \t]/.test(this.peek(3))) {
      this.i += 3;
      this.blank(false);
      mtu = this.uint(0xffff, 'an MTU');
      this.blank(false);
    }
    this.expect('[', 'before the quoted segment start:end(len)');
    const { start, end, len } = this.seqRange();
    this.expect(']', 'after the quoted segment');
    const text = this.src.slice(textAt, this.i).replace(/\s+/g, ' ').trim();
    return { type: 'packet', line, col, time, dir: '<', flags: ACK, start, end, len, ack: undefined, win: undefined, options: undefined, text, icmp: { type, code, mtu } };
  }

  /** A run of letters, digits and underscores. */
  private word(): string {
    const at = this.i;
    while (this.i < this.src.length && /[A-Za-z0-9_]/.test(this.peek())) this.i++;
    return this.src.slice(at, this.i);
  }

  private optionList(dir: '<' | '>'): PktOption[] | 'any' {
    const listAt = this.i;
    this.i++; // '<'
    this.blank(true);
    if (this.eat('...')) {
      this.blank(true);
      this.expect('>', 'to close <...>');
      if (dir === '<') this.fail('<...> is for outbound packets only: an injected packet needs its options spelled out', listAt);
      return 'any';
    }
    const out: PktOption[] = [];
    let bytes = 0;
    for (;;) {
      this.blank(true);
      const at = this.i;
      const name = this.ident();
      let o: PktOption;
      switch (name) {
        case 'nop':
          o = { kind: 'nop' };
          bytes += 1;
          break;
        case 'eol':
          o = { kind: 'eol' };
          bytes += 1;
          break;
        case 'mss':
          this.blank(false);
          o = { kind: 'mss', value: this.uint(0xffff, 'an MSS') };
          bytes += 4;
          break;
        case 'wscale':
          this.blank(false);
          o = { kind: 'wscale', value: this.uint(255, 'a window scale shift') };
          bytes += 3;
          break;
        case 'sackOK':
          o = { kind: 'sackOK' };
          bytes += 2;
          break;
        case 'sack': {
          const blocks: [number, number][] = [];
          for (;;) {
            this.blank(false);
            if (!/[0-9]/.test(this.peek())) break;
            const l = this.uint(MAX_U32, 'a SACK left edge');
            this.expect(':', 'in a SACK block');
            const r = this.uint(MAX_U32, 'a SACK right edge');
            blocks.push([l, r]);
          }
          if (blocks.length === 0 || blocks.length > 4) this.fail('sack takes 1 to 4 blocks a:b', at);
          o = { kind: 'sack', blocks };
          bytes += 2 + 8 * blocks.length;
          break;
        }
        case 'TS': {
          this.blank(false);
          if (this.ident() !== 'val') this.fail('expected "TS val N ecr N"');
          this.blank(false);
          const val = this.uint(MAX_U32, 'a TS value');
          this.blank(false);
          if (this.ident() !== 'ecr') this.fail('expected "ecr N" after "TS val N"');
          this.blank(false);
          const ecr = this.uint(MAX_U32, 'a TS echo reply');
          o = { kind: 'TS', val, ecr };
          bytes += 10;
          break;
        }
        default:
          this.i = at;
          return this.fail(`unknown TCP option ${this.what()} (nop, eol, mss, wscale, sackOK, sack, TS)`);
      }
      out.push(o);
      if (bytes > 40) this.fail('TCP options longer than 40 bytes', at);
      this.blank(true);
      if (this.eat(',')) continue;
      this.expect('>', 'to close the option list');
      return out;
    }
  }

  // -------------------------------------------------------------------------------------------
  // System calls: `setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0`, `= -1 EAGAIN (text)`

  private syscall(line: number, col: number, time: EventTime): DrillEvent {
    const textAt = this.i;
    const name = this.ident()!;
    this.blank(false);
    this.expect('(', `after ${name}`);
    const args: SyscallArg[] = [];
    this.blank(true);
    if (!this.eat(')')) {
      for (;;) {
        args.push(this.arg(0));
        this.blank(true);
        if (this.eat(',')) continue;
        this.expect(')', 'to close the argument list');
        break;
      }
    }
    this.blank(false);
    this.expect('=', 'before the return value');
    this.blank(false);
    let ret: number | undefined;
    let errno: string | undefined;
    if (this.eat('...')) {
      ret = undefined;
    } else {
      const neg = this.eat('-');
      const v = this.uint(MAX_U32, 'a return value');
      ret = neg ? -v : v;
      this.blank(false);
      if (/[A-Z]/.test(this.peek())) {
        errno = this.ident();
        this.blank(false);
        if (this.peek() === '(') {
          const close = this.src.indexOf(')', this.i);
          const nl = this.src.indexOf('\n', this.i);
          if (close < 0 || (nl >= 0 && nl < close)) this.fail('unterminated ( after the errno name');
          this.i = close + 1;
        }
      }
      if (ret === -1 && errno === undefined) this.fail('a return value of -1 needs an errno name (-1 EAGAIN)');
      if (ret !== -1 && errno !== undefined) this.fail('an errno name goes only with -1');
    }
    const text = this.src.slice(textAt, this.i).replace(/\s+/g, ' ').trim();
    return { type: 'syscall', line, col, time, name, args, ret, errno, text };
  }

  private arg(depth: number): SyscallArg {
    if (depth > MAX_DEPTH) this.fail('arguments nested too deeply');
    this.blank(true);
    const c = this.peek();
    if (this.eat('...')) return { kind: 'ellipsis' };
    if (c === '[') {
      this.i++;
      const items: SyscallArg[] = [];
      this.blank(true);
      if (this.eat(']')) return { kind: 'list', items };
      for (;;) {
        items.push(this.arg(depth + 1));
        this.blank(true);
        if (this.eat(',')) continue;
        this.expect(']', 'to close the list');
        return { kind: 'list', items };
      }
    }
    if (c === '{') {
      this.i++;
      const fields: { name: string; value: SyscallArg }[] = [];
      this.blank(true);
      if (this.eat('}')) return { kind: 'struct', fields };
      for (;;) {
        this.blank(true);
        const name = this.ident();
        if (name === undefined) this.fail(`expected a field name, found ${this.what()}`);
        this.blank(false);
        this.expect('=', 'after the field name');
        fields.push({ name, value: this.arg(depth + 1) });
        this.blank(true);
        if (this.eat(',')) continue;
        this.expect('}', 'to close the struct');
        return { kind: 'struct', fields };
      }
    }
    if (c === '"') {
      const close = this.src.indexOf('"', this.i + 1);
      const nl = this.src.indexOf('\n', this.i + 1);
      if (close < 0 || (nl >= 0 && nl < close)) this.fail('unterminated string');
      const value = this.src.slice(this.i + 1, close);
      this.i = close + 1;
      return { kind: 'str', value };
    }
    if (c === '-' || /[0-9]/.test(c)) {
      const neg = this.eat('-');
      const v = this.uint(MAX_U32, 'a number');
      return { kind: 'num', value: neg ? -v : v };
    }
    const first = this.ident();
    if (first === undefined) return this.fail(`expected an argument, found ${this.what()}`);
    const names = [first];
    for (;;) {
      this.blank(false);
      if (!this.eat('|')) break;
      this.blank(false);
      const n = this.ident();
      if (n === undefined) this.fail(`expected a constant after |, found ${this.what()}`);
      names.push(n);
    }
    return { kind: 'sym', names };
  }
}

/** Parse a script; throws DrillSyntaxError (and only that) on bad input. */
export function parseScript(text: string, file = '<script>'): DrillScript {
  if (text.length > MAX_SCRIPT_BYTES) throw new DrillSyntaxError(file, 1, 1, `script larger than ${MAX_SCRIPT_BYTES} bytes`);
  return new Parser(text, file).parse();
}

/** Flags as the script writes them, for messages: "S.", "P.", "F.", "R", "-". */
export function formatScriptFlags(flags: number): string {
  let s = '';
  if (flags & SYN) s += 'S';
  if (flags & FIN) s += 'F';
  if (flags & RST) s += 'R';
  if (flags & PSH) s += 'P';
  if (flags & URG) s += 'U';
  if (flags & ECE) s += 'E';
  if (flags & CWR) s += 'W';
  if (flags & ACK) s += '.';
  return s === '' ? '-' : s;
}
