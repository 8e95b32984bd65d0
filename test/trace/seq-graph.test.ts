import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSeqGraphSvg, seqGraphData } from '../../src/trace/seq-graph.ts';
import { checkWellFormed } from '../pageload/xml.ts';
import { ACK, LINUX_SYN_OPTIONS, MSS_1460, SYN, tcpPacket } from './segments.ts';

const C = { src: '10.77.0.1', sport: 40000, dst: '10.77.0.2', dport: 80 };
const S = { src: '10.77.0.2', sport: 80, dst: '10.77.0.1', dport: 40000 };
const CI = 1000;
const SI = 0xfffffff0; // the server's ISN 16 below the 2^32 wrap: relative numbers must not care
const data = (n: number) => 'x'.repeat(n);

/** A download: the server sends 4 x 100 bytes, the second is lost and resent after the fourth. */
function download(): { data: Uint8Array; tsMs: number }[] {
  const p = [
    tcpPacket({ ...C, seq: CI, flags: SYN, win: 64240, options: LINUX_SYN_OPTIONS }), // wscale 7
    tcpPacket({ ...S, seq: SI, ack: CI + 1, flags: SYN | ACK, win: 65535, options: [...MSS_1460, 1, 3, 3, 2] }), // wscale 2
    tcpPacket({ ...C, seq: CI + 1, ack: SI + 1, flags: ACK, win: 502 }),
    tcpPacket({ ...S, seq: SI + 1, ack: CI + 1, flags: ACK, win: 1000, payload: data(100) }),
    tcpPacket({ ...S, seq: SI + 101, ack: CI + 1, flags: ACK, win: 1000, payload: data(100) }),
    tcpPacket({ ...C, seq: CI + 1, ack: SI + 101, flags: ACK, win: 502 }),
    tcpPacket({ ...S, seq: SI + 201, ack: CI + 1, flags: ACK, win: 1000, payload: data(100) }),
    tcpPacket({ ...S, seq: SI + 301, ack: CI + 1, flags: ACK, win: 1000, payload: data(100) }),
    tcpPacket({ ...C, seq: CI + 1, ack: SI + 101, flags: ACK, win: 502 }),
    tcpPacket({ ...S, seq: SI + 101, ack: CI + 1, flags: ACK, win: 1000, payload: data(100) }),
    tcpPacket({ ...C, seq: CI + 1, ack: SI + 401, flags: ACK, win: 502 }),
  ];
  return p.map((d, i) => ({ data: d, tsMs: 1000 + i * 10 }));
}

describe('sequence-number-versus-time graph', () => {
  it('takes the side that sends the data as the sender, relative to its ISN, and marks the retransmission', () => {
    const d = seqGraphData(download())!;
    expect([d.sender, d.receiver]).toEqual(['10.77.0.2:80', '10.77.0.1:40000']);
    expect(d.segments).toEqual([
      { t: 30, start: 1, end: 101, retransmit: false },
      { t: 40, start: 101, end: 201, retransmit: false },
      { t: 60, start: 201, end: 301, retransmit: false },
      { t: 70, start: 301, end: 401, retransmit: false },
      { t: 90, start: 101, end: 201, retransmit: true },
    ]);
    // ACKs relative to the server's ISN; the window scaled by the client's shift (7: both SYNs had wscale).
    expect(d.acks.map((a) => [a.t, a.ack, a.edge])).toEqual([
      [20, 1, 1 + 502 * 128],
      [50, 101, 101 + 502 * 128],
      [80, 101, 101 + 502 * 128],
      [100, 401, 401 + 502 * 128],
    ]);
  });

  it('is a well-formed SVG with one red bar per retransmission and the ACK line', () => {
    const svg = renderSeqGraphSvg(download());
    expect(checkWellFormed(svg)[0]).toBe('svg');
    expect(svg.match(/class="rtx"/g)?.length).toBe(2); // the bar, and the legend's sample
    expect(svg.match(/class="seg"/g)?.length).toBe(5); // four bars and the legend's
    expect(svg).toContain('5 data segments, 1 retransmitted (red)');
    expect(svg).toContain('retransmission 101:201 at 90.000 ms');
  });

  it('says so when there is nothing to draw', () => {
    const svg = renderSeqGraphSvg([]);
    expect(checkWellFormed(svg)[0]).toBe('svg');
    expect(svg).toContain('no TCP connection in the capture');
  });
});

describe('tunstack ladder --seqgraph', () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'curl-loopback.pcapng');
  const cli = (args: string[]) => spawnSync('node', ['--import', 'tsx', 'src/cli.ts', 'ladder', fixture, ...args], { encoding: 'utf8', timeout: 30_000 });

  it('writes the graph of the chosen flow and says what it drew', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tunstack-seqgraph-'));
    try {
      const out = join(dir, 'g.svg');
      const r = cli(['--seqgraph', out]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^wrote .*g\.svg: \d+ data segments from [\d.]+:\d+, 0 retransmitted\n$/);
      expect(checkWellFormed(readFileSync(out, 'utf8'))[0]).toBe('svg');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a file it cannot create is a usage error (exit 2), not a crash', () => {
    const r = cli(['--seqgraph', '/nonexistent-dir/g.svg']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('tunstack: cannot write /nonexistent-dir/g.svg: no such directory');
  });
});
