/**
 * Test helpers for the HTTP tests: a raw TCP client that reads until EOF, and a response-stream
 * parser (Content-Length, chunked, bodiless, close-delimited) to check what came back byte by byte.
 */
import * as net from 'node:net';
import { createHttpServer, type HttpServer, type HttpServerOptions, type RequestHandler } from '../../src/http/server.ts';

export interface Running {
  server: HttpServer;
  port: number;
  close(): Promise<void>;
}

export async function startServer(handler: RequestHandler, options: HttpServerOptions = {}): Promise<Running> {
  const server = createHttpServer(net, options, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Exchange {
  data: Buffer;
  /** The server closed with FIN (clean), not RST. */
  cleanEof: boolean;
}

/** Connect, send `pieces` (one write each, `gapMs` apart), read until EOF or `timeoutMs`. */
export function exchange(port: number, pieces: (string | Buffer)[], opts: { gapMs?: number; timeoutMs?: number; end?: boolean } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let errored: Error | undefined;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no EOF within ${opts.timeoutMs ?? 10000} ms; got ${Buffer.concat(chunks).length} bytes`));
    }, opts.timeoutMs ?? 10000);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (e) => (errored = e));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), cleanEof: errored === undefined });
    });
    sock.on('end', () => sock.end());
    sock.on('connect', async () => {
      for (const p of pieces) {
        if (sock.destroyed) return;
        sock.write(p);
        if (opts.gapMs !== undefined) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.end) sock.end();
    });
  });
}

export interface ParsedResponse {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Split a byte stream into responses. `methods` gives the request method for each response in
 * order (HEAD responses have no body). The last response may be close-delimited.
 */
export function parseResponses(buf: Buffer, methods: string[] = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end < 0) throw new Error(`incomplete head at ${pos}: ${JSON.stringify(buf.subarray(pos, pos + 80).toString('latin1'))}`);
    const head = buf.toString('latin1', pos, end);
    const lines = head.split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    pos = end + 4;
    const method = methods[out.length] ?? 'GET';
    let body: Buffer;
    if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf('\r\n', pos);
        const size = parseInt(buf.toString('latin1', pos, le), 16);
        pos = le + 2;
        if (size === 0) {
          pos = buf.indexOf('\r\n', pos) + 2; // no trailers from our server
          break;
        }
        parts.push(buf.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = buf.subarray(pos, pos + n);
      if (body.length !== n) throw new Error(`short body: ${body.length} of ${n}`);
      pos += n;
    } else {
      body = buf.subarray(pos);
      pos = buf.length;
    }
    if (status >= 100 && status < 200) continue; // interim
    out.push({ status, head, headers, body });
  }
  return out;
}
