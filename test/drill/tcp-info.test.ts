/**
 * `%{ }%` blocks (src/drill/tcp-info.ts): `assert tcpi_<field> <op> N` lines on the fields we expose
 * are checked; anything else makes the script SKIP with the reason.
 */
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript } from '../../src/drill/run.ts';
import { parseTcpInfoBlock } from '../../src/drill/tcp-info.ts';

describe('drill %{ }% TCP info checks', () => {
  it('parses assert lines, ignoring comments and a trailing message', () => {
    expect(parseTcpInfoBlock('\n# a comment\nassert tcpi_snd_cwnd == 10, tcpi_snd_cwnd\n assert tcpi_rto>=200000 \n')).toEqual([
      { field: 'tcpi_snd_cwnd', op: '==', value: 10, text: 'assert tcpi_snd_cwnd == 10' },
      { field: 'tcpi_rto', op: '>=', value: 200000, text: 'assert tcpi_rto>=200000' },
    ]);
  });
  it('refuses other code and fields we do not have', () => {
    expect(parseTcpInfoBlock('assert tcpi_reordering == 3')).toMatch(/^tcpi_reordering is not a field we expose/);
    expect(parseTcpInfoBlock('print(tcpi_snd_cwnd)')).toMatch(/^only `assert tcpi_<field> <op> <integer>` lines are modelled/);
    expect(parseTcpInfoBlock('assert tcpi_snd_cwnd == tcpi_snd_ssthresh')).toMatch(/^only `assert/);
  });
  it('a script with an unmodelled block SKIPs with the reason, before it starts', async () => {
    const r = await runScript(parseScript('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ assert tcpi_unacked == 0 }%\n', 'x.pkt'));
    expect(r.status).toBe('skip');
    if (r.status === 'skip') expect(r.reason).toMatch(/^line 2: tcpi_unacked is not a field we expose/);
  });
  it('a check with no connection fails at its line', async () => {
    const r = await runScript(parseScript('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ assert tcpi_state == 1 }%\n', 'y.pkt'));
    expect(r.status).toBe('fail');
    if (r.status === 'fail') expect([r.line, r.message]).toEqual([2, 'a %{ }% check, but no descriptor has a connection']);
  });
});
