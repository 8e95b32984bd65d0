/**
 * TCP options (RFC 9293 §3.1 "Options", §3.2 "Specific Option Definitions"; RFC 7323 window scale and
 * timestamps; RFC 2018 SACK). Each option is either a single kind byte (EOL = 0, NOP = 1) or
 *
 *     +--------+--------+---------...
 *     |  Kind  | Length |  data (Length - 2 bytes)
 *     +--------+--------+---------...
 *
 *   kind 2  MSS             length 4   16-bit maximum segment size            (RFC 9293 §3.2)
 *   kind 3  Window scale    length 3   shift count                            (RFC 7323 §2.2)
 *   kind 4  SACK-permitted  length 2                                          (RFC 2018 §2)
 *   kind 5  SACK            length 2 + 8n, n = 1..4: n (left edge, right edge) (RFC 2018 §3)
 *   kind 8  Timestamps      length 10  TSval, TSecr                           (RFC 7323 §3.2)
 *
 * Unknown kinds are skipped by their length (RFC 9293 §3.2: options a TCP does not implement are
 * ignored; an illegal option length must be handled without harm; RFC 1122 §4.2.2.5). A malformed
 * list (length < 2, running past the header, a wrong fixed length) is rejected as ERR_TCP_OPTION.
 *
 * Serialization uses the layout Linux uses (net/ipv4/tcp_output.c, tcp_options_write), so that a
 * segment captured from Linux re-encodes byte for byte:
 *   MSS; then SACK-permitted + timestamps together (04 02 08 0a ...) or NOP NOP + timestamps, or
 *   NOP NOP + SACK-permitted; then NOP + window scale; then NOP NOP + SACK blocks.
 */
import { readU32, writeU32 } from './bytes.ts';
import { WireError } from '../util/errors.ts';

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WINDOW_SCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

/** A SACK block: [left edge, right edge) in sequence space (RFC 2018 §3). */
export type SackBlock = readonly [number, number];

export interface TcpTimestamp {
  readonly value: number;
  readonly echo: number;
}

export interface TcpOptions {
  readonly mss?: number;
  readonly windowScale?: number;
  readonly sackPermitted?: boolean;
  readonly sack?: readonly SackBlock[];
  readonly timestamp?: TcpTimestamp;
}

/** Shared, frozen: most segments carry no options and get this one object. */
export const NO_OPTIONS: TcpOptions = Object.freeze({});


function bad(message: string): WireError {
  return new WireError('ERR_TCP_OPTION', message);
}

/**
 * Options parsed into storage that is filled again for the next segment: every field is set, to
 * undefined when the option is absent; `timestamp` and the blocks of `sack` are objects of this
 * instance, rewritten by the next scan. The TCP layer's receive path reads each segment into one of
 * these (TcpSegmentReader, wire/tcp.ts), since it is done with a segment before it reads the next;
 * parseTcpOptions copies it into a fresh TcpOptions for everyone else.
 */
export class TcpOptionsScratch implements TcpOptions {
  mss: number | undefined = undefined;
  windowScale: number | undefined = undefined;
  sackPermitted: boolean | undefined = undefined;
  sack: readonly SackBlock[] | undefined = undefined;
  timestamp: TcpTimestamp | undefined = undefined;
  private readonly ts = { value: 0, echo: 0 };
  /** Up to four blocks (40 option bytes hold no more, RFC 2018 §3); sackOf[n] lists the first n. */
  private readonly blocks: [number, number][] = [
    [0, 0],
    [0, 0],
    [0, 0],
    [0, 0],
  ];
  private readonly sackOf: (readonly SackBlock[])[] = [[], ...[1, 2, 3, 4].map((n) => this.blocks.slice(0, n))];

  /** Parse the options in buf[start, end) (between the fixed header and the data offset). */
  scan(buf: Uint8Array, start: number, end: number): WireError | undefined {
    this.mss = undefined;
    this.windowScale = undefined;
    this.sackPermitted = undefined;
    this.sack = undefined;
    this.timestamp = undefined;
    let i = start;
    while (i < end) {
      const kind = buf[i]!;
      if (kind === TCPOPT_EOL) break;
      if (kind === TCPOPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) return bad(`option kind ${kind} has no length byte`);
      const len = buf[i + 1]!;
      if (len < 2) return bad(`option kind ${kind} has length ${len} < 2`);
      if (i + len > end) return bad(`option kind ${kind} (length ${len}) runs past the header`);
      switch (kind) {
        case TCPOPT_MSS:
          if (len !== 4) return bad(`MSS option length ${len}, expected 4`);
          this.mss = (buf[i + 2]! << 8) | buf[i + 3]!;
          break;
        case TCPOPT_WINDOW_SCALE:
          if (len !== 3) return bad(`window scale option length ${len}, expected 3`);
          this.windowScale = buf[i + 2]!;
          break;
        case TCPOPT_SACK_PERMITTED:
          if (len !== 2) return bad(`SACK-permitted option length ${len}, expected 2`);
          this.sackPermitted = true;
          break;
        case TCPOPT_SACK: {
          // 2 + 8n bytes; within a 40-byte option space n is at most 4
          if ((len - 2) % 8 !== 0 || len === 2) return bad(`SACK option length ${len}, expected 2 + 8n`);
          const n = (len - 2) / 8;
          if (n > this.blocks.length) return bad(`SACK option of ${n} blocks, more than an option space holds`);
          for (let b = 0, j = i + 2; b < n; b++, j += 8) {
            const blk = this.blocks[b]!;
            blk[0] = readU32(buf, j);
            blk[1] = readU32(buf, j + 4);
          }
          this.sack = this.sackOf[n];
          break;
        }
        case TCPOPT_TIMESTAMP:
          if (len !== 10) return bad(`timestamp option length ${len}, expected 10`);
          this.ts.value = readU32(buf, i + 2);
          this.ts.echo = readU32(buf, i + 6);
          this.timestamp = this.ts;
          break;
        default:
          // Unknown option: skipped by its length.
          break;
      }
      i += len;
    }
    return undefined;
  }
}

const SCRATCH = new TcpOptionsScratch();

/** Parse the options in buf[start, end) (the bytes between the fixed header and the data offset). */
export function parseTcpOptions(buf: Uint8Array, start: number, end: number): TcpOptions | WireError {
  if (start === end) return NO_OPTIONS;
  const bad = SCRATCH.scan(buf, start, end);
  return bad ?? copyTcpOptions(SCRATCH);
}

/** Options of one's own: the present fields of `o`, its blocks and timestamp copied (o may be a scratch). */
export function copyTcpOptions(o: TcpOptions): TcpOptions {
  if (o === NO_OPTIONS) return NO_OPTIONS;
  const out: { -readonly [K in keyof TcpOptions]: TcpOptions[K] } = {};
  if (o.mss !== undefined) out.mss = o.mss;
  if (o.windowScale !== undefined) out.windowScale = o.windowScale;
  if (o.sackPermitted) out.sackPermitted = true;
  if (o.sack !== undefined) out.sack = o.sack.map(([l, r]) => [l, r] as const);
  if (o.timestamp !== undefined) out.timestamp = { value: o.timestamp.value, echo: o.timestamp.echo };
  return out;
}

/** Bytes the options take when serialized (always a multiple of 4). */
export function tcpOptionsLength(opts: TcpOptions): number {
  let n = 0;
  if (opts.mss !== undefined) n += 4;
  if (opts.timestamp !== undefined || opts.sackPermitted) n += opts.timestamp !== undefined ? 12 : 4;
  if (opts.windowScale !== undefined) n += 4;
  if (opts.sack !== undefined && opts.sack.length > 0) n += 4 + 8 * opts.sack.length;
  return n;
}

/** Write the options at out[offset] in Linux's layout; returns the number of bytes written. */
export function writeTcpOptions(opts: TcpOptions, out: Uint8Array, offset: number): number {
  let i = offset;
  if (opts.mss !== undefined) {
    out[i] = TCPOPT_MSS;
    out[i + 1] = 4;
    out[i + 2] = opts.mss >>> 8;
    out[i + 3] = opts.mss & 0xff;
    i += 4;
  }
  if (opts.timestamp !== undefined) {
    if (opts.sackPermitted) {
      out[i] = TCPOPT_SACK_PERMITTED;
      out[i + 1] = 2;
    } else {
      out[i] = TCPOPT_NOP;
      out[i + 1] = TCPOPT_NOP;
    }
    out[i + 2] = TCPOPT_TIMESTAMP;
    out[i + 3] = 10;
    writeU32(out, i + 4, opts.timestamp.value);
    writeU32(out, i + 8, opts.timestamp.echo);
    i += 12;
  } else if (opts.sackPermitted) {
    out[i] = TCPOPT_NOP;
    out[i + 1] = TCPOPT_NOP;
    out[i + 2] = TCPOPT_SACK_PERMITTED;
    out[i + 3] = 2;
    i += 4;
  }
  if (opts.windowScale !== undefined) {
    out[i] = TCPOPT_NOP;
    out[i + 1] = TCPOPT_WINDOW_SCALE;
    out[i + 2] = 3;
    out[i + 3] = opts.windowScale;
    i += 4;
  }
  if (opts.sack !== undefined && opts.sack.length > 0) {
    out[i] = TCPOPT_NOP;
    out[i + 1] = TCPOPT_NOP;
    out[i + 2] = TCPOPT_SACK;
    out[i + 3] = 2 + 8 * opts.sack.length;
    i += 4;
    for (const [l, r] of opts.sack) {
      writeU32(out, i, l);
      writeU32(out, i + 4, r);
      i += 8;
    }
  }
  return i - offset;
}
