/**
 * The shape of a parsed drill script: what parse.ts produces and run.ts plays. A script is a list
 * of timed events, each one of: a packet the remote host injects (`<`), a packet the stack must send
 * (`>`), a system call on the socket API, a backtick shell line, or a `%{ }%` code block.
 *
 * Times are in milliseconds (the scripts write seconds; parse.ts converts, to the microsecond).
 * The language is described in our own words in docs/drill.md.
 */
import { TunstackError } from '../util/errors.ts';

/** A script that does not parse, or a flag with a bad value: `file:line:col: message`, exit 2. */
export class DrillSyntaxError extends TunstackError {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly detail: string;

  constructor(file: string, line: number, col: number, detail: string) {
    super('ERR_DRILL_SYNTAX', `${file}:${line}:${col}: ${detail}`);
    this.name = 'DrillSyntaxError';
    this.file = file;
    this.line = line;
    this.col = col;
    this.detail = detail;
  }
}

/**
 * When an event happens.
 * - `abs`: at `start` ms after the script began; `rel`: `start` ms after the previous event's start;
 * - `any` (`*`): whenever it comes (outbound packets only);
 * - `end` (a range `a~b`): the event may happen anywhere from start to end;
 * - `blockEnd` (`a...b`, system calls only): the call begins at start and returns at blockEnd,
 *   which is counted from the same base as start (the previous event's time for `+a...b`).
 */
export interface EventTime {
  readonly kind: 'abs' | 'rel' | 'any';
  readonly start: number;
  readonly end?: number;
  readonly blockEnd?: number;
}

export type PktOption =
  | { readonly kind: 'nop' }
  | { readonly kind: 'eol' }
  | { readonly kind: 'mss'; readonly value: number }
  | { readonly kind: 'wscale'; readonly value: number }
  | { readonly kind: 'sackOK' }
  | { readonly kind: 'sack'; readonly blocks: readonly (readonly [number, number])[] }
  | { readonly kind: 'TS'; readonly val: number; readonly ecr: number };

export interface PacketEvent {
  readonly type: 'packet';
  readonly line: number;
  readonly col: number;
  readonly time: EventTime;
  readonly dir: '<' | '>';
  /** The control bits, as in wire/tcp.ts (FIN 0x01 ... CWR 0x80). */
  readonly flags: number;
  /** Sequence numbers relative to the sender's ISN. */
  readonly start: number;
  readonly end: number;
  readonly len: number;
  readonly ack: number | undefined;
  readonly win: number | undefined;
  /** undefined: no option list; 'any': `<...>` (outbound only: options not checked). */
  readonly options: readonly PktOption[] | 'any' | undefined;
  /** The text of the packet part of the line, for messages. */
  readonly text: string;
  /**
   * An injected ICMP error (`< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]`): its type,
   * code and next-hop MTU; start/end/len are then the quoted segment's, in the stack's sequence space.
   */
  readonly icmp?: { readonly type: number; readonly code: number; readonly mtu: number };
}

export type SyscallArg =
  | { readonly kind: 'ellipsis' }
  | { readonly kind: 'num'; readonly value: number }
  /** Symbolic constants OR-ed together: `O_RDWR|O_NONBLOCK`. */
  | { readonly kind: 'sym'; readonly names: readonly string[] }
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'list'; readonly items: readonly SyscallArg[] }
  | { readonly kind: 'struct'; readonly fields: readonly { readonly name: string; readonly value: SyscallArg }[] };

export interface SyscallEvent {
  readonly type: 'syscall';
  readonly line: number;
  readonly col: number;
  readonly time: EventTime;
  readonly name: string;
  readonly args: readonly SyscallArg[];
  /** The expected return value, or undefined for `= ...` (not checked). */
  readonly ret: number | undefined;
  readonly errno: string | undefined;
  readonly text: string;
}

export interface ShellEvent {
  readonly type: 'shell';
  readonly line: number;
  readonly col: number;
  readonly time: EventTime;
  readonly command: string;
}

export interface CodeEvent {
  readonly type: 'code';
  readonly line: number;
  readonly col: number;
  readonly time: EventTime;
  readonly code: string;
}

export type DrillEvent = PacketEvent | SyscallEvent | ShellEvent | CodeEvent;

export interface DrillScript {
  readonly file: string;
  /** Header flags: `--tolerance_usecs=10000` lines before the first event. */
  readonly flags: ReadonlyMap<string, string>;
  readonly events: readonly DrillEvent[];
}
