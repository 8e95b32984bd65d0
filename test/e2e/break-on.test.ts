/**
 * `serve --break-on` on a live stack, inside a fresh namespace, without a debugger attached (the
 * `debugger` statements are no-ops, so curl is not held up): the caveat at start, then one marker
 * per SYN, FIN and state change of one curl request, in the order the handshake and the teardown
 * make them (RFC 9293 §3.5, §3.6). `line:N` is refused for serve (exit 2) before any device opens.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';

describeTun('e2e: serve --break-on on a live stack', () => {
  let ns: Netns;
  let serve: ServeHandle | undefined;
  beforeAll(async () => {
    ns = await createNetns('tsk-brk');
  });
  afterAll(async () => {
    await serve?.stop().catch(() => {});
    await ns?.destroy();
  });

  // Inside the namespace too: were the check ever to let a bad list through, serve would open a TUN
  // device, and that must not happen in the host's namespace.
  it('refuses line:N and unknown events with exit 2, before opening anything', async () => {
    for (const [arg, msg] of [
      ['line:3', /--break-on line:N is for drill scripts/],
      ['syn,bogus', /unknown event "bogus"/],
    ] as const) {
      const r = await ns.exec('node', ['--import', 'tsx', 'src/cli.ts', 'serve', '--break-on', arg], { timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('prints the caveat, then a marker per SYN, FIN and state change of one request', async () => {
    serve = await startServe(ns, ['--break-on', 'syn,fin,state']);
    const r = await ns.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', 'http://10.77.0.2/'], { timeoutMs: 15_000 });
    expect(r.stdout).toBe('200');
    await new Promise((res) => setTimeout(res, 300)); // the last ACK of the teardown
    const { code, lines } = await serve.stop();
    serve = undefined;
    expect(code).toBe(0);
    expect(lines[0]).toMatch(/^tunstack: --break-on syn,fin,state: a live stack does not stand still .* the kernel's TCP timers keep running/);
    const marks = lines.filter((l) => l.startsWith('tunstack: break on ')).map((l) =>
      l
        .replace(/^tunstack: break on (\w+) at [\d.]+: /, '$1 ')
        .replace(/ \(.*\)$/, '')
        .replace(/^(syn|fin) (in|out) \S+ > \S+ \[(\S+)\].*?( \[[A-Z-]+\])?$/, '$1 $2 $3$4')
        .replace(/^state \S+ <-> \S+ (\S+ -> \S+) .*$/, 'state $1'),
    );
    expect(marks).toEqual([
      'syn in S',
      'state CLOSED -> SYN-RECEIVED',
      'syn out S. [SYN-RECEIVED]',
      'state SYN-RECEIVED -> ESTABLISHED',
      'fin in F. [ESTABLISHED]',
      'state ESTABLISHED -> CLOSE-WAIT',
      'fin out F. [CLOSE-WAIT]',
      'state CLOSE-WAIT -> LAST-ACK',
      'state LAST-ACK -> CLOSED',
    ]);
  });
});
