/**
 * HTTP request streams for the fuzzer: 1..4 pipelined requests (GET, HEAD, bodies with Content-Length
 * or chunked, with extensions, leading zeros and trailers, Expect: 100-continue, HTTP/1.0, close or
 * keep-alive), then, for most streams, byte mutations of the whole stream (flips, CR/LF/NUL/obs-text
 * insertions, deletions, duplications, cuts). Not a test file itself.
 */
import type { Rng } from '../../src/util/random.ts';
import { pick } from './mutate.ts';

const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];
const PATHS = ['/', '/clean', '/echo', '/chunked', '/bytes/0', '/bytes/1', '/bytes/1448', '/bytes/5000', '/bytes/70000', '/nope', '*', '/%00', '/a?b=c#d'];

function chunkedBody(rng: Rng, body: string): string {
  let out = '';
  let i = 0;
  while (i < body.length) {
    const n = 1 + rng.int(Math.min(body.length - i, 40));
    const zeros = rng.chance(0.2) ? '0'.repeat(rng.int(20)) : '';
    const ext = rng.chance(0.2) ? ';x=y' : '';
    out += `${zeros}${n.toString(16)}${ext}\r\n${body.slice(i, i + n)}\r\n`;
    i += n;
  }
  out += '0\r\n';
  if (rng.chance(0.3)) out += 'X-Trailer: t\r\n';
  return out + '\r\n';
}

/** One valid request; `ends`: the connection is not persistent after it (RFC 9112 §9.3). */
export function validRequest(rng: Rng, last: boolean): { text: string; method: string; ends: boolean } {
  const method = pick(rng, METHODS);
  const version = rng.chance(0.9) ? 'HTTP/1.1' : 'HTTP/1.0';
  let head = `${method} ${pick(rng, PATHS)} ${version}\r\nHost: fuzz\r\n`;
  const extra = rng.int(4);
  for (let i = 0; i < extra; i++) head += pick(rng, ['Accept: */*\r\n', 'User-Agent: fuzz/1\r\n', 'X-A: b\r\nX-A: c\r\n', 'Cookie: a=1\r\n', `X-Long: ${'v'.repeat(rng.int(300))}\r\n`]);
  let ends = version === 'HTTP/1.0';
  if (last && rng.chance(0.3)) {
    head += 'Connection: close\r\n';
    ends = true;
  } else if (version === 'HTTP/1.0' && rng.chance(0.5)) {
    head += 'Connection: keep-alive\r\n';
    ends = false;
  }
  let body = '';
  if (method === 'POST' || method === 'PUT' || method === 'PATCH' || rng.chance(0.05)) {
    const text = 'b'.repeat(rng.int(rng.chance(0.9) ? 100 : 3000));
    if (rng.chance(0.15)) head += 'Expect: 100-continue\r\n';
    if (rng.chance(0.4) && version === 'HTTP/1.1') {
      head += 'Transfer-Encoding: chunked\r\n';
      body = chunkedBody(rng, text);
    } else {
      head += `Content-Length: ${text.length}\r\n`;
      body = text;
    }
  }
  return { text: `${head}\r\n${body}`, method, ends };
}

const INSERTS = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x3b, 0x30, 0x66, 0x80, 0xff, 0x7f, 0x2c, 0x22];

/** Byte mutations of a stream (kept under 64 KiB). */
export function mutateStream(rng: Rng, s: Uint8Array): Uint8Array {
  let b = Array.from(s);
  const n = 1 + rng.int(4);
  for (let k = 0; k < n; k++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(7)) {
      case 0:
        if (at < b.length) b[at]! ^= 1 << rng.int(8);
        break;
      case 1:
        b.splice(at, 0, pick(rng, INSERTS));
        break;
      case 2:
        b.splice(at, 1 + rng.int(8));
        break;
      case 3: {
        const len = 1 + rng.int(64);
        b.splice(at, 0, ...b.slice(at, at + len));
        break;
      }
      case 4:
        b = b.slice(0, at);
        break;
      case 5:
        if (at < b.length) b[at] = rng.int(256);
        break;
      case 6: {
        // A big number where a small one was: lengths, chunk sizes.
        const digits = rng.chance(0.5) ? '99999999999999999999' : 'ffffffffffff';
        b.splice(at, 0, ...Array.from(Buffer.from(digits)));
        break;
      }
    }
  }
  return Uint8Array.from(b.slice(0, 65536));
}

export interface RequestStream {
  bytes: Uint8Array;
  requests: number;
  mutated: boolean;
  /** The methods of the requests the server answers when the stream arrives intact (not mutated). */
  answered: string[];
}

/** A stream of 1..4 pipelined requests; `mutated` tells whether bytes were mutated. */
export function requestStream(rng: Rng): RequestStream {
  const requests = 1 + rng.int(4);
  let text = '';
  const answered: string[] = [];
  let open = true;
  for (let i = 0; i < requests; i++) {
    const r = validRequest(rng, i === requests - 1);
    text += r.text;
    if (open) answered.push(r.method);
    if (r.ends) open = false;
  }
  let bytes: Uint8Array = Uint8Array.from(Buffer.from(text, 'latin1'));
  const mutated = rng.chance(0.6);
  if (mutated) bytes = mutateStream(rng, bytes);
  return { bytes, requests, mutated, answered };
}
