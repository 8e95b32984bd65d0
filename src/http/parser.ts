/**
 * An incremental HTTP/1.1 request parser (RFC 9112 syntax). Feed it whatever the socket delivers,
 * in any split, one byte at a time if need be: `execute(chunk)` keeps its position between calls
 * and never re-scans bytes it has already examined (a partial line is copied once into a growing
 * line buffer; a complete line is validated in one pass; body bytes are handed out as subarrays
 * of the input, without copying).
 *
 * Strict where leniency has led to request smuggling or resource exhaustion: each rejection is a
 * typed HttpParseError with a stable code and the status code the server answers with.
 */
import { TunstackError } from '../util/errors.ts';

/** A malformed or unacceptable request. `status` is the response to send before closing. */
export class HttpParseError extends TunstackError {
  readonly status: number;

  constructor(code: string, status: number, message: string) {
    super(code, message);
    this.name = 'HttpParseError';
    this.status = status;
  }
}

export interface HttpParserLimits {
  /** Longest request line, excluding CRLF (RFC 9112 §3 recommends supporting at least 8000). */
  maxRequestLineBytes: number;
  /** Largest header section (field lines with their line endings); the same budget for trailers. */
  maxHeaderBytes: number;
  /** Most field lines in a header section (or trailer section). */
  maxHeaderCount: number;
  /** Longest chunk-size line, extensions included (RFC 9112 §7.1.1 lets a server limit them). */
  maxChunkLineBytes: number;
}

export const DEFAULT_PARSER_LIMITS: Readonly<HttpParserLimits> = Object.freeze({
  maxRequestLineBytes: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxChunkLineBytes: 4 * 1024,
});

/** The request line and header section, as the server needs them. */
export interface RequestHead {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** '1.0' or '1.1' (anything else was rejected with 505). */
  httpVersion: string;
  /** Field names and values as received, flattened: [name0, value0, name1, value1, ...]. */
  rawHeaders: string[];
  /** Lowercased names; repeated fields combined with ", " (RFC 9110 §5.3), Cookie with "; ". */
  headers: Record<string, string>;
  /** Body length from Content-Length, or undefined (chunked, or no body). */
  contentLength: number | undefined;
  chunked: boolean;
  /** Persistence as the request asks for it (RFC 9112 §9.3). */
  keepAlive: boolean;
  /** `Expect: 100-continue` (RFC 9110 §10.1.1). */
  expectContinue: boolean;
}

export interface HttpParserHandlers {
  onHead(head: RequestHead): void;
  /** A piece of the (de-chunked) body; a view into the caller's input buffer. */
  onBody(chunk: Buffer): void;
  /**
   * The message is complete; trailers (combined, and as received) only for chunked bodies that had
   * some (RFC 9112 §7.1.2), else both undefined.
   */
  onComplete(trailers: Record<string, string> | undefined, rawTrailers: string[] | undefined): void;
}

// Parser states. Line states read up to LF; data states count bytes.
const S_START = 0; // request line (after any leading empty lines, RFC 9112 §2.2)
const S_HEADER = 1;
const S_BODY = 2; // Content-Length body
const S_CHUNK_SIZE = 3;
const S_CHUNK_DATA = 4;
const S_CHUNK_DATA_END = 5; // the CRLF after chunk-data
const S_TRAILER = 6;
const S_ERROR = 7;

/** A line buffer up to this size is kept for the next spanning line; a larger one is let go. */
const LINE_KEEP = 1024;
const EMPTY_LINE = Buffer.alloc(0);

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** tchar (RFC 9110 §5.6.2) lookup table: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA. */
const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") t[ch.charCodeAt(0)] = 1;
  return t;
})();

/** token = 1*tchar (RFC 9110 §5.6.2): field names, methods. Shared with the response side. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    // charCodeAt may exceed 0xff: outside the table, hence not a tchar.
    if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  }
  return true;
}

/** field-vchar / SP / HTAB (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. Also fine for chunk-ext. */
const FIELD_CHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x21; c <= 0x7e; c++) t[c] = 1;
  for (let c = 0x80; c <= 0xff; c++) t[c] = 1;
  t[SP] = 1;
  t[HTAB] = 1;
  return t;
})();

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Field names most requests carry, in their usual spelling: a name whose bytes match one is not
 * made into a string (and lowercased) per request, but taken from here (see fieldName()).
 * Field names are case-insensitive (RFC 9110 §5.1), so the lowercased one is found for any spelling.
 */
const COMMON_FIELDS = [
  'Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Connection', 'Content-Length',
  'Content-Type', 'Transfer-Encoding', 'Expect', 'Cookie', 'Referer', 'Origin', 'Cache-Control',
  'Upgrade-Insecure-Requests', 'Keep-Alive',
].map((spelling) => ({ spelling, lower: spelling.toLowerCase(), bytes: Buffer.from(spelling.toLowerCase(), 'latin1') }));

/** COMMON_FIELDS by name length, for the byte comparison in fieldName(). */
const COMMON_BY_LENGTH: (typeof COMMON_FIELDS)[] = [];
for (const f of COMMON_FIELDS) (COMMON_BY_LENGTH[f.bytes.length] ??= []).push(f);

/**
 * The common field whose name is buf[start, end) in any letter case, or undefined. The bytes are
 * tchars (checked by the caller), and the common names are letters and "-": for those, setting bit
 * 0x20 maps an upper-case letter to its lower case and changes no other tchar into a letter or "-".
 */
function commonField(buf: Buffer, start: number, end: number): (typeof COMMON_FIELDS)[number] | undefined {
  const candidates = COMMON_BY_LENGTH[end - start];
  if (candidates === undefined) return undefined;
  for (const f of candidates) {
    const b = f.bytes;
    let i = 0;
    while (i < b.length && (buf[start + i]! | 0x20) === b[i]) i++;
    if (i === b.length) return f;
  }
  return undefined;
}

/** Does buf[start, end) spell `s` exactly (latin1)? */
function spells(buf: Buffer, start: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (buf[start + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * The record req.headers is: its prototype is an empty object with no prototype of its own, so any
 * field name ("constructor", "__proto__") is an own key and nothing is inherited, as with
 * Object.create(null); but records made by one constructor share V8's fast property layout, where
 * Object.create(null) gives each one a hash table.
 */
const FieldRecord = function FieldRecord() {} as unknown as { new (): Record<string, string>; prototype: object };
FieldRecord.prototype = Object.create(null) as object;

/**
 * A field section as a record: lowercased names, repeated fields combined with ", " (RFC 9110
 * §5.3), Cookie with "; " (RFC 6265 §5.4). For the header and the trailer section alike.
 * `lower[k]` is the lowercased name of `raw[2k]`.
 */
function combineFields(raw: string[], lower: string[]): Record<string, string> {
  const fields = new FieldRecord();
  for (let k = 0; k < raw.length; k += 2) {
    const name = lower[k >> 1]!;
    const prev = fields[name];
    fields[name] = prev === undefined ? raw[k + 1]! : prev + (name === 'cookie' ? '; ' : ', ') + raw[k + 1]!;
  }
  return fields;
}

function fail(code: string, status: number, message: string): never {
  throw new HttpParseError(code, status, message);
}

function bareCr(): never {
  // RFC 9112 §2.2: a bare CR outside content MUST be rejected or replaced by SP; we reject.
  return fail('ERR_HTTP_BARE_CR', 400, 'bare CR in message framing');
}

function bareLf(): never {
  // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF. The §2.2 leniency (a bare
  // LF as a line end) covers the start line and field lines only, not the chunked framing.
  return fail('ERR_HTTP_BARE_LF', 400, 'bare LF in chunked framing');
}

export class HttpRequestParser {
  private readonly handlers: HttpParserHandlers;
  private readonly limits: HttpParserLimits;
  private state = S_START;
  /** A line that spans input chunks is copied here, once; grows by doubling up to the limits. */
  private line: Buffer = EMPTY_LINE;
  private lineLen = 0;
  /** Bytes of the current header or trailer section so far, and its field line count. */
  private sectionBytes = 0;
  private fieldCount = 0;
  /** Body bytes still expected (Content-Length body, or the current chunk). */
  private remaining = 0;
  private paused = false;
  private method = '';
  private url = '';
  private versionMinor = 1;
  private raw: string[] = [];
  /** The lowercased field names of `raw`, one per field. */
  private lower: string[] = [];
  private err: HttpParseError | undefined;

  constructor(handlers: HttpParserHandlers, limits: Partial<HttpParserLimits> = {}) {
    this.handlers = handlers;
    // A complete set (a server's settings, shared by its connections) is used as it is.
    const complete =
      limits.maxRequestLineBytes !== undefined && limits.maxHeaderBytes !== undefined &&
      limits.maxHeaderCount !== undefined && limits.maxChunkLineBytes !== undefined;
    this.limits = complete ? (limits as HttpParserLimits) : { ...DEFAULT_PARSER_LIMITS, ...limits };
  }

  /** The error that stopped the parser, if any. */
  get error(): HttpParseError | undefined {
    return this.err;
  }

  /** True between messages with no byte of the next one seen yet. */
  get idle(): boolean {
    return this.state === S_START && this.lineLen === 0;
  }

  /** True while a request line or header section is being received (what a headers timeout guards). */
  get inHead(): boolean {
    return (this.state === S_START && this.lineLen > 0) || this.state === S_HEADER;
  }

  /**
   * Stop after the current call (used from onComplete to hold the next request back). execute()
   * then returns how many bytes it consumed; the caller keeps the rest and feeds it after resume().
   */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Consume input. Returns the number of bytes consumed: all of them unless the parser was paused
   * by a handler. Throws HttpParseError (and keeps throwing it) on a malformed request.
   */
  execute(input: Uint8Array): number {
    if (this.err) throw this.err;
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const n = chunk.length;
    let pos = 0;
    try {
      while (pos < n && !this.paused) {
        const state = this.state;
        if (state === S_BODY || state === S_CHUNK_DATA) {
          const take = Math.min(this.remaining, n - pos);
          this.remaining -= take;
          const piece = chunk.subarray(pos, pos + take);
          pos += take;
          if (this.remaining === 0) this.state = state === S_BODY ? S_START : S_CHUNK_DATA_END;
          this.handlers.onBody(piece);
          if (this.remaining === 0 && state === S_BODY) this.complete();
          continue;
        }
        const lf = chunk.indexOf(LF, pos);
        const end = lf < 0 ? n : lf;
        this.checkLineLength(this.lineLen + (end - pos), lf >= 0);
        if (lf < 0) {
          this.append(chunk, pos, n);
          pos = n;
          break;
        }
        if (this.lineLen === 0) {
          this.onLine(chunk, pos, lf);
        } else {
          this.append(chunk, pos, lf);
          const len = this.lineLen;
          this.lineLen = 0;
          this.onLine(this.line, 0, len);
          // A long line's buffer is not kept between lines: memory follows what is held now.
          if (this.line.length > LINE_KEEP) this.line = EMPTY_LINE;
        }
        pos = lf + 1;
      }
    } catch (e) {
      if (e instanceof HttpParseError) {
        this.err = e;
        this.state = S_ERROR;
      }
      throw e;
    }
    return pos;
  }

  /** Enforce the size limits while a line is still arriving, before buffering more of it. */
  private checkLineLength(len: number, complete: boolean): void {
    // While incomplete, the last byte may turn out to be the CR of the CRLF: allow one more.
    const slack = complete ? 0 : 1;
    switch (this.state) {
      case S_START:
        if (len > this.limits.maxRequestLineBytes + 1 + slack) {
          fail('ERR_HTTP_URI_TOO_LONG', 414, `request line over ${this.limits.maxRequestLineBytes} bytes`);
        }
        return;
      case S_HEADER:
      case S_TRAILER:
        if (this.sectionBytes + len + 1 > this.limits.maxHeaderBytes + slack) {
          fail('ERR_HTTP_HEADER_TOO_LARGE', 431, `header section over ${this.limits.maxHeaderBytes} bytes`);
        }
        return;
      default:
        if (len > this.limits.maxChunkLineBytes + 1 + slack) {
          fail('ERR_HTTP_CHUNK_LINE_TOO_LONG', 400, `chunk line over ${this.limits.maxChunkLineBytes} bytes`);
        }
    }
  }

  private append(src: Buffer, start: number, end: number): void {
    const need = this.lineLen + (end - start);
    if (need > this.line.length) {
      // Not from Node's Buffer pool: a parser idling on a partial line would pin a whole 8 KiB slab.
      const grown = Buffer.allocUnsafeSlow(Math.max(256, need, this.line.length * 2));
      this.line.copy(grown, 0, 0, this.lineLen);
      this.line = grown;
    }
    src.copy(this.line, this.lineLen, start, end);
    this.lineLen = need;
  }

  /** One line, buf[start, end) without its LF. */
  private onLine(buf: Buffer, start: number, end: number): void {
    const rawLen = end - start + 1;
    // RFC 9112 §2.2: CRLF ends a line; a recipient MAY also accept a bare LF, which we do for the
    // start line and field lines (chunk lines insist on CRLF, below).
    const crlf = end > start && buf[end - 1] === CR;
    if (crlf) end--;
    switch (this.state) {
      case S_START:
        // RFC 9112 §2.2: ignore empty line(s) received before the request line.
        if (end === start) return;
        if (end - start > this.limits.maxRequestLineBytes) {
          fail('ERR_HTTP_URI_TOO_LONG', 414, `request line over ${this.limits.maxRequestLineBytes} bytes`);
        }
        this.requestLine(buf, start, end);
        this.startSection(S_HEADER);
        return;
      case S_HEADER:
      case S_TRAILER:
        // RFC 9112 §2.1 / §7.1.2: field lines up to an empty line, in either section.
        if (end === start) {
          if (this.state === S_HEADER) this.headEnd();
          else this.trailersEnd();
          return;
        }
        this.sectionBytes += rawLen;
        this.fieldLine(buf, start, end);
        return;
      case S_CHUNK_SIZE:
        if (!crlf) bareLf();
        this.chunkSizeLine(buf, start, end);
        return;
      case S_CHUNK_DATA_END:
        // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
        if (end !== start) {
          if (buf.indexOf(CR, start) >= 0 && buf.indexOf(CR, start) < end) bareCr();
          fail('ERR_HTTP_INVALID_CHUNK', 400, 'chunk data longer than its chunk-size');
        }
        if (!crlf) bareLf();
        this.state = S_CHUNK_SIZE;
        return;
      default:
        fail('ERR_HTTP_PARSER_STATE', 400, 'parser in an unexpected state');
    }
  }

  /** A header or trailer section begins: fresh size budget, field count and field list. */
  private startSection(state: typeof S_HEADER | typeof S_TRAILER): void {
    this.state = state;
    this.sectionBytes = 0;
    this.fieldCount = 0;
    this.raw = [];
    this.lower = [];
  }

  /** RFC 9112 §3: request-line = method SP request-target SP HTTP-version */
  private requestLine(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    if (i === start || i >= end || buf[i] !== SP) {
      if (i < end && buf[i] === CR) bareCr();
      if (i === start || (i < end && buf[i] !== SP)) fail('ERR_HTTP_INVALID_METHOD', 400, 'method is not a token');
      fail('ERR_HTTP_INVALID_REQUEST_LINE', 400, 'malformed request line');
    }
    const methodEnd = i;
    const targetStart = ++i;
    while (i < end) {
      const c = buf[i]!;
      if (c === SP) break;
      // request-target: no whitespace, controls or non-ASCII (RFC 9112 §3.2, RFC 3986 §2)
      if (c < 0x21 || c > 0x7e) {
        if (c === CR) bareCr();
        fail('ERR_HTTP_INVALID_REQUEST_LINE', 400, 'invalid byte in request-target');
      }
      i++;
    }
    if (i === targetStart || i >= end) fail('ERR_HTTP_INVALID_REQUEST_LINE', 400, 'malformed request line');
    const targetEnd = i;
    const v = i + 1;
    // RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, HTTP-name case-sensitive "HTTP"
    if (
      end - v !== 8 ||
      buf[v] !== 0x48 || buf[v + 1] !== 0x54 || buf[v + 2] !== 0x54 || buf[v + 3] !== 0x50 ||
      buf[v + 4] !== 0x2f || buf[v + 6] !== 0x2e ||
      !(buf[v + 5]! >= 0x30 && buf[v + 5]! <= 0x39) || !(buf[v + 7]! >= 0x30 && buf[v + 7]! <= 0x39)
    ) {
      for (let k = v; k < end; k++) if (buf[k] === CR) bareCr();
      fail('ERR_HTTP_INVALID_REQUEST_LINE', 400, 'malformed HTTP-version');
    }
    const major = buf[v + 5]! - 0x30;
    const minor = buf[v + 7]! - 0x30;
    if (major !== 1 || minor > 1) {
      fail('ERR_HTTP_VERSION', 505, `HTTP/${major}.${minor} is not supported`);
    }
    this.method = buf.toString('latin1', start, methodEnd);
    this.url = buf.toString('latin1', targetStart, targetEnd);
    this.versionMinor = minor;
  }

  /** RFC 9112 §5: field-line = field-name ":" OWS field-value OWS */
  private fieldLine(buf: Buffer, start: number, end: number): void {
    if (++this.fieldCount > this.limits.maxHeaderCount) {
      fail('ERR_HTTP_HEADER_TOO_LARGE', 431, `more than ${this.limits.maxHeaderCount} header fields`);
    }
    const first = buf[start]!;
    // RFC 9112 §5.2: obs-fold (a line starting with SP/HTAB) outside message/http: reject with 400.
    // (RFC 9112 §2.2: whitespace before the first field line is rejected the same way.)
    if (first === SP || first === HTAB) fail('ERR_HTTP_OBS_FOLD', 400, 'obsolete line folding');
    let i = start;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    if (i === start || i >= end || buf[i] !== COLON) {
      if (i < end && buf[i] === CR) bareCr();
      // RFC 9112 §5.1: no whitespace between field name and colon; a server MUST reject with 400.
      fail('ERR_HTTP_INVALID_HEADER_NAME', 400, 'invalid field name');
    }
    const nameEnd = i;
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    const valueStart = i;
    let valueEnd = i;
    for (; i < end; i++) {
      const c = buf[i]!;
      if (FIELD_CHAR[c] !== 1) {
        if (c === CR) bareCr();
        fail('ERR_HTTP_INVALID_HEADER_VALUE', 400, 'invalid byte in field value');
      }
      if (c !== SP && c !== HTAB) valueEnd = i + 1;
    }
    const common = commonField(buf, start, nameEnd);
    let name: string;
    if (common === undefined) {
      name = buf.toString('latin1', start, nameEnd);
      this.lower.push(name.toLowerCase());
    } else {
      name = spells(buf, start, common.spelling) ? common.spelling : buf.toString('latin1', start, nameEnd);
      this.lower.push(common.lower);
    }
    this.raw.push(name, buf.toString('latin1', valueStart, valueEnd));
  }

  private headEnd(): void {
    const raw = this.raw;
    const lower = this.lower;
    const headers = combineFields(raw, lower);
    // Repeated Content-Length, Transfer-Encoding and Connection fields are comma lists, read as
    // one list below (RFC 9110 §5.3); Host fields are counted, since one value may hold a comma.
    const contentLength = headers['content-length'];
    const te = headers['transfer-encoding'];
    const connection = headers['connection'];
    let hosts = 0;
    for (const name of lower) if (name === 'host') hosts++;
    const minor = this.versionMinor;
    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with more than one, gets 400.
    if (minor === 1 && hosts !== 1) {
      fail('ERR_HTTP_INVALID_HOST', 400, hosts === 0 ? 'missing Host header' : 'more than one Host header');
    }
    let length: number | undefined;
    let chunked = false;
    if (te !== undefined) {
      // RFC 9112 §6.1: a message with both may be an attempt at request smuggling; we reject it.
      if (contentLength !== undefined) {
        fail('ERR_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING', 400, 'both Content-Length and Transfer-Encoding');
      }
      // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
      if (minor === 0) fail('ERR_HTTP_INVALID_TRANSFER_ENCODING', 400, 'Transfer-Encoding in an HTTP/1.0 request');
      const codings = te
        .split(',')
        .map((c) => c.split(';')[0]!.trim().toLowerCase())
        .filter((c) => c.length > 0);
      // RFC 9112 §6.3 rule 4: chunked must be the final coding (else 400); §6.1: applied at most once.
      if (codings.length === 0 || codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) {
        fail('ERR_HTTP_INVALID_TRANSFER_ENCODING', 400, 'chunked is not the final transfer coding');
      }
      // RFC 9112 §6.1: a transfer coding we do not understand gets 501.
      if (codings.length > 1) fail('ERR_HTTP_UNSUPPORTED_TRANSFER_ENCODING', 501, `unsupported transfer coding ${codings[0]}`);
      chunked = true;
    } else if (contentLength !== undefined) {
      length = parseContentLength(contentLength);
    }
    let keepAlive = minor === 1;
    if (connection !== undefined) {
      for (const opt of connection.split(',')) {
        const o = opt.trim().toLowerCase();
        if (o === 'close') {
          keepAlive = false;
          break;
        }
        if (o === 'keep-alive' && minor === 0) keepAlive = true;
      }
    }
    const expect = headers['expect'];
    const head: RequestHead = {
      method: this.method,
      url: this.url,
      versionMajor: 1,
      versionMinor: minor,
      httpVersion: minor === 1 ? '1.1' : '1.0',
      rawHeaders: raw,
      headers,
      contentLength: length,
      chunked,
      keepAlive,
      expectContinue: minor === 1 && expect !== undefined && expect.toLowerCase() === '100-continue',
    };
    if (chunked) {
      this.state = S_CHUNK_SIZE;
    } else if (length !== undefined && length > 0) {
      this.state = S_BODY;
      this.remaining = length;
    } else {
      // RFC 9112 §6.3 rule 7: a request with neither field has no content.
      this.state = S_START;
    }
    this.handlers.onHead(head);
    if (this.state === S_START) this.complete();
  }

  /** RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF; chunk-ext per §7.1.1. */
  private chunkSizeLine(buf: Buffer, start: number, end: number): void {
    let i = start;
    let size = 0;
    // chunk-size = 1*HEXDIG (RFC 9112 §7.1): any number of leading zeros is allowed, so only the
    // significant digits count against the limit: 12 of them (48 bits) stay exact in a JS number.
    // The line itself is bounded by maxChunkLineBytes.
    let significant = 0;
    for (; i < end; i++) {
      const d = hexValue(buf[i]!);
      if (d < 0) break;
      if (size === 0 && d === 0) continue;
      if (++significant > 12) fail('ERR_HTTP_INVALID_CHUNK', 400, 'chunk-size too large');
      size = size * 16 + d;
    }
    if (i === start) {
      if (i < end && buf[i] === CR) bareCr();
      fail('ERR_HTTP_INVALID_CHUNK', 400, 'chunk-size is not hexadecimal');
    }
    if (i < end) {
      // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ); we ignore
      // extensions (RFC 9112 §7.1.1 allows it) but insist on the ";" and on legal bytes.
      let j = i;
      while (j < end && (buf[j] === SP || buf[j] === HTAB)) j++;
      if (j >= end || buf[j] !== 0x3b) {
        if (j < end && buf[j] === CR) bareCr();
        fail('ERR_HTTP_INVALID_CHUNK', 400, 'junk after chunk-size');
      }
      for (; j < end; j++) {
        const c = buf[j]!;
        if (FIELD_CHAR[c] !== 1) {
          if (c === CR) bareCr();
          fail('ERR_HTTP_INVALID_CHUNK', 400, 'invalid byte in chunk extension');
        }
      }
    }
    if (size === 0) {
      // last-chunk, then the trailer section (RFC 9112 §7.1.2)
      this.startSection(S_TRAILER);
    } else {
      this.state = S_CHUNK_DATA;
      this.remaining = size;
    }
  }

  private trailersEnd(): void {
    this.state = S_START;
    const raw = this.raw;
    if (raw.length > 0) this.handlers.onComplete(combineFields(raw, this.lower), raw);
    else this.complete();
  }

  /** A message without trailers is complete. */
  private complete(): void {
    this.handlers.onComplete(undefined, undefined);
  }
}

/**
 * RFC 9110 §8.6: Content-Length = 1*DIGIT. A list of identical values (from repeated fields or a
 * comma list) may be taken as that one value; anything else is invalid (RFC 9112 §6.3 rule 5).
 */
function parseContentLength(value: string): number {
  let result: number | undefined;
  for (const part of value.split(',')) {
    const v = part.trim();
    if (v.length === 0 || v.length > 15) fail('ERR_HTTP_INVALID_CONTENT_LENGTH', 400, 'invalid Content-Length');
    for (let k = 0; k < v.length; k++) {
      const c = v.charCodeAt(k);
      if (c < 0x30 || c > 0x39) fail('ERR_HTTP_INVALID_CONTENT_LENGTH', 400, 'invalid Content-Length');
    }
    const n = Number(v);
    if (result !== undefined && n !== result) fail('ERR_HTTP_INVALID_CONTENT_LENGTH', 400, 'differing Content-Length values');
    result = n;
  }
  return result!;
}
