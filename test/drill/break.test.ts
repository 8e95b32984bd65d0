/**
 * --break-on (src/drill/break.ts): which events stop, in which order, with which segment and
 * connection in scope, and the marker line printed for each stop. (That an attached inspector
 * really stops there, and that line breakpoints in the .ts sources work, is debugger.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBreakOn, type BreakHit } from '../../src/drill/break.ts';
import { runDrillCli } from '../../src/drill/cli.ts';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript } from '../../src/drill/run.ts';
import { UsageError } from '../../src/util/errors.ts';
import { ACK, FIN, RST, SYN } from '../../src/wire/tcp.ts';

const here = import.meta.dirname;

async function play(file: string, breakOn: string): Promise<{ status: string; hits: BreakHit[]; lines: string[] }> {
  const hits: BreakHit[] = [];
  const lines: string[] = [];
  const script = parseScript(readFileSync(join(here, file), 'utf8'), file);
  const r = await runScript(script, { breakOn: { spec: parseBreakOn(breakOn), print: (l) => lines.push(l), onHit: (h) => hits.push(h) } });
  return { status: r.status, hits, lines };
}

describe('parseBreakOn', () => {
  it('takes any subset of the events and line numbers', () => {
    const s = parseBreakOn('syn, FIN,rst,retransmit,state,line:7,line:12');
    expect([...s.events].sort()).toEqual(['fin', 'retransmit', 'rst', 'state', 'syn']);
    expect([...s.lines]).toEqual([7, 12]);
  });
  it('refuses unknown events and bad line numbers with a UsageError', () => {
    expect(() => parseBreakOn('syn,ack')).toThrow(UsageError);
    expect(() => parseBreakOn('syn,ack')).toThrow(/unknown event "ack"/);
    expect(() => parseBreakOn('line:0')).toThrow(/start at 1/);
    expect(() => parseBreakOn('line:x')).toThrow(UsageError);
    expect(() => parseBreakOn('')).toThrow(UsageError);
  });
});

describe('drill --break-on', () => {
  it('syn: the SYN in (no connection yet) and the SYN-ACK out (SYN-RECEIVED), segment parsed', async () => {
    const r = await play('passive-open.pkt', 'syn');
    expect(r.status).toBe('pass');
    expect(r.hits.map((h) => [h.reason, h.dir, h.info?.state])).toEqual([
      ['syn', 'in', undefined],
      ['syn', 'out', 'SYN-RECEIVED'],
    ]);
    const [synIn, synAck] = r.hits as [BreakHit, BreakHit];
    expect(synIn.segment?.flags).toBe(SYN);
    expect(synIn.segment?.srcPort).toBe(47_000);
    expect(synIn.segment?.dstPort).toBe(8080);
    expect(synIn.segment?.options.mss).toBe(1460);
    expect(synIn.connection).toBeUndefined();
    expect(synAck.segment?.flags).toBe(SYN | ACK);
    expect(synAck.segment?.ack).toBe((synIn.segment!.seq + 1) >>> 0); // the SYN is acknowledged
    expect(synAck.info?.iss).toBe(synAck.segment?.seq);
    expect(synAck.connection?.info().iss).toBe(synAck.info?.iss); // the live object (ESTABLISHED by now)
    expect(r.lines[0]).toMatch(/^break on syn at 0\.000: in line 8: < S 0:0\(0\) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>/);
    expect(r.lines[1]).toMatch(/^break on syn at 0\.000: out > S\. 0:0\(0\) ack 1 win 65535 <mss 1460,sackOK,TS val \d+ ecr 100,nop,wscale 7> \[SYN-RECEIVED\]$/);
  });

  it('state: every transition, inside the stack, with the connection already in its new state', async () => {
    const r = await play('close-active.pkt', 'state');
    expect(r.status).toBe('pass');
    expect(r.lines.map((l) => l.replace(/^break on state at (\S+): .* (\S+ -> \S+).*$/, '$1 $2'))).toEqual([
      '0.000 CLOSED -> SYN-RECEIVED',
      '0.100 SYN-RECEIVED -> ESTABLISHED',
      '0.200 ESTABLISHED -> FIN-WAIT-1',
      '0.300 FIN-WAIT-1 -> FIN-WAIT-2',
      '0.400 FIN-WAIT-2 -> TIME-WAIT',
    ]);
    expect(r.hits.slice(0, 4).map((h) => h.info?.state)).toEqual(['SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2']);
  });

  it('fin and rst, both directions', async () => {
    const fin = await play('close-active.pkt', 'fin');
    expect(fin.hits.map((h) => [h.dir, h.segment!.flags & (FIN | ACK)])).toEqual([
      ['out', FIN | ACK],
      ['in', FIN | ACK],
    ]);
    const rst = await play('rst-established.pkt', 'rst');
    expect(rst.hits.map((h) => [h.dir, h.segment!.flags, h.info?.state])).toEqual([['in', RST | ACK, 'ESTABLISHED']]);
    const closed = await play('closed-port.pkt', 'rst');
    expect(closed.hits.map((h) => [h.dir, h.segment!.flags & RST, h.connection])).toEqual([['out', RST, undefined]]);
  });

  it('retransmit: only segments re-sending sequence space already sent (RTO backoff: 3 of the first, then one of the second)', async () => {
    const r = await play('rto-backoff.pkt', 'retransmit');
    expect(r.status).toBe('pass');
    expect(r.lines.map((l) => l.replace(/^break on retransmit at (\S+): out > P\. (\S+).*$/, '$1 $2'))).toEqual([
      '0.400 1:1001(1000)',
      '1.000 1:1001(1000)',
      '2.200 1:1001(1000)',
      '4.700 1001:2001(1000)',
    ]);
    // The connection counts them too.
    expect(r.hits.map((h) => h.info?.retransmits)).toEqual([1, 2, 3, 4]);
  });

  it('line:N stops before that script line, with the latest connection', async () => {
    const r = await play('passive-open.pkt', 'line:10,line:3');
    expect(r.hits.map((h) => [h.reason, h.detail, h.info?.state])).toEqual([
      ['line', 'line 3: socket(..., SOCK_STREAM, IPPROTO_TCP) = 3', undefined],
      ['line', 'line 10: < . 1:1(0) ack 1 win 512 <nop,nop,TS val 110 ecr 100>', 'SYN-RECEIVED'],
    ]);
  });

  it('the command line: markers in the output, the script still passes; a bad list is a usage error', async () => {
    const out: string[] = [];
    const code = await runDrillCli([join(here, 'passive-open.pkt'), '--break-on', 'syn'], { out: (t) => out.push(t), err: () => {} });
    expect(code).toBe(0);
    expect(out).toHaveLength(3);
    expect(out[0]).toMatch(/^ {2}break on syn at 0\.000: in line 8: < S /);
    expect(out[0]).toContain('(no inspector: run under node --inspect-brk');
    expect(out[1]).not.toContain('no inspector'); // the hint is given once
    expect(out[2]).toBe(`PASS ${join(here, 'passive-open.pkt')}`);
    await expect(runDrillCli([join(here, 'passive-open.pkt'), '--break-on', 'sin'], { out: () => {}, err: () => {} })).rejects.toThrow(UsageError);
  });
});
