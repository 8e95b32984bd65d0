/**
 * Static files under a root directory, for `tunstack serve --root DIR`.
 *
 * Safety first: the URL path is percent-decoded once, and any NUL, backslash or ".." segment is
 * refused (403) before the file system is touched; the resolved real path (symlinks followed) must
 * still lie inside the real root, else 403. Directories serve their index.html. Files are streamed
 * (pipe() does the backpressure), HEAD gets the headers only.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { IncomingRequest } from '../http/incoming-request.ts';
import type { ServerResponse } from '../http/server-response.ts';

const CONTENT_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.pdf': 'application/pdf',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.mp4': 'video/mp4',
  '.pcap': 'application/vnd.tcpdump.pcap',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
});

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type StaticResult = 'served' | 'not-found';

function sendStatus(res: ServerResponse, status: number, text: string, extra?: Record<string, string>): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  if (extra) for (const k of Object.keys(extra)) res.setHeader(k, extra[k]!);
  res.end(`${text}\n`);
}

/**
 * Map a URL path to a file below `root`, or say why not: 'forbidden' for traversal attempts,
 * 'bad' for malformed percent-encoding. Pure: no file system access.
 */
export function resolveUrlPath(root: string, urlPath: string): string | 'forbidden' | 'bad' {
  return targetUnder(path.resolve(root), urlPath);
}

/** resolveUrlPath with `base` already absolute (path.resolve'd): the join and the check use the same root. */
function targetUnder(base: string, urlPath: string): string | 'forbidden' | 'bad' {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return 'bad';
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return 'forbidden';
  const segments = decoded.split('/');
  for (const s of segments) if (s === '..') return 'forbidden';
  const rel = path.posix.normalize(`/${decoded}`);
  const full = path.join(base, rel);
  if (full !== base && !full.startsWith(base + path.sep)) return 'forbidden';
  return full;
}

/** Whether `p` is `root` or lies below it. */
function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

export type StaticHandler = (
  req: IncomingRequest,
  res: ServerResponse,
  urlPath: string,
  passThroughNotFound?: boolean,
) => Promise<StaticResult>;

/**
 * A server for the files below `root` (relative to the current directory if not absolute, resolved
 * here, once). The handler answers 400/403/404/301/200 itself; it returns 'not-found' without
 * answering when `passThroughNotFound` is set and nothing matched (so the caller can fall back).
 */
export function staticFiles(root: string): StaticHandler {
  const base = path.resolve(root);
  // The root's real path, looked up once (the promise is shared by concurrent pipelined requests);
  // forgotten on failure so that a root created later is found.
  let realRootLookup: Promise<string> | undefined;
  const realRoot = (): Promise<string> =>
    (realRootLookup ??= fsp.realpath(base).catch((err: unknown) => {
      realRootLookup = undefined;
      throw err;
    }));
  return (req, res, urlPath, passThroughNotFound = false) => serveFrom(base, realRoot, req, res, urlPath, passThroughNotFound);
}

async function serveFrom(
  base: string,
  realRootOf: () => Promise<string>,
  req: IncomingRequest,
  res: ServerResponse,
  urlPath: string,
  passThroughNotFound: boolean,
): Promise<StaticResult> {
  const target = targetUnder(base, urlPath);
  if (target === 'bad') {
    sendStatus(res, 400, 'Bad Request');
    return 'served';
  }
  if (target === 'forbidden') {
    sendStatus(res, 403, 'Forbidden');
    return 'served';
  }
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realRootOf();
    real = await fsp.realpath(target);
  } catch {
    if (passThroughNotFound) return 'not-found';
    sendStatus(res, 404, 'Not Found');
    return 'served';
  }
  // A symlink may point anywhere: judge the real path, not the name.
  if (!inside(realRoot, real)) {
    sendStatus(res, 403, 'Forbidden');
    return 'served';
  }
  let st = await fsp.stat(real);
  if (st.isDirectory()) {
    if (!urlPath.endsWith('/')) {
      // Relative links inside an index.html need the trailing slash (RFC 9110 §15.4.2).
      sendStatus(res, 301, 'Moved Permanently', { Location: `${urlPath}/` });
      return 'served';
    }
    const index = path.join(real, 'index.html');
    try {
      const realIndex = await fsp.realpath(index);
      if (!inside(realRoot, realIndex)) {
        sendStatus(res, 403, 'Forbidden');
        return 'served';
      }
      real = realIndex;
      st = await fsp.stat(real);
    } catch {
      if (passThroughNotFound) return 'not-found';
      sendStatus(res, 404, 'Not Found');
      return 'served';
    }
  }
  if (!st.isFile()) {
    sendStatus(res, 403, 'Forbidden');
    return 'served';
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', contentTypeFor(real));
  res.setHeader('Content-Length', st.size);
  res.setHeader('Last-Modified', st.mtime.toUTCString());
  if (req.method === 'HEAD') {
    res.end();
    return 'served';
  }
  const stream = createReadStream(real);
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
  return 'served';
}
