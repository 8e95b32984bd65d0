import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ipPacketsFromPcap, ladderFromPcapFile, listTcpFlows, payloadPreview, renderLadder } from '../../src/trace/ladder.ts';
import { LINKTYPE_ETHERNET, MemoryPcapSink, PcapWriter } from '../../src/trace/pcap-writer.ts';
import { ACK, FIN, LINUX_SYN_OPTIONS, MSS_1460, PSH, RST, SYN, tcpPacket } from './segments.ts';

const C = { src: '10.77.0.1', sport: 40000, dst: '10.77.0.2', dport: 80 };
const S = { src: '10.77.0.2', sport: 80, dst: '10.77.0.1', dport: 40000 };
const CI = 0xfffffc18; // client ISN close to the 2^32 wrap
const SI = 5000;
const REQ = 'GET / HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n'; // 35 bytes
const RES = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'; // 40 bytes

/** A whole HTTP exchange, with the request sent twice (a retransmission). */
function exchange(): Uint8Array[] {
  return [
    tcpPacket({ ...C, seq: CI, flags: SYN, win: 64240, options: LINUX_SYN_OPTIONS }),
    tcpPacket({ ...S, seq: SI, ack: CI + 1, flags: SYN | ACK, win: 65535, options: [...MSS_1460, 1, 3, 3, 2] }),
    tcpPacket({ ...C, seq: CI + 1, ack: SI + 1, flags: ACK, win: 502 }),
    tcpPacket({ ...C, seq: CI + 1, ack: SI + 1, flags: PSH | ACK, win: 502, payload: REQ }),
    tcpPacket({ ...C, seq: CI + 1, ack: SI + 1, flags: PSH | ACK, win: 502, payload: REQ }),
    tcpPacket({ ...S, seq: SI + 1, ack: CI + 36, flags: PSH | ACK, win: 16384, payload: RES }),
    tcpPacket({ ...C, seq: CI + 36, ack: SI + 41, flags: FIN | ACK, win: 502 }),
    tcpPacket({ ...S, seq: SI + 41, ack: CI + 37, flags: FIN | ACK, win: 16384 }),
    tcpPacket({ ...C, seq: CI + 37, ack: SI + 42, flags: ACK, win: 502 }),
  ];
}

const EXPECTED = [
  '10.77.0.1:40000                                              10.77.0.2:80',
  '       |---- SYN seq=0 win=64240 <mss 1460,sackOK,ts,wscale 7> --->|',
  '       |<--- SYN,ACK seq=0 ack=1 win=65535 <mss 1460,wscale 2> ----|',
  '       |---- ACK seq=1 ack=1 win=64256 --------------------------->|',
  '       |---- PSH,ACK seq=1:36 ack=1 len=35 ----------------------->|   GET / HTTP/1.1',
  '       |---- PSH,ACK seq=1:36 ack=1 len=35 ----------------------->|   [retransmission] GET / HTTP/1.1',
  '       |<--- PSH,ACK seq=1:41 ack=36 win=65536 len=40 -------------|   HTTP/1.1 200 OK',
  '       |---- FIN,ACK seq=36 ack=41 ------------------------------->|',
  '       |<--- FIN,ACK seq=41 ack=37 --------------------------------|',
  '       |---- ACK seq=37 ack=42 ----------------------------------->|',
];

describe('renderLadder on a long connection', () => {
  it('draws 200 000 segments without a width given (no call-stack overflow)', () => {
    const packets = [exchange()[0]!];
    for (let i = 0; i < 200_000; i++) packets.push(tcpPacket({ ...C, seq: CI + 1, ack: SI + 1, flags: ACK, win: 502 }));
    const lines = renderLadder(packets).split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(200_001);
    expect(lines[1]).toContain('SYN seq=0');
  });
});

describe('renderLadder', () => {
  it('draws a whole exchange with relative numbers, scaled windows, options, previews and retransmissions', () => {
    expect(renderLadder(exchange()).split('\n')).toEqual(EXPECTED);
  });

  it('puts the SYN sender on the left even when the capture starts with the SYN,ACK', () => {
    const lines = renderLadder(exchange().slice(1)).split('\n');
    expect(lines[0]!.startsWith('10.77.0.1:40000')).toBe(true);
    expect(lines[1]).toContain('|<--- SYN,ACK seq=0 ack=0 win=65535 <mss 1460,wscale 2> -');
  });

  it('honours a fixed width (labels truncated), a time column, and preview: false', () => {
    const events = exchange()
      .slice(0, 4)
      .map((packet, i) => ({ packet, now: 1000 + i * 0.5, dir: 'in' as const }));
    expect(renderLadder(events, { width: 30, time: true, preview: false }).split('\n')).toEqual([
      '           10.77.0.1:40000                 10.77.0.2:80',
      '  0.000000        |---- SYN seq=0 win=64240 .. ->|',
      '  0.000500        |<--- SYN,ACK seq=0 ack=1 .. --|',
      '  0.001000        |---- ACK seq=1 ack=1 win=.. ->|',
      '  0.001500        |---- PSH,ACK seq=1:36 ack.. ->|',
    ]);
  });

  it('selects one flow out of several, shows zero windows, SACK blocks and RST', () => {
    const other = { ...C, sport: 40001 };
    const be32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
    // NOP, NOP, SACK (kind 5, length 10) acknowledging the server's bytes 100..200 (absolute 5100..5200)
    const sackBlock = [1, 1, 5, 10, ...be32(SI + 100), ...be32(SI + 200)];
    const pk = [
      tcpPacket({ ...other, seq: 1, flags: SYN }),
      tcpPacket({ ...C, seq: 100, flags: SYN, options: MSS_1460 }),
      tcpPacket({ ...S, seq: SI, ack: 101, flags: SYN | ACK, win: 0, options: MSS_1460 }),
      tcpPacket({ ...C, seq: 101, ack: SI + 1, flags: ACK, win: 1000, options: sackBlock }),
      tcpPacket({ ...S, seq: SI + 1, ack: 101, flags: RST | ACK, win: 0 }),
    ];
    expect(listTcpFlows(pk).map((f) => [f.flow.srcPort, f.segments])).toEqual([
      [40001, 1],
      [40000, 4],
    ]);
    expect(renderLadder(pk, { flow: { srcAddr: '10.77.0.1', srcPort: 40000, dstAddr: '10.77.0.2', dstPort: 80 } }).split('\n')).toEqual([
      '10.77.0.1:40000                                    10.77.0.2:80',
      '       |---- SYN seq=0 win=65535 <mss 1460> ------------>|',
      '       |<--- SYN,ACK seq=0 ack=1 win=0 <mss 1460> -------|',
      '       |---- ACK seq=1 ack=1 win=1000 <sack 100:200> --->|',
      '       |<--- RST,ACK seq=1 ack=1 win=0 ------------------|',
    ]);
  });

  it('ignores packets that are not TCP, and says so when there is none', () => {
    expect(renderLadder([Uint8Array.of(0x60, 0, 0, 0)])).toBe('(no TCP segments)');
  });
});

describe('payloadPreview', () => {
  it('shows the first line, dots for non-printables, and cuts long lines', () => {
    const b = (s: string) => new TextEncoder().encode(s);
    expect(payloadPreview(b('HTTP/1.1 200 OK\r\nx'), 0, 19)).toBe('HTTP/1.1 200 OK');
    expect(payloadPreview(Uint8Array.of(0x16, 0x03, 0x01, 0x41), 0, 4)).toBe('...A');
    expect(payloadPreview(b('x'.repeat(50)), 0, 50)).toBe('x'.repeat(40) + '...');
    expect(payloadPreview(b('abcdef'), 2, 2)).toBe('cd');
  });
});

describe('ladderFromPcapFile', () => {
  it('draws a real Linux capture (curl to python http.server over loopback, tcpdump, Ethernet link type)', () => {
    // Captured with `tcpdump -i lo -w` inside a network namespace; tcpdump -nn shows the same relative
    // numbers (ack 1, seq 1:79, seq 186:208, ...) and windows 64 << wscale 10 = 65536.
    const path = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'curl-loopback.pcap');
    expect(ladderFromPcapFile(path).split('\n')).toEqual([
      '127.0.0.1:40608                                                         127.0.0.1:8000',
      '       |---- SYN seq=0 win=65495 <mss 65495,sackOK,ts,wscale 10> ------------->|',
      '       |<--- SYN,ACK seq=0 ack=1 win=65483 <mss 65495,sackOK,ts,wscale 10> ----|',
      '       |---- ACK seq=1 ack=1 win=65536 --------------------------------------->|',
      '       |---- PSH,ACK seq=1:79 ack=1 len=78 ----------------------------------->|   GET / HTTP/1.1',
      '       |<--- ACK seq=1 ack=79 win=65536 ---------------------------------------|',
      '       |<--- PSH,ACK seq=1:186 ack=79 len=185 ---------------------------------|   HTTP/1.0 200 OK',
      '       |---- ACK seq=79 ack=186 ---------------------------------------------->|',
      '       |<--- PSH,ACK seq=186:208 ack=79 len=22 --------------------------------|   hello from the kernel',
      '       |---- ACK seq=79 ack=208 ---------------------------------------------->|',
      '       |---- FIN,ACK seq=79 ack=208 ------------------------------------------>|',
      '       |<--- FIN,ACK seq=208 ack=80 -------------------------------------------|',
      '       |---- ACK seq=80 ack=209 ---------------------------------------------->|',
    ]);
  });

  it('reads a capture written by PcapWriter', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsk-ladder-'));
    try {
      const path = join(dir, 'x.pcap');
      const w = PcapWriter.open(path, { now: () => 0 });
      for (const p of exchange()) w.write(p);
      w.closeSync();
      expect(ladderFromPcapFile(path).split('\n')).toEqual(EXPECTED);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('strips Ethernet headers and skips non-IPv4 frames', () => {
    const sink = new MemoryPcapSink();
    const w = new PcapWriter(sink, { linkType: LINKTYPE_ETHERNET, now: () => 0 });
    const eth = (type: number, body: Uint8Array) => {
      const f = new Uint8Array(14 + body.length);
      f[12] = type >> 8;
      f[13] = type & 0xff;
      f.set(body, 14);
      return f;
    };
    const syn = tcpPacket({ ...C, seq: 1, flags: SYN });
    w.write(eth(0x0806, new Uint8Array(28))); // ARP
    w.write(eth(0x0800, syn));
    w.closeSync();
    expect(ipPacketsFromPcap(sink.bytes())).toEqual([{ data: syn, tsMs: 0 }]);
  });
});
