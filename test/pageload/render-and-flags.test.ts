/**
 * The pictures and the input checks: the SVG (one load, and --compare's stacked loads with the speed
 * chart) is well formed and says what it shows; the terminal waterfall has one row per connection;
 * the response reader reads Content-Length, chunked and close-delimited bodies and refuses bad ones
 * with a ResponseError; bad specs and flags are UsageErrors, exit status 2 from the CLI.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { demoObjects } from '../../src/pageload/client.ts';
import { renderHtml } from '../../src/pageload/render-html.ts';
import { renderSpeedChart, renderSpeedTable } from '../../src/pageload/render-chart.ts';
import { renderSvg } from '../../src/pageload/render-svg.ts';
import { fmtMs, renderText } from '../../src/pageload/render-text.ts';
import { ResponseError, ResponseReader } from '../../src/pageload/response-reader.ts';
import { parsePaths } from '../../src/pageload/run.ts';
import { simulatePageLoad } from '../../src/pageload/sim.ts';
import { parseMode, parseModeList, parseSimSpec } from '../../src/pageload/spec.ts';
import { UsageError } from '../../src/util/errors.ts';
import { checkWellFormed } from './xml.ts';

const sim = parseSimSpec('delay=50ms,rate=10mbit');
const run = (mode: string) => simulatePageLoad({ sim, mode: parseMode(mode), pagePath: '/', objects: demoObjects(3, 5000) });

describe('waterfall rendering', () => {
  it('SVG: well formed, a row per connection, the mode and link in the title, an axis in ms', async () => {
    const r = await run('serial');
    const svg = renderSvg([r]);
    const names = checkWellFormed(svg);
    expect(names[0]).toBe('svg');
    expect(names.filter((n) => n === 'title').length).toBeGreaterThan(0);
    expect(svg).toContain('Page load, serial: 4 requests');
    expect(svg).toContain('simulated: RTT 100 ms, 10 Mbit/s');
    expect(svg).toContain('time since the first SYN (ms)');
    for (const c of r.connections) expect(svg).toContain(`conn ${c.id}  :${c.localPort}`);
    expect(svg).not.toContain('conn 5 ');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('--compare: the loads stacked on one axis and the speed chart below, still well formed', async () => {
    const loads = [await run('serial'), await run('pipelined')];
    const table = { rttMs: 50, rates: [1e6, 10e6], modes: ['serial', 'pipelined'], pageMs: [[900, 500], [400, 160]] };
    const svg = renderSvg(loads, { below: renderSpeedChart(table) });
    checkWellFormed(svg);
    expect(svg).toContain('Page load: serial vs pipelined');
    expect(svg).toContain('Page time per mode by link speed');
    expect(renderSpeedTable(table).split('\n')[2]).toMatch(/^serial\s+900 ms\s+500 ms$/);
    const html = renderHtml(loads, svg);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toContain('<?xml');
    expect(html.match(/<tr>/g)!.length).toBe(2 + 4 + 4);
  });

  it('the well-formedness check itself catches broken XML', () => {
    expect(() => checkWellFormed('<svg><g></svg>')).toThrow(/does not close/);
    expect(() => checkWellFormed('<svg a="1" a="2"/>')).toThrow(/twice/);
    expect(() => checkWellFormed('<svg><text>a & b</text></svg>')).toThrow(/entity/);
    expect(() => checkWellFormed('<svg/><svg/>')).toThrow(/second root/);
  });

  it('terminal: one row per connection, the legend and the totals', async () => {
    const r = await run('persistent');
    const lines = renderText(r, { width: 40 }).split('\n');
    expect(lines.filter((l) => l.startsWith('conn ')).length).toBe(1);
    const row = lines.find((l) => l.startsWith('conn 1'))!;
    expect(row.slice(14)).toMatch(/^S+[-#.]+$/);
    expect(lines.some((l) => l.startsWith('legend:'))).toBe(true);
    expect(lines[lines.length - 1]).toBe(`totals: page ${fmtMs(r.pageMs)} ms, 1 handshake, 4 requests, ${r.bytes} bytes, retransmits 0 client, 0 server`);
  });
});

describe('the response reader', () => {
  const feed = (r: ResponseReader, ...parts: string[]) => parts.map((p) => r.push(Buffer.from(p, 'latin1')));

  it('Content-Length, split anywhere, and the next response handed back', () => {
    const r = new ResponseReader();
    const out = feed(r, 'HTTP/1.1 200 OK\r\nContent-Len', 'gth: 5\r\n\r\nhel', 'loHTTP/1.1');
    expect(out.map((o) => o.done)).toEqual([false, false, true]);
    expect(out[2]!.rest!.toString()).toBe('HTTP/1.1');
    expect(r.bodyBytes).toBe(5);
    expect(r.wireBytes).toBe('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'.length);
  });

  it('chunked with an extension and a trailer (RFC 9112 §7.1)', () => {
    const r = new ResponseReader();
    const out = feed(r, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nabcd\r\n', '2\r\nef\r\n0\r\nT: v\r\n\r\n');
    expect(out[1]!.done).toBe(true);
    expect(r.bodyBytes).toBe(6);
  });

  it('Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 rule 3)', () => {
    const r = new ResponseReader();
    const out = feed(r, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT');
    expect(out[0]!.done).toBe(true);
    expect(out[0]!.rest!.toString()).toBe('NEXT');
    expect(r.bodyBytes).toBe(3);
  });

  it('no length: the body ends with the connection; 204 and HEAD have none', () => {
    const r = new ResponseReader();
    feed(r, 'HTTP/1.0 200 OK\r\n\r\nabc');
    r.end();
    expect([r.done, r.bodyBytes]).toEqual([true, 3]);
    expect(feed(new ResponseReader(), 'HTTP/1.1 204 No Content\r\n\r\n')[0]!.done).toBe(true);
    expect(feed(new ResponseReader(true), 'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n')[0]!.done).toBe(true);
  });

  it.each([
    ['HTTP/2 200 OK\r\n\r\n', 'ERR_RESPONSE_BAD_STATUS'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n', 'ERR_RESPONSE_BAD_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'ERR_RESPONSE_BAD_LENGTH'],
    ['HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n', 'ERR_RESPONSE_BAD_FIELD'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'ERR_RESPONSE_BAD_CHUNK'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n', 'ERR_RESPONSE_BAD_CHUNK'],
    ['HTTP/1.1 200 OK\r\nX: (70 000 bytes)', 'ERR_RESPONSE_HEAD_TOO_LARGE'],
  ])('refuses %j with %s', (text, code) => {
    let err: unknown;
    try {
      feed(new ResponseReader(), text.replace('(70 000 bytes)', 'a'.repeat(70_000)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ResponseError);
    expect((err as ResponseError).code).toBe(code);
  });

  it('a response cut short is an error, not a hang', () => {
    const r = new ResponseReader();
    feed(r, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    expect(() => r.end()).toThrow(ResponseError);
  });
});

describe('specs and flags', () => {
  it('parses modes, sim specs and paths', () => {
    expect(parseMode('parallel:4')).toEqual({ kind: 'parallel', k: 4 });
    expect(parseMode('pipelined:3')).toEqual({ kind: 'pipelined', depth: 3 });
    expect(parseModeList('serial,persistent:2').map((m) => m.kind)).toEqual(['serial', 'persistent']);
    expect(parseSimSpec('delay=50ms,rate=2mbit,loss=1.5%,seed=9')).toEqual({ delayMs: 50, rateBps: 2e6, loss: 0.015, seed: 9 });
    expect(parsePaths('/delay/500,POST:/echo')).toEqual([
      { method: 'GET', path: '/delay/500' },
      { method: 'POST', path: '/echo' },
    ]);
  });

  it.each(['', 'parallel', 'parallel:0', 'parallel:99', 'serial:2', 'pipe', 'persistent:x'])('mode %j is a UsageError', (m) => {
    expect(() => parseMode(m)).toThrow(UsageError);
  });

  it.each(['delay=50', 'rate=2mb', 'loss=80%', 'delay=5ms,delay=6ms', 'jitter=1ms', 'seed=-1', 'rate=1bit'])('sim spec %j is a UsageError', (s) => {
    expect(() => parseSimSpec(s)).toThrow(UsageError);
  });

  it.each([['serial,serial'], ['serial,,persistent']])('compare list %j is a UsageError', (s) => {
    expect(() => parseModeList(s)).toThrow(UsageError);
  });

  it.each([
    [['pageload'], /exactly one URL/],
    [['pageload', 'http://10.0.0.2/', '--mode', 'fast', '--sim', 'delay=1ms'], /--mode must be serial/],
    [['pageload', 'http://10.0.0.2/', '--sim', 'delay=fast'], /--sim delay must be like 50ms/],
    [['pageload', 'http://10.0.0.2/', '--mode', 'serial', '--compare', 'serial'], /not both/],
    [['pageload', 'http://10.0.0.2/', '--objects', 'many'], /--objects must be an integer/],
    [['pageload', 'http://10.0.0.2/', '--paths', 'nope', '--sim', 'delay=1ms'], /--paths takes/],
    [['pageload', 'ftp://x/', '--sim', 'delay=1ms'], /http:\/\/ URLs only/],
    [['pageload', 'http://10.0.0.2/', '--sim', 'delay=1ms', '--svg', '/nonexistent-dir/x.svg'], /--svg \/nonexistent-dir\/x.svg: cannot write \(ENOENT\)/],
  ])('CLI %j exits 2', (args, message) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(2);
  });

  it('CLI: a load that does not finish within --timeout (virtual ms) exits 1, bounded', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'pageload', 'http://10.0.0.2/', '--paths', '/delay/5000', '--sim', 'delay=10ms', '--timeout', '1000'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toMatch(/did not finish within 1000 ms \[ERR_PAGELOAD_TIMEOUT\]/);
    expect(r.status).toBe(1);
  });

  it('CLI --sim prints the waterfall and writes the SVG (exit 0)', () => {
    const out = `${process.env.TMPDIR ?? '/tmp'}/tsk-pl-cli-${process.pid}.svg`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'pageload', 'http://10.0.0.2/', '--objects', '2', '--mode', 'persistent', '--sim', 'delay=50ms', '--svg', out], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/totals: page 400 ms, 1 handshake, 3 requests/);
    checkWellFormed(readFileSync(out, 'utf8'));
    rmSync(out);
  });
});
