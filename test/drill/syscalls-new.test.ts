/**
 * The socket calls added for drill (SHUT_RD, SO_LINGER, TCP_MAXSEG, SO_SNDBUF/SO_RCVBUF, poll): what
 * they return, that a wrong expectation FAILs, and what still SKIPs, with its reason.
 */
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript, type DrillResult } from '../../src/drill/run.ts';

const OPEN = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1000>
+0 > S. 0:0(0) ack 1 <mss 1460>
+.1 < . 1:1(0) ack 1 win 65535
+0 accept(3, ..., ...) = 4
`;
const play = (text: string): Promise<DrillResult> => runScript(parseScript(text, 't.pkt'));

describe('new drill system calls', () => {
  it('SO_LINGER with a timeout SKIPs with the reason; linger 0 plays', async () => {
    const r = await play(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0\n`);
    expect(r).toEqual({ status: 'skip', file: 't.pkt', reason: 'line 2: SO_LINGER with a timeout (a close that blocks until sent) is not modelled, only linger=0' });
    const ok = await play(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n`);
    expect(ok.status).toBe('pass');
  });

  it('TCP_MAXSEG out of range is EINVAL; after listen() it SKIPs', async () => {
    const r = await play(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, IPPROTO_TCP, TCP_MAXSEG, [40], 4) = -1 EINVAL\n`);
    expect(r.status).toBe('pass');
    const s = await play(`${OPEN}+0 setsockopt(3, IPPROTO_TCP, TCP_MAXSEG, [500], 4) = 0\n`);
    expect(s).toEqual({ status: 'skip', file: 't.pkt', reason: 'line 8: setsockopt(TCP_MAXSEG) after connect() or listen() is not modelled' });
  });

  it('getsockopt(SO_RCVBUF) reports twice the value set, and a wrong value FAILs', async () => {
    const r = await play(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [3000], 4) = 0\n+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [3000], [4]) = 0\n`);
    expect(r.status).toBe('fail');
    if (r.status === 'fail') expect(r.message).toContain('got [6000] in the result argument');
  });

  it('poll: revents checked (a wrong one FAILs, naming what came); timeout 0 returns 0 at once', async () => {
    const bad = await play(`${OPEN}+0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLIN}], 1, 0) = 1\n`);
    expect(bad.status).toBe('fail');
    if (bad.status === 'fail') expect(bad.message).toContain('got revents=POLLOUT for fd 4');
    const none = await play(`${OPEN}+0 poll([{fd=4, events=POLLIN, revents=0}, {fd=9, events=POLLIN, revents=POLLNVAL}], 2, 0) = 1\n`);
    expect(none.status).toBe('pass');
  });

  it('poll that blocks past its time FAILs', async () => {
    const r = await play(`${OPEN}+0...0.1 poll([{fd=4, events=POLLIN, revents=0}], 1, 300) = 0\n`);
    expect(r.status).toBe('fail');
    if (r.status === 'fail') expect(r.message).toMatch(/to return at 0\.200/);
  });

  it('SHUT_RD: read returns 0 at once instead of blocking', async () => {
    const r = await play(`${OPEN}+0 shutdown(4, SHUT_RD) = 0\n+0 read(4, ..., 100) = 0\n`);
    expect(r.status).toBe('pass');
  });
});
