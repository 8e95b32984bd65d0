/**
 * Bad requests against a kernel client through the TUN device: each gets its status code, a
 * `Connection: close`, and a clean close (FIN, no RST), while another connection, opened before
 * them and used between them, keeps being served on the same client port.
 *
 *   both Content-Length and Transfer-Encoding   400   RFC 9112 §6.1 (MAY reject; MUST close after)
 *   two different Content-Length values         400   RFC 9112 §6.3 (invalid length: 400, close)
 *   obs-fold (a header line continued)           400   RFC 9112 §5.2
 *   a bare CR inside a field                     400   RFC 9112 §2.2
 *   a 9 KiB request line                         414   RFC 9112 §3 (limit 8 KiB)
 *   a 17 KiB header section                      431   RFC 6585 §5 (limit 16 KiB)
 *   101 header fields                            431   RFC 6585 §5 (limit 100)
 *   HTTP/2.0 in a request line                   505   RFC 9110 §15.6.6
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, outputOf, type Netns } from './helpers/index.ts';
import { rawHttp, responsesOf, toResponse, type Step, type StepResult } from './helpers/http.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';

// ---- the connection kept open meanwhile ----------------------------------------------------------

/** http-client.py --interactive: one JSON step per stdin line, one JSON result per stdout line. */
class KeptConnection {
  readonly child: ChildProcess;
  private seen = 0;

  constructor(child: ChildProcess) {
    this.child = child;
  }

  /** The next stdout line, waiting up to `timeoutMs`. */
  nextLine(timeoutMs = 10_000): Promise<string> {
    const log = outputOf(this.child)!;
    return new Promise((resolve, reject) => {
      const take = (): boolean => {
        if (log.lines.length <= this.seen) return false;
        clearTimeout(timer);
        log.events.off('line', onLine);
        resolve(log.lines[this.seen++]!);
        return true;
      };
      const onLine = (): void => void take();
      const timer = setTimeout(() => {
        log.events.off('line', onLine);
        reject(new Error(`the kept connection printed nothing within ${timeoutMs} ms\nstderr: ${log.stderr}`));
      }, timeoutMs);
      log.events.on('line', onLine);
      take();
    });
  }

  async step(step: Step): Promise<StepResult & { error?: string }> {
    this.child.stdin!.write(`${JSON.stringify(step)}\n`);
    const o = JSON.parse(await this.nextLine()) as { responses?: { status: number; head: string; body: string }[]; eof?: StepResult['eof']; error?: string };
    if (o.error !== undefined) throw new Error(`kept connection: ${o.error}`);
    return { ...(o.eof !== undefined ? { eof: o.eof } : {}), ...(o.responses ? { responses: o.responses.map(toResponse) } : {}) };
  }

  /** GET /conn on the kept connection: which request this is, and from which port. */
  async conn(close = false): Promise<{ status: number; requestOnConnection: number; port: number; connection: string | undefined }> {
    await this.step({ send: `GET /conn HTTP/1.1\r\nHost: 10.77.0.2\r\n${close ? 'Connection: close\r\n' : ''}\r\n` });
    const [res] = (await this.step({ read: 1 })).responses!;
    const j = JSON.parse(res!.body.toString('utf8')) as { requestOnConnection: number; client: { port: number } };
    return { status: res!.status, requestOnConnection: j.requestOnConnection, port: j.client.port, connection: res!.headers.get('connection') };
  }
}

const H = 'Host: 10.77.0.2\r\n';
const REASONS: Record<number, string> = { 400: 'Bad Request', 414: 'URI Too Long', 431: 'Request Header Fields Too Large', 505: 'HTTP Version Not Supported' };

const CASES: { name: string; request: string; status: number }[] = [
  {
    name: 'both Content-Length and Transfer-Encoding',
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  { name: 'two different Content-Length values', request: `POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, status: 400 },
  { name: 'obs-fold', request: `GET /conn HTTP/1.1\r\n${H}X-Folded: one\r\n two\r\n\r\n`, status: 400 },
  { name: 'a bare CR in a field value', request: `GET /conn HTTP/1.1\r\n${H}X-Bare: a\rb\r\n\r\n`, status: 400 },
  { name: 'a 9 KiB request line', request: `GET /${'a'.repeat(9 * 1024)} HTTP/1.1\r\n${H}\r\n`, status: 414 },
  {
    name: 'a 17 KiB header section',
    request: `GET /conn HTTP/1.1\r\n${H}${Array.from({ length: 17 }, (_, i) => `X-Fill-${i}: ${'f'.repeat(1024)}\r\n`).join('')}\r\n`,
    status: 431,
  },
  {
    name: '101 header fields',
    request: `GET /conn HTTP/1.1\r\n${H}${Array.from({ length: 100 }, (_, i) => `X-F${i}: v\r\n`).join('')}\r\n`,
    status: 431,
  },
  { name: 'HTTP/2.0 in the request line', request: `GET /conn HTTP/2.0\r\n${H}\r\n`, status: 505 },
];

describeTun('e2e: bad requests over the TUN device get their status and a close; others are unaffected', () => {
  let ns: Netns;
  let stack: ServeHandle;
  let kept: KeptConnection;
  let keptPort = -1;
  let keptRequests = 0;

  beforeAll(async () => {
    ns = await createNetns('tsk-http-err');
    stack = await startServe(ns);
    kept = new KeptConnection(ns.spawn('python3', ['test/e2e/fixtures/http-client.py', '10.77.0.2', '80', '--interactive']));
    keptPort = (JSON.parse(await kept.nextLine()) as { local_port: number }).local_port;
    const first = await kept.conn();
    keptRequests = 1;
    expect(first).toEqual({ status: 200, requestOnConnection: 1, port: keptPort, connection: 'keep-alive' });
  });
  afterAll(async () => ns?.destroy());

  it.each(CASES)('$name -> $status, Connection: close, FIN; the other connection is still served', async ({ request, status }) => {
    const { results } = await rawHttp(ns, [{ send: request }, { read: 1 }, { eof: 5 }]);
    const [res] = responsesOf(results, 1, 1);
    expect(res!.head.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${REASONS[status]}`);
    expect(res!.headers.get('connection')).toBe('close');
    expect(res!.headers.get('server')).toBe('tunstack');
    expect(res!.headers.has('date')).toBe(true);
    expect(res!.body.toString('latin1')).toBe(`${status} ${REASONS[status]}\n`);
    expect(results[2]!.eof).toBe('fin');
    // Meanwhile the kept connection goes on: the next request number, the same port.
    keptRequests += 1;
    expect(await kept.conn()).toEqual({ status: 200, requestOnConnection: keptRequests, port: keptPort, connection: 'keep-alive' });
  });

  it('just inside the limits (100 fields, a 15 KiB header section, an 8000-byte request line) is served', async () => {
    // The controls for the 431 and 414 cases above: the limits are where they say they are.
    const fields = Array.from({ length: 99 }, (_, i) => `X-F${i}: v\r\n`).join('');
    const fill = Array.from({ length: 15 }, (_, i) => `X-Fill-${i}: ${'f'.repeat(1000)}\r\n`).join('');
    const longPath = `/bytes/7?${'q'.repeat(8000 - 'GET /bytes/7? HTTP/1.1'.length)}`;
    const { results } = await rawHttp(ns, [
      { send: `GET /bytes/7 HTTP/1.1\r\n${H}${fields}\r\nGET /bytes/7 HTTP/1.1\r\n${H}${fill}\r\nGET ${longPath} HTTP/1.1\r\n${H}Connection: close\r\n\r\n` },
      { read: 3 },
      { eof: 5 },
    ]);
    const rs = responsesOf(results, 1, 3);
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
    for (const r of rs) expect([...r.body]).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(results[2]!.eof).toBe('fin');
  });

  it('the kept connection ends cleanly, and the stack sent no RST to anyone', async () => {
    keptRequests += 1;
    expect(await kept.conn(true)).toEqual({ status: 200, requestOnConnection: keptRequests, port: keptPort, connection: 'close' });
    expect((await kept.step({ eof: 5 })).eof).toBe('fin');
    kept.child.stdin!.end();
    const { code, lines } = await stack.stop();
    expect(code).toBe(0);
    const statsLine = lines.find((l) => l.startsWith('tunstack: stats '));
    expect(statsLine).toBeDefined();
    const { tcp } = JSON.parse(statsLine!.slice('tunstack: stats '.length)) as { tcp: Record<string, number> };
    expect(tcp['resetsSent']).toBe(0);
    // The kept connection, one per bad request, one for the controls.
    expect(tcp['passiveOpens']).toBe(1 + CASES.length + 1);
  });
});
