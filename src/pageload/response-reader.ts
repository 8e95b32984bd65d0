/**
 * A minimal, incremental HTTP/1.1 response reader for the pageload client: the status line, the
 * header fields, and a body framed by chunked transfer coding, Content-Length or the close of the
 * connection, in that order of precedence (RFC 9112 §6.3 rules 3-8: Transfer-Encoding overrides
 * Content-Length). It only reads what a page load needs to time; every size is bounded and a
 * malformed response is a ResponseError, never a crash or a hang.
 *
 * Feed it bytes with push(); it says when the head is complete and when the response is done. One
 * reader per response: bytes past the end of a response are handed back (`rest`) for the next one
 * (a persistent or pipelined connection carries several responses back to back).
 */
import { TunstackError } from '../util/errors.ts';

/** A response the client cannot read. `code` says which rule it broke. */
export class ResponseError extends TunstackError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ResponseError';
  }
}

/** Largest response head (status line and fields) the reader keeps. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Largest body the reader accepts (it counts bytes, it does not keep them). */
export const MAX_BODY_BYTES = 1024 * 1024 * 1024;
/** Largest chunk-size line, extensions included. */
const MAX_CHUNK_LINE = 1024;
const MAX_FIELDS = 100;

export interface ResponseHead {
  status: number;
  version: string;
  /** Field names lower-cased; a repeated field's values joined with ", " (RFC 9110 §5.3). */
  headers: Record<string, string>;
  /** Bytes of the head, CRLFs included. */
  headBytes: number;
}

type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };
type ChunkState = 'size' | 'data' | 'data-crlf' | 'trailer';

export interface PushResult {
  /** The response is complete. */
  done: boolean;
  /** Bytes after the end of this response (the next response's), when done. */
  rest?: Buffer;
}

export class ResponseReader {
  head: ResponseHead | undefined;
  /** Body bytes read so far (after transfer decoding). */
  bodyBytes = 0;
  /** All bytes of this response read so far, head included. */
  wireBytes = 0;
  done = false;
  private headBuf: Buffer = Buffer.alloc(0);
  private framing: Framing = { kind: 'none' };
  private chunkState: ChunkState = 'size';
  private chunkLeft = 0;
  private line = '';

  /** `forHead`: the request was HEAD, so the response has no body whatever its fields say (RFC 9110 §9.3.2). */
  constructor(private readonly forHead = false) {}

  push(chunk: Buffer): PushResult {
    if (this.done) return { done: true, rest: chunk };
    let data = chunk;
    if (this.head === undefined) {
      const joined = this.headBuf.length === 0 ? data : Buffer.concat([this.headBuf, data]);
      const end = joined.indexOf('\r\n\r\n');
      if (end < 0) {
        if (joined.length > MAX_HEAD_BYTES) throw new ResponseError('ERR_RESPONSE_HEAD_TOO_LARGE', `response head over ${MAX_HEAD_BYTES} bytes`);
        this.headBuf = joined;
        this.wireBytes += data.length;
        return { done: false };
      }
      if (end + 4 > MAX_HEAD_BYTES) throw new ResponseError('ERR_RESPONSE_HEAD_TOO_LARGE', `response head over ${MAX_HEAD_BYTES} bytes`);
      const consumedNow = end + 4 - this.headBuf.length;
      this.wireBytes += consumedNow;
      this.head = parseHead(joined.subarray(0, end).toString('latin1'), end + 4);
      this.headBuf = Buffer.alloc(0);
      this.framing = this.framingOf(this.head);
      data = joined.subarray(end + 4);
      if (this.framing.kind === 'none' || (this.framing.kind === 'length' && this.framing.left === 0)) return this.finish(data);
    }
    return this.body(data);
  }

  /** The connection closed. A close-delimited body ends here; any other unfinished response is an error. */
  end(): void {
    if (this.done) return;
    if (this.head !== undefined && this.framing.kind === 'close') {
      this.done = true;
      return;
    }
    throw new ResponseError('ERR_RESPONSE_TRUNCATED', this.head === undefined ? 'connection closed before a response head' : `connection closed after ${this.bodyBytes} body bytes of an unfinished response`);
  }

  private framingOf(h: ResponseHead): Framing {
    // RFC 9112 §6.3 rule 1: HEAD, 1xx, 204 and 304 responses end with the head.
    if (this.forHead || (h.status >= 100 && h.status < 200) || h.status === 204 || h.status === 304) return { kind: 'none' };
    const te = h.headers['transfer-encoding'];
    if (te !== undefined) {
      // Rule 4: chunked must be the final coding; anything else is read until close.
      const codings = te.toLowerCase().split(',').map((s) => s.trim());
      return codings[codings.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
    }
    const cl = h.headers['content-length'];
    if (cl !== undefined) {
      // Rules 5 and 6, with RFC 9110 §8.6: a list of identical values is one value; anything else is invalid framing.
      const values = new Set(cl.split(',').map((s) => s.trim()));
      const v = [...values][0]!;
      if (values.size !== 1 || !/^\d{1,16}$/.test(v)) throw new ResponseError('ERR_RESPONSE_BAD_LENGTH', `bad Content-Length ${JSON.stringify(cl)}`);
      const n = Number(v);
      if (n > MAX_BODY_BYTES) throw new ResponseError('ERR_RESPONSE_TOO_LARGE', `Content-Length ${n} over ${MAX_BODY_BYTES}`);
      return { kind: 'length', left: n };
    }
    return { kind: 'close' }; // rule 8
  }

  private body(data: Buffer): PushResult {
    const f = this.framing;
    if (f.kind === 'close') {
      this.count(data.length);
      return { done: false };
    }
    if (f.kind === 'length') {
      const take = Math.min(f.left, data.length);
      this.count(take);
      f.left -= take;
      return f.left === 0 ? this.finish(data.subarray(take)) : { done: false };
    }
    return this.chunked(data);
  }

  /** RFC 9112 §7.1: chunk-size [ext] CRLF data CRLF ... last-chunk trailer-section CRLF. */
  private chunked(data: Buffer): PushResult {
    let i = 0;
    while (i < data.length) {
      if (this.chunkState === 'data') {
        const take = Math.min(this.chunkLeft, data.length - i);
        this.count(take);
        this.chunkLeft -= take;
        i += take;
        if (this.chunkLeft === 0) this.chunkState = 'data-crlf';
        continue;
      }
      // A line: chunk size, the CRLF after data, or a trailer line.
      const nl = data.indexOf(0x0a, i);
      const piece = data.subarray(i, nl < 0 ? data.length : nl + 1).toString('latin1');
      this.wireBytes += piece.length;
      i += piece.length;
      this.line += piece;
      if (this.line.length > MAX_CHUNK_LINE) throw new ResponseError('ERR_RESPONSE_BAD_CHUNK', `chunk line over ${MAX_CHUNK_LINE} bytes`);
      if (nl < 0) break;
      const line = this.line.replace(/\r?\n$/, '');
      this.line = '';
      if (this.chunkState === 'data-crlf') {
        if (line !== '') throw new ResponseError('ERR_RESPONSE_BAD_CHUNK', 'chunk data not followed by CRLF');
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        const m = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/.exec(line);
        if (!m) throw new ResponseError('ERR_RESPONSE_BAD_CHUNK', `bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        const size = parseInt(m[1]!, 16);
        if (this.bodyBytes + size > MAX_BODY_BYTES) throw new ResponseError('ERR_RESPONSE_TOO_LARGE', `chunked body over ${MAX_BODY_BYTES}`);
        if (size === 0) this.chunkState = 'trailer';
        else {
          this.chunkLeft = size;
          this.chunkState = 'data';
        }
      } else if (line === '') {
        return this.finish(data.subarray(i));
      }
    }
    return { done: false };
  }

  private count(n: number): void {
    this.bodyBytes += n;
    this.wireBytes += n;
    if (this.bodyBytes > MAX_BODY_BYTES) throw new ResponseError('ERR_RESPONSE_TOO_LARGE', `body over ${MAX_BODY_BYTES}`);
  }

  private finish(rest: Buffer): PushResult {
    this.done = true;
    return rest.length > 0 ? { done: true, rest } : { done: true };
  }
}

/** RFC 9112 §4 status-line and §5 field lines. */
function parseHead(text: string, headBytes: number): ResponseHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!m) throw new ResponseError('ERR_RESPONSE_BAD_STATUS', `bad status line ${JSON.stringify(lines[0]!.slice(0, 60))}`);
  if (lines.length - 1 > MAX_FIELDS) throw new ResponseError('ERR_RESPONSE_HEAD_TOO_LARGE', `more than ${MAX_FIELDS} header fields`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // RFC 9112 §5.1: no whitespace between the field name and the colon.
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(line.slice(0, colon))) {
      throw new ResponseError('ERR_RESPONSE_BAD_FIELD', `bad header field ${JSON.stringify(line.slice(0, 60))}`);
    }
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(m[2]), version: m[1]!, headers, headBytes };
}
