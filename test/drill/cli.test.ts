/**
 * `tunstack drill` as a command: the result lines, the exit codes (0 all passed, 1 a failure, 2 a
 * usage or syntax error), --trace, --ladder and --pcap.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDrillCli } from '../../src/drill/cli.ts';
import { readPcap } from '../../src/trace/pcap-writer.ts';
import { UsageError } from '../../src/util/errors.ts';
import { ok } from '../wire/helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'drill-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const here = import.meta.dirname;

async function run(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDrillCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out, err };
}

describe('tunstack drill', () => {
  it('PASS lines and exit 0', async () => {
    const r = await run([join(here, 'closed-port.pkt'), join(here, 'passive-open.pkt')]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([`PASS ${join(here, 'closed-port.pkt')}`, `PASS ${join(here, 'passive-open.pkt')}`]);
  });

  it('a FAIL line with the ladder, exit 1, and the scripts after it still run', async () => {
    const bad = join(here, 'must-fail', 'wrong-ack.pkt');
    const r = await run([bad, join(here, 'closed-port.pkt')]);
    expect(r.code).toBe(1);
    expect(r.out[0]).toMatch(new RegExp(`^FAIL ${bad.replace(/[.]/g, '\\.')}:6: expected > S\\. 0:0\\(0\\) ack 2 <mss 1460> at 0\\.000, got > S\\. 0:0\\(0\\) ack 1 `));
    expect(r.out[0]).toContain('|<--- SYN,ACK seq=0 ack=1 win=65535 <mss 1460>');
    expect(r.out[1]).toBe(`PASS ${join(here, 'closed-port.pkt')}`);
  });

  it('a syntax error is file:line:col on stderr, exit 2', async () => {
    const f = join(tmp, 'bad.pkt');
    writeFileSync(f, '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < Q 0:0(0)\n');
    const r = await run([f]);
    expect(r.code).toBe(2);
    expect(r.err).toEqual([`${f}:2:6: expected TCP flags (S . P F R or -), found "Q"`]);
  });

  it('SKIP with the reason, exit 0', async () => {
    const f = join(tmp, 'skip.pkt');
    writeFileSync(f, '0 `sysctl -q net.ipv4.tcp_ecn=1`\n+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n');
    const r = await run([f]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([`SKIP ${f}: line 1: sysctl net.ipv4.tcp_ecn is not modelled`]);
  });

  it('--trace prints every event, --ladder the whole exchange, --pcap records both directions', async () => {
    const pcap = join(tmp, 'out.pcap');
    const r = await run([join(here, 'closed-port.pkt'), '--trace', '--ladder', '--pcap', pcap]);
    expect(r.code).toBe(0);
    expect(r.out.slice(0, 2)).toEqual(['  0.000 < S 0:0(0) win 65535 <mss 1460>', '  0.000 > R. 0:0(0) ack 1 win 0']);
    expect(r.out[2]).toMatch(/^PASS .*closed-port\.pkt\n +192\.0\.2\.1:47000 +192\.168\.0\.1:8080\n.*\|---- SYN seq=0 win=65535 <mss 1460> -+>\|\n.*\|<--- RST,ACK seq=0 ack=1 win=0 -+\|$/);
    const file = ok(readPcap(readFileSync(pcap)));
    expect(file.packets.map((x) => [x.data.length, x.tsMs])).toEqual([[44, 0], [40, 0]]);
  });

  it('--step: pauses before each event with the connection state; Enter steps, c continues, q quits', async () => {
    const out: string[] = [];
    const prompts: string[] = [];
    const answers = ['', '', '', '', '', '', '', '', '', '', 'q'];
    const io = {
      out: (t: string) => out.push(t),
      err: (t: string) => out.push(`ERR ${t}`),
      ask: (p: string) => {
        prompts.push(p);
        return Promise.resolve(answers.shift());
      },
    };
    const code = await runDrillCli([join(here, 'rto-backoff.pkt'), join(here, 'closed-port.pkt'), '--step'], io);
    expect(code).toBe(1);
    expect(prompts).toHaveLength(11);
    const events = out.filter((t) => /^\d/.test(t)).map((t) => t.split('\n')[0]);
    expect(events).toEqual([
      '0.000 line 4: socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '0.000 line 5: bind(3, ..., ...) = 0',
      '0.000 line 6: listen(3, 1) = 0',
      '0.000 line 7: < S 0:0(0) win 65535 <mss 1000>',
      '0.000 line 8: > S. 0:0(0) ack 1 <mss 1460>',
      '0.000 packet out, matches line 8: > S. 0:0(0) ack 1 win 65535 <mss 1460>',
      '0.000 line 9: < . 1:1(0) ack 1 win 65535',
      '0.100 line 10: accept(3, ..., ...) = 4',
      '0.100 line 11: write(4, ..., 1000) = 1000',
      '0.100 line 12: > P. 1:1001(1000) ack 1',
      '0.100 packet out, matches line 12: > P. 1:1001(1000) ack 1 win 65535',
    ]);
    // The state after the data went out: relative sequence numbers, RTO from the 100 ms sample.
    expect(out.find((t) => t.startsWith('0.100 packet out'))).toContain(
      'ESTABLISHED 192.168.0.1:8080 <-> 192.0.2.1:47000 snd.una=1 snd.nxt=1001 rcv.nxt=1 snd.wnd=65535 rcv.wnd=65535 cwnd=10000 ssthresh=inf rto=300 retransmits=0 queued=1000',
    );
    // q stops this script and the ones after it.
    expect(out[out.length - 1]).toBe(`QUIT ${join(here, 'rto-backoff.pkt')}:12: stopped while stepping`);
    // c runs to the end without asking again.
    const prompts2: string[] = [];
    const code2 = await runDrillCli([join(here, 'closed-port.pkt'), '--step'], { ...io, ask: (p) => (prompts2.push(p), Promise.resolve('c')) });
    expect(code2).toBe(0);
    expect(prompts2).toHaveLength(1);
  });

  it('usage errors', async () => {
    await expect(run([])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['x.pkt', '--tolerance-ms', 'abc'])).rejects.toThrow(/--tolerance-ms/);
    await expect(run(['x.pkt', '--bogus'])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['x.pkt', '--profile', 'bsd'])).rejects.toThrow('--profile must be default or linux, got "bsd"');
    const r = await run([join(tmp, 'missing.pkt')]);
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/missing\.pkt: ENOENT/);
  });
});
