/**
 * Issue 4 against real Linux clients, through the TUN device inside a fresh namespace:
 * - curl GET and HEAD: exact status, headers and body bytes (HEAD: none);
 * - persistence (RFC 9112 §9.3): curl with 5 URLs uses one connection (one SYN in the capture,
 *   /conn's request number 1..5 on the same client port); HTTP/1.0 closes unless it asks for
 *   keep-alive, and then `Keep-Alive: timeout=5, max=N` counts down; `Connection: close` closes;
 *   an idle connection is closed with a FIN (never a RST) after --idle-timeout;
 * - load: ab with and without keep-alive, zero failed requests;
 * - a 100 MB download, byte-exact (sha256 computed here from the /bytes pattern).
 * Raw requests go through test/e2e/fixtures/http-client.py (a kernel socket that sends exactly
 * the bytes it is given and reports every byte that came back).
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { rawHttp, responsesOf, siteBytes, type RawResponse } from './helpers/http.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';

const BASE = 'http://10.77.0.2';

// ---- the /bytes pattern (byte i = i % 251) --------------------------------------------------------

/** sha256 of /bytes/N without holding N bytes: a block of whole periods, then a tail. */
function patternSha256(n: number): string {
  const block = siteBytes(251 * 1024);
  const h = createHash('sha256');
  let left = n;
  while (left >= block.length) {
    h.update(block);
    left -= block.length;
  }
  h.update(block.subarray(0, left));
  return h.digest('hex');
}

function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** Parse a `curl -D -` header dump: status and lower-cased fields of the last response. */
function parseCurlHead(text: string): { status: number; headers: Map<string, string>; raw: string } {
  const blocks = text.split('\r\n\r\n').filter((b) => b.startsWith('HTTP/'));
  const raw = blocks[blocks.length - 1] ?? '';
  const lines = raw.split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { status: Number(lines[0]?.split(' ')[1]), headers, raw };
}

function statsOf(lines: string[]): { tcp: Record<string, number>; device: Record<string, number> } {
  const line = lines.find((l) => l.startsWith('tunstack: stats '));
  if (!line) throw new Error(`no stats line in:\n${lines.join('\n')}`);
  return JSON.parse(line.slice('tunstack: stats '.length)) as { tcp: Record<string, number>; device: Record<string, number> };
}

/** The value of an ab summary field (`Complete requests:      5000`). */
function abField(out: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(out);
  if (!m) throw new Error(`no "${name}" in ab output:\n${out}`);
  return Number(m[1]);
}

interface ConnJson {
  client: { address: string; port: number };
  requestOnConnection: number;
  httpVersion: string;
}

const INDEX_HTML = '<!doctype html>\n<title>tunstack e2e</title>\n<p>Served from --root by a userspace TCP/IP stack.</p>\n';

describeTun('e2e: HTTP/1.1 over the TUN device', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tunstack-http-'));
    writeFileSync(join(dir, 'index.html'), INDEX_HTML);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('curl, HTTP/1.0 and 1.1 persistence, ab, 100 MB (serve --root)', () => {
    let ns: Netns;
    let stack: ServeHandle;

    beforeAll(async () => {
      ns = await createNetns('tsk-http');
      stack = await startServe(ns, ['--root', dir]);
    });
    afterAll(async () => ns?.destroy());

    it('GET / : 200 with Content-Length, Content-Type, Date, Server and the exact file bytes', async () => {
      const body = join(dir, 'get-body');
      const r = await ns.exec('curl', ['-sS', '-m', '10', '-D', '-', '-o', body, `${BASE}/`]);
      expect(r.code).toBe(0);
      const { status, headers } = parseCurlHead(r.stdout);
      expect(status).toBe(200);
      expect(r.stdout.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
      expect(headers.get('content-length')).toBe(String(Buffer.byteLength(INDEX_HTML)));
      expect(headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(headers.get('server')).toBe('tunstack');
      expect(headers.get('connection')).toBe('keep-alive');
      expect(headers.get('keep-alive')).toBe('timeout=5, max=99');
      // RFC 9110 §5.6.7 IMF-fixdate, and from this machine's clock.
      const date = headers.get('date') ?? '';
      expect(date).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/);
      expect(Math.abs(Date.parse(date) - Date.now())).toBeLessThan(5 * 60_000);
      expect(readFileSync(body, 'utf8')).toBe(INDEX_HTML);
    });

    it('GET /bytes/1000 : the 1000 pattern bytes, Content-Length 1000', async () => {
      const body = join(dir, 'bytes-body');
      const r = await ns.exec('curl', ['-sS', '-m', '10', '-D', '-', '-o', body, `${BASE}/bytes/1000`]);
      expect(r.code).toBe(0);
      const { status, headers } = parseCurlHead(r.stdout);
      expect(status).toBe(200);
      expect(headers.get('content-length')).toBe('1000');
      expect(headers.get('content-type')).toBe('application/octet-stream');
      expect(readFileSync(body).equals(siteBytes(1000))).toBe(true);
    });

    it('HEAD /bytes/1000 : the same headers as GET and no body bytes', async () => {
      const { results } = await rawHttp(ns, [
        { send: 'GET /bytes/1000 HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n' },
        { read: 1 },
        { send: 'HEAD /bytes/1000 HTTP/1.1\r\nHost: 10.77.0.2\r\nConnection: close\r\n\r\n' },
        { read: 1, head_only: true },
        // A body sent by mistake would arrive here as data instead of the close.
        { eof: 5 },
      ]);
      const [get] = responsesOf(results, 1, 1);
      const [head] = responsesOf(results, 3, 1);
      expect(get!.body.equals(siteBytes(1000))).toBe(true);
      expect(head!.status).toBe(200);
      expect(head!.headers.get('content-length')).toBe('1000');
      // RFC 9110 §9.3.2: the fields GET would send (only the connection management differs here).
      const fields = (r: RawResponse): string[] => [...r.headers.keys()].filter((k) => k !== 'connection' && k !== 'keep-alive');
      expect(fields(head!)).toEqual(fields(get!));
      for (const k of ['content-length', 'content-type', 'server']) expect(head!.headers.get(k)).toBe(get!.headers.get(k));
      expect(head!.headers.get('connection')).toBe('close');
      expect(results[4]!.eof).toBe('fin');
      // and curl agrees: -I prints the head, downloads nothing.
      const c = await ns.exec('curl', ['-sS', '-m', '10', '-I', '-w', 'size_download=%{size_download}\n', `${BASE}/bytes/1000`]);
      expect(c.code).toBe(0);
      expect(parseCurlHead(c.stdout).headers.get('content-length')).toBe('1000');
      expect(c.stdout).toMatch(/size_download=0\n$/);
    });

    it('HTTP/1.0 without keep-alive: one response with Connection: close, then the server FINs', async () => {
      const { port, results } = await rawHttp(ns, [{ send: 'GET /conn HTTP/1.0\r\nHost: 10.77.0.2\r\n\r\n' }, { read: 1 }, { eof: 5 }]);
      const [res] = responsesOf(results, 1, 1);
      expect(res!.status).toBe(200);
      expect(res!.headers.get('connection')).toBe('close');
      expect(res!.headers.has('keep-alive')).toBe(false);
      const conn = JSON.parse(res!.body.toString('utf8')) as ConnJson;
      expect(conn.httpVersion).toBe('1.0');
      expect(conn.requestOnConnection).toBe(1);
      expect(conn.client).toEqual({ address: '10.77.0.1', port });
      expect(results[2]!.eof).toBe('fin');
    });

    it('HTTP/1.0 with Connection: keep-alive: Keep-Alive max counts down on one connection', async () => {
      const ka = 'GET /conn HTTP/1.0\r\nHost: 10.77.0.2\r\nConnection: keep-alive\r\n\r\n';
      const { port, results } = await rawHttp(ns, [
        { send: ka },
        { read: 1 },
        { send: ka },
        { read: 1 },
        { send: ka },
        { read: 1 },
        // the fourth does not ask for keep-alive: answered, then closed.
        { send: 'GET /conn HTTP/1.0\r\nHost: 10.77.0.2\r\n\r\n' },
        { read: 1 },
        { eof: 5 },
      ]);
      const rs = [1, 3, 5, 7].map((i) => responsesOf(results, i, 1)[0]!);
      for (const [k, res] of rs.slice(0, 3).entries()) {
        expect(res.status).toBe(200);
        expect(res.headers.get('connection')).toBe('keep-alive');
        expect(res.headers.get('keep-alive')).toBe(`timeout=5, max=${99 - k}`);
      }
      expect(rs[3]!.headers.get('connection')).toBe('close');
      const conns = rs.map((r) => JSON.parse(r.body.toString('utf8')) as ConnJson);
      expect(conns.map((c) => c.requestOnConnection)).toEqual([1, 2, 3, 4]);
      expect(conns.map((c) => c.client.port)).toEqual([port, port, port, port]);
      expect(results[8]!.eof).toBe('fin');
    });

    it('HTTP/1.1 with Connection: close: answered, closed with a FIN, a request after it ignored', async () => {
      // RFC 9112 §9.6: after a "close" request no further requests on that connection are processed.
      const { results } = await rawHttp(ns, [
        { send: 'GET /bytes/10 HTTP/1.1\r\nHost: 10.77.0.2\r\nConnection: close\r\n\r\nGET /bytes/20 HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n' },
        { read: 1 },
        { eof: 5 },
      ]);
      const [res] = responsesOf(results, 1, 1);
      expect(res!.status).toBe(200);
      expect(res!.headers.get('connection')).toBe('close');
      expect(res!.body.equals(siteBytes(10))).toBe(true);
      expect(results[2]!.eof).toBe('fin');
    });

    it('ab -k -n 5000 -c 20 / : 5000 complete, 0 failed, every byte of every body', async () => {
      const r = await ns.exec('ab', ['-q', '-k', '-s', '10', '-n', '5000', '-c', '20', `${BASE}/`], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(abField(r.stdout, 'Complete requests')).toBe(5000);
      expect(abField(r.stdout, 'Failed requests')).toBe(0);
      expect(r.stdout).not.toMatch(/Non-2xx responses/);
      expect(abField(r.stdout, 'HTML transferred')).toBe(5000 * Buffer.byteLength(INDEX_HTML));
      // Persistent connections were used (each one ends after max 100 requests, so not all 5000).
      expect(abField(r.stdout, 'Keep-Alive requests')).toBeGreaterThanOrEqual(4900);
    });

    it('ab -n 1000 -c 10 / (a connection per request): 1000 complete, 0 failed', async () => {
      const r = await ns.exec('ab', ['-q', '-s', '10', '-n', '1000', '-c', '10', `${BASE}/`], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(abField(r.stdout, 'Complete requests')).toBe(1000);
      expect(abField(r.stdout, 'Failed requests')).toBe(0);
      expect(r.stdout).not.toMatch(/Non-2xx responses/);
      expect(abField(r.stdout, 'HTML transferred')).toBe(1000 * Buffer.byteLength(INDEX_HTML));
    });

    it('curl /bytes/100000000: 100 MB, size and sha256 of the pattern', async () => {
      const out = join(dir, 'hundred.bin');
      const r = await ns.exec('curl', ['-sS', '-m', '60', '-o', out, '-w', '%{http_code} %{size_download}', `${BASE}/bytes/100000000`], {
        timeoutMs: 70_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('200 100000000');
      expect(statSync(out).size).toBe(100_000_000);
      const [got, want] = [await fileSha256(out), patternSha256(100_000_000)];
      rmSync(out);
      expect(got).toBe(want);
    });

    it('stops cleanly, having sent no RST on any of those connections', async () => {
      const { code, lines } = await stack.stop();
      expect(code).toBe(0);
      const { tcp, device } = statsOf(lines);
      expect(tcp['resetsSent']).toBe(0);
      expect(tcp['establishedResets']).toBe(0);
      // The 100 MB went out as TSO super-segments (on by default), every one taken by the kernel.
      expect(tcp['tsoSuperSegments']).toBeGreaterThan(100);
      expect(device['txTso']).toBe(tcp['tsoSuperSegments']);
      expect([device['txErrors'], device['txDropped']]).toEqual([0, 0]);
      // curl x4, raw x5, ab -n 1000 opened 1000 of its own; ab -k at least 50 (max 100 per connection).
      expect(tcp['passiveOpens']).toBeGreaterThanOrEqual(1009 + 50);
    });
  });

  describe('segmentation offload in the capture: super-segments with --tso on (default), MSS segments with --tso off', () => {
    for (const tso of ['on', 'off']) {
      it(`--tso ${tso}: 4 MB byte-exact; the pcap's TCP checksums verify; frames ${tso === 'on' ? 'up to 64 KiB' : 'at most the MTU'}`, async () => {
        const ns = await createNetns('tsk-tso');
        try {
          const pcap = join(dir, `tso-${tso}.pcap`);
          const stack = await startServe(ns, ['--tso', tso, '--pcap', pcap]);
          const out = join(dir, `tso-${tso}.bin`);
          const r = await ns.exec('curl', ['-sS', '-m', '30', '-o', out, '-w', '%{http_code} %{size_download}', `${BASE}/bytes/4000000`], {
            timeoutMs: 40_000,
          });
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toBe('200 4000000');
          expect(await fileSha256(out)).toBe(patternSha256(4_000_000));
          rmSync(out);
          const { code, lines } = await stack.stop();
          expect(code).toBe(0);
          const { tcp, device } = statsOf(lines);
          if (tso === 'on') {
            expect(tcp['tsoSuperSegments']).toBeGreaterThan(4_000_000 / 65_160 / 2);
            expect(device['txTso']).toBe(tcp['tsoSuperSegments']);
          } else {
            expect([tcp['tsoSuperSegments'], device['txTso']]).toEqual([0, 0]);
          }
          // Frames from the stack: their lengths, and the checksum tshark computes for each one.
          const t = await ns.exec(
            'tshark',
            ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-Y', 'ip.src==10.77.0.2 && tcp.len > 0', '-T', 'fields', '-e', 'frame.len', '-e', 'tcp.checksum.status'],
            { timeoutMs: 30_000 },
          );
          expect(t.code, t.stderr).toBe(0);
          const rows = t.stdout.trim().split('\n').map((l) => l.split('\t'));
          const lengths = rows.map((row) => Number(row[0]));
          expect(rows.filter((row) => row[1] !== '1')).toEqual([]); // 1 = "Good" (0 bad, 2 unverified)
          if (tso === 'on') expect(Math.max(...lengths)).toBe(20 + 32 + 45 * 1448);
          else expect(Math.max(...lengths)).toBe(1500);
          rmSync(pcap);
        } finally {
          await ns.destroy();
        }
      });
    }
  });

  describe('one connection for many requests, and the idle timeout (serve --idle-timeout 1000 --pcap)', () => {
    let ns: Netns;
    let stack: ServeHandle;
    let pcap: string;
    let curlPort = -1;
    let idlePort = -1;

    beforeAll(async () => {
      ns = await createNetns('tsk-http');
      pcap = join(dir, 'reuse.pcap');
      stack = await startServe(ns, ['--idle-timeout', '1000', '--pcap', pcap]);
    });
    afterAll(async () => ns?.destroy());

    it('curl with 5 URLs: one connection, request numbers 1..5 from the same client port', async () => {
      const url = `${BASE}/conn`;
      const r = await ns.exec('curl', ['-sS', '-m', '10', '-w', '\nnum_connects=%{num_connects} local_port=%{local_port}\n', url, url, url, url, url]);
      expect(r.code, r.stderr).toBe(0);
      const w = [...r.stdout.matchAll(/^num_connects=(\d+) local_port=(\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
      expect(w.length).toBe(5);
      curlPort = w[0]![1]!;
      expect(w.map((x) => x[0])).toEqual([1, 0, 0, 0, 0]);
      expect(w.map((x) => x[1])).toEqual([curlPort, curlPort, curlPort, curlPort, curlPort]);
      const conns = r.stdout
        .split(/^num_connects=.*$/m)
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
        .map((s) => JSON.parse(s) as ConnJson);
      expect(conns.map((c) => c.requestOnConnection)).toEqual([1, 2, 3, 4, 5]);
      expect(conns.map((c) => c.client.port)).toEqual([curlPort, curlPort, curlPort, curlPort, curlPort]);
    });

    it('an idle keep-alive connection is closed by the server with a FIN after --idle-timeout', async () => {
      const { port, results } = await rawHttp(ns, [{ send: 'GET /conn HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n' }, { read: 1 }, { eof: 8 }]);
      idlePort = port;
      const [res] = responsesOf(results, 1, 1);
      expect(res!.status).toBe(200);
      expect(res!.headers.get('connection')).toBe('keep-alive');
      expect(res!.headers.get('keep-alive')).toBe('timeout=1, max=99');
      expect(results[2]!.eof).toBe('fin');
    });

    it('the capture: exactly one SYN for the 5 curl requests, the server FIN to the idle client, no RST from the stack', async () => {
      const { code, lines } = await stack.stop();
      expect(code).toBe(0);
      expect(statsOf(lines).tcp['resetsSent']).toBe(0);
      const tshark = async (filter: string): Promise<string[]> => {
        const r = await ns.exec('tshark', ['-r', pcap, '-Y', filter, '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport'], { timeoutMs: 30_000 });
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.split('\n').filter((l) => l.length > 0);
      };
      // Two connections were opened in this namespace: curl's and the idle client's.
      expect(await tshark('tcp.flags.syn==1 && tcp.flags.ack==0')).toEqual([`${curlPort}\t80`, `${idlePort}\t80`]);
      // The idle close came from the server: one FIN from 10.77.0.2:80 to the idle client.
      expect(await tshark(`ip.src==10.77.0.2 && tcp.srcport==80 && tcp.dstport==${idlePort} && tcp.flags.fin==1`)).toEqual([`80\t${idlePort}`]);
      expect(await tshark('ip.src==10.77.0.2 && tcp.flags.reset==1')).toEqual([]);
    });
  });
});
