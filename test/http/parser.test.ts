import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpParseError, HttpRequestParser, type RequestHead } from '../../src/http/parser.ts';

interface Parsed {
  heads: RequestHead[];
  bodies: string[];
  trailers: (Record<string, string> | undefined)[];
  completed: number;
  error?: { code: string; status: number };
}

/** Feed `input` split into the given pieces; collect events (bodies joined per message). */
function run(pieces: Buffer[]): Parsed {
  const out: Parsed = { heads: [], bodies: [], trailers: [], completed: 0 };
  const parser = new HttpRequestParser({
    onHead: (h) => {
      out.heads.push(h);
      out.bodies.push('');
    },
    onBody: (c) => {
      out.bodies[out.bodies.length - 1] += c.toString('latin1');
    },
    onComplete: (t) => {
      out.trailers.push(t ? { ...t } : undefined);
      out.completed++;
    },
  });
  try {
    for (const p of pieces) expect(parser.execute(p)).toBe(p.length);
  } catch (e) {
    if (!(e instanceof HttpParseError)) throw e;
    out.error = { code: e.code, status: e.status };
  }
  return out;
}

function normalize(p: Parsed): unknown {
  return {
    heads: p.heads.map((h) => ({ ...h, headers: { ...h.headers } })),
    bodies: p.bodies,
    trailers: p.trailers,
    completed: p.completed,
    error: p.error,
  };
}

/** Whole, every two-way split, and one byte at a time must all agree. */
function parseAllWays(text: string): Parsed {
  const buf = Buffer.from(text, 'latin1');
  const whole = run([buf]);
  const ref = normalize(whole);
  for (let i = 1; i < buf.length; i++) {
    expect(normalize(run([buf.subarray(0, i), buf.subarray(i)])), `split at ${i}`).toEqual(ref);
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) bytes.push(buf.subarray(i, i + 1));
  expect(normalize(run(bytes)), 'byte at a time').toEqual(ref);
  return whole;
}

describe('HttpRequestParser: valid requests', () => {
  it('parses a simple GET with headers lowercased and raw kept', () => {
    const p = parseAllWays('GET /a?b=1 HTTP/1.1\r\nHost: example\r\nX-Thing:  v1 \r\nx-thing: v2\r\n\r\n');
    expect(p.error).toBeUndefined();
    expect(p.completed).toBe(1);
    const h = p.heads[0]!;
    expect(h.method).toBe('GET');
    expect(h.url).toBe('/a?b=1');
    expect(h.httpVersion).toBe('1.1');
    expect(h.rawHeaders).toEqual(['Host', 'example', 'X-Thing', 'v1', 'x-thing', 'v2']);
    expect({ ...h.headers }).toEqual({ host: 'example', 'x-thing': 'v1, v2' });
    expect(h.keepAlive).toBe(true);
    expect(h.contentLength).toBeUndefined();
    expect(h.chunked).toBe(false);
  });

  it('common field names in any case: lowercased keys, the spelling received kept raw', () => {
    const p = parseAllWays(
      'POST / HTTP/1.1\r\nhOsT: h\r\nCONTENT-LENGTH: 2\r\nConnection: close\r\nUser-Agent: u\r\n' +
        'Hosts: not-host\r\nCookie: a=1\r\ncookie: b=2\r\n\r\nok',
    );
    expect(p.error).toBeUndefined();
    const h = p.heads[0]!;
    expect(h.rawHeaders).toEqual(['hOsT', 'h', 'CONTENT-LENGTH', '2', 'Connection', 'close', 'User-Agent', 'u', 'Hosts', 'not-host', 'Cookie', 'a=1', 'cookie', 'b=2']);
    expect({ ...h.headers }).toEqual({ host: 'h', 'content-length': '2', connection: 'close', 'user-agent': 'u', hosts: 'not-host', cookie: 'a=1; b=2' });
    expect(h.contentLength).toBe(2);
    expect(h.keepAlive).toBe(false);
    expect(p.bodies).toEqual(['ok']);
  });

  it('field names that are Object properties are plain keys: nothing inherited, nothing overwritten', () => {
    const p = parseAllWays('GET / HTTP/1.1\r\nHost: h\r\n__proto__: p\r\nconstructor: c\r\n\r\n');
    expect(p.error).toBeUndefined();
    const h = p.heads[0]!.headers;
    expect(Object.keys(h)).toEqual(['host', '__proto__', 'constructor']);
    expect(h['__proto__']).toBe('p');
    expect(h['constructor']).toBe('c');
    expect(h['toString']).toBeUndefined();
    expect(h['hasOwnProperty']).toBeUndefined();
  });

  it('ignores leading empty lines (RFC 9112 §2.2) and accepts bare LF line ends', () => {
    const p = parseAllWays('\r\n\r\nGET / HTTP/1.1\nHost: h\n\n');
    expect(p.error).toBeUndefined();
    expect(p.heads[0]!.url).toBe('/');
  });

  it('still accepts bare LF on the start line, header and trailer field lines around a CRLF-framed chunked body', () => {
    const p = parseAllWays('POST /c HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n0\r\nX-T: 1\n\n');
    expect(p.error).toBeUndefined();
    expect(p.bodies).toEqual(['abc']);
    expect(p.trailers).toEqual([{ 'x-t': '1' }]);
  });

  it('reads a Content-Length body and the pipelined request after it', () => {
    const p = parseAllWays(
      'POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world' + 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n',
    );
    expect(p.error).toBeUndefined();
    expect(p.heads.map((h) => h.url)).toEqual(['/x', '/next']);
    expect(p.bodies).toEqual(['hello world', '']);
    expect(p.heads[0]!.contentLength).toBe(11);
    expect(p.completed).toBe(2);
  });

  it('decodes chunked bodies with extensions and trailers (RFC 9112 §7.1)', () => {
    const p = parseAllWays(
      'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value\r\nhello\r\nA ; q="x y"\r\n0123456789\r\n0\r\nChecksum: abc\r\nX-T: 1\r\n\r\n' +
        'GET /after HTTP/1.1\r\nHost: h\r\n\r\n',
    );
    expect(p.error).toBeUndefined();
    expect(p.heads[0]!.chunked).toBe(true);
    expect(p.bodies).toEqual(['hello0123456789', '']);
    expect(p.trailers).toEqual([{ checksum: 'abc', 'x-t': '1' }, undefined]);
    expect(p.heads[1]!.url).toBe('/after');
  });

  it('accepts chunk sizes with leading zeros (RFC 9112 §7.1: chunk-size = 1*HEXDIG)', () => {
    // 20 hex digits whose value is 5, then a last-chunk written with 22 zeros.
    const p = parseAllWays(
      'POST /z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '00000000000000000005\r\nhello\r\n000000000000000000000a;e=1\r\n0123456789\r\n0000000000000000000000\r\n\r\n',
    );
    expect(p.error).toBeUndefined();
    expect(p.bodies).toEqual(['hello0123456789']);
    expect(p.completed).toBe(1);
  });

  it('counts only significant chunk-size digits: 12 (48 bits) pass behind any zeros, 13 are too large', () => {
    const head = 'POST /z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';
    // 0xffffffffffff = 281474976710655 bytes announced: accepted, the body starts, nothing completes.
    const ok = run([Buffer.from(`${head}${'0'.repeat(30)}ffffffffffff\r\nab`)]);
    expect(ok.error).toBeUndefined();
    expect(ok.bodies).toEqual(['ab']);
    expect(ok.completed).toBe(0);
    const big = run([Buffer.from(`${head}${'0'.repeat(30)}1000000000000\r\n`)]);
    expect(big.error).toEqual({ code: 'ERR_HTTP_INVALID_CHUNK', status: 400 });
    const bigNoZeros = run([Buffer.from(`${head}1000000000000\r\n`)]);
    expect(bigNoZeros.error).toEqual({ code: 'ERR_HTTP_INVALID_CHUNK', status: 400 });
  });

  it('combines trailer fields by the header rules, and hands raw trailers over only when there are some', () => {
    const completions: [Record<string, string> | undefined, string[] | undefined][] = [];
    const parser = new HttpRequestParser({
      onHead: () => {},
      onBody: () => {},
      onComplete: (t, raw) => completions.push([t ? { ...t } : undefined, raw]),
    });
    const text =
      'POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nCookie: a=1\r\nX-T: 1\r\ncookie: b=2\r\nx-t: 2\r\n\r\n' +
      'POST /n HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
      'POST /l HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz' +
      'GET /g HTTP/1.1\r\nHost: h\r\n\r\n';
    expect(parser.execute(Buffer.from(text))).toBe(text.length);
    expect(completions).toEqual([
      // RFC 9110 §5.3: repeated fields joined with ", "; Cookie with "; " (RFC 6265 §5.4), as in the header section.
      [{ cookie: 'a=1; b=2', 'x-t': '1, 2' }, ['Cookie', 'a=1', 'X-T', '1', 'cookie', 'b=2', 'x-t', '2']],
      [undefined, undefined],
      [undefined, undefined],
      [undefined, undefined],
    ]);
  });

  it('accepts identical repeated Content-Length values (RFC 9110 §8.6)', () => {
    const p = parseAllWays('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc');
    expect(p.error).toBeUndefined();
    expect(p.bodies).toEqual(['abc']);
  });

  it('derives persistence: 1.0 default close, keep-alive opt-in; 1.1 close opt-out', () => {
    expect(parseAllWays('GET / HTTP/1.0\r\n\r\n').heads[0]!.keepAlive).toBe(false);
    expect(parseAllWays('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').heads[0]!.keepAlive).toBe(true);
    expect(parseAllWays('GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n').heads[0]!.keepAlive).toBe(false);
  });

  it('pauses after a message and resumes where it stopped', () => {
    const seen: string[] = [];
    const parser: HttpRequestParser = new HttpRequestParser({
      onHead: (h) => seen.push(h.url),
      onBody: () => {},
      onComplete: () => parser.pause(),
    });
    const buf = Buffer.from('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
    const used = parser.execute(buf);
    expect(used).toBe(buf.indexOf('GET /2'));
    expect(seen).toEqual(['/1']);
    parser.resume();
    expect(parser.execute(buf.subarray(used))).toBe(buf.length - used);
    expect(seen).toEqual(['/1', '/2']);
  });
});

describe('HttpRequestParser: rejections with their status', () => {
  const cases: [string, string, string, number][] = [
    ['both Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'ERR_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING', 400],
    ['invalid Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n', 'ERR_HTTP_INVALID_CONTENT_LENGTH', 400],
    ['negative Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n', 'ERR_HTTP_INVALID_CONTENT_LENGTH', 400],
    ['differing Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 'ERR_HTTP_INVALID_CONTENT_LENGTH', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n', 'ERR_HTTP_OBS_FOLD', 400],
    ['bare CR in a field value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', 'ERR_HTTP_BARE_CR', 400],
    ['bare CR in the request line', 'GET /\r HTTP/1.1\r\nHost: h\r\n\r\n', 'ERR_HTTP_BARE_CR', 400],
    ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 'ERR_HTTP_INVALID_HEADER_NAME', 400],
    ['gzip after chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'ERR_HTTP_INVALID_TRANSFER_ENCODING', 400],
    ['gzip, chunked (not implemented)', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 'ERR_HTTP_UNSUPPORTED_TRANSFER_ENCODING', 501],
    ['chunked twice', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'ERR_HTTP_INVALID_TRANSFER_ENCODING', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 'ERR_HTTP_VERSION', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n', 'ERR_HTTP_VERSION', 505],
    ['lowercase http', 'GET / http/1.1\r\n\r\n', 'ERR_HTTP_INVALID_REQUEST_LINE', 400],
    ['bad method token', 'G(T / HTTP/1.1\r\nHost: h\r\n\r\n', 'ERR_HTTP_INVALID_METHOD', 400],
    ['missing Host in 1.1', 'GET / HTTP/1.1\r\n\r\n', 'ERR_HTTP_INVALID_HOST', 400],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'ERR_HTTP_INVALID_HOST', 400],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'ERR_HTTP_INVALID_CHUNK', 400],
    ['chunk data overrun', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', 'ERR_HTTP_INVALID_CHUNK', 400],
    ['control byte in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n', 'ERR_HTTP_INVALID_HEADER_VALUE', 400],
    // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; the §2.2 bare-LF leniency is for start and field lines only.
    ['bare LF after chunk-size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n', 'ERR_HTTP_BARE_LF', 400],
    ['bare LF after chunk-ext', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\nhello\r\n0\r\n\r\n', 'ERR_HTTP_BARE_LF', 400],
    ['bare LF after chunk-data', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n', 'ERR_HTTP_BARE_LF', 400],
    ['bare LF after last-chunk', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n\r\n', 'ERR_HTTP_BARE_LF', 400],
  ];
  for (const [name, text, code, status] of cases) {
    it(`${name} -> ${status} ${code}`, () => {
      const p = parseAllWays(text);
      expect(p.error).toEqual({ code, status });
    });
  }

  it('request line over 8 KiB -> 414', () => {
    const p = run([Buffer.from(`GET /${'a'.repeat(8200)} HTTP/1.1\r\nHost: h\r\n\r\n`)]);
    expect(p.error).toEqual({ code: 'ERR_HTTP_URI_TOO_LONG', status: 414 });
    // Detected before the line ends: the parser never buffers more than the limit.
    const q = run([Buffer.from(`GET /${'a'.repeat(9000)}`)]);
    expect(q.error).toEqual({ code: 'ERR_HTTP_URI_TOO_LONG', status: 414 });
  });

  it('a request line of exactly 8192 bytes is accepted', () => {
    const target = `/${'a'.repeat(8192 - 'GET  HTTP/1.1'.length - 1)}`;
    const line = `GET ${target} HTTP/1.1`;
    expect(line.length).toBe(8192);
    const p = run([Buffer.from(`${line}\r\nHost: h\r\n\r\n`)]);
    expect(p.error).toBeUndefined();
    expect(p.heads[0]!.url).toBe(target);
  });

  it('header section over 16 KiB -> 431, also when it never ends', () => {
    const big = `GET / HTTP/1.1\r\nHost: h\r\nX: ${'v'.repeat(17000)}\r\n\r\n`;
    expect(run([Buffer.from(big)]).error).toEqual({ code: 'ERR_HTTP_HEADER_TOO_LARGE', status: 431 });
    expect(run([Buffer.from(big.slice(0, 17000))]).error).toEqual({ code: 'ERR_HTTP_HEADER_TOO_LARGE', status: 431 });
  });

  it('more than 100 fields -> 431', () => {
    let t = 'GET / HTTP/1.1\r\nHost: h\r\n';
    for (let i = 0; i < 100; i++) t += `X-${i}: v\r\n`;
    expect(run([Buffer.from(`${t}\r\n`)]).error).toEqual({ code: 'ERR_HTTP_HEADER_TOO_LARGE', status: 431 });
  });

  it('keeps failing with the same error after the first one', () => {
    const parser = new HttpRequestParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} });
    expect(() => parser.execute(Buffer.from('GET / HTTP/3.0\r\n'))).toThrow(HttpParseError);
    expect(() => parser.execute(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(/HTTP\/3.0/);
    expect(parser.error?.status).toBe(505);
  });
});

describe('HttpRequestParser: properties', () => {
  it('arbitrary bytes either parse or fail with an HttpParseError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 50 }), (bytes, step) => {
        const parser = new HttpRequestParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} });
        const buf = Buffer.from(bytes);
        try {
          for (let i = 0; i < buf.length; i += step) parser.execute(buf.subarray(i, i + step));
        } catch (e) {
          expect(e).toBeInstanceOf(HttpParseError);
          expect([400, 414, 431, 501, 505]).toContain((e as HttpParseError).status);
        }
      }),
      { seed: 1234, numRuns: 500 },
    );
  });

  it('any chunking of a valid pipeline gives the same messages', () => {
    const text =
      'POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody' +
      'PUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nxyz\r\n0\r\nT: v\r\n\r\n' +
      'GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n';
    const buf = Buffer.from(text);
    const ref = normalize(run([buf]));
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: buf.length - 1 }), { maxLength: 30 }), (cuts) => {
        const sorted = [...cuts].sort((x, y) => x - y);
        const pieces: Buffer[] = [];
        let prev = 0;
        for (const c of sorted) {
          pieces.push(buf.subarray(prev, c));
          prev = c;
        }
        pieces.push(buf.subarray(prev));
        expect(normalize(run(pieces))).toEqual(ref);
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
