// scripts/bench/turnaround.ts: the --capture analysis of bench:loss, on captures made here with
// known times (no devices): ACKs and data of one download seen at the relay's device and at the
// stack's own TUN, the turnarounds and their split computed from them.
import { describe, expect, it } from 'vitest';
import { MemoryPcapSink, PcapWriter } from '../../src/trace/pcap-writer.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { downloadFlow, packetsOf, split, spread, turnarounds } from '../../scripts/bench/turnaround.ts';

const SERVER = parseIpv4Address('10.77.0.2');
const CLIENT = parseIpv4Address('10.9.0.1');

/** An IPv4 + TCP header (no payload bytes: the capture's snaplen), total length counting `len` of payload. */
function packet(fromServer: boolean, clientPort: number, ipId: number, seq: number, ack: number, len: number): Uint8Array {
  const b = new Uint8Array(40);
  const v = new DataView(b.buffer);
  b[0] = 0x45;
  v.setUint16(2, 40 + len);
  v.setUint16(4, ipId);
  b[8] = 64;
  b[9] = 6;
  v.setUint32(12, fromServer ? SERVER : CLIENT);
  v.setUint32(16, fromServer ? CLIENT : SERVER);
  v.setUint16(20, fromServer ? 80 : clientPort);
  v.setUint16(22, fromServer ? clientPort : 80);
  v.setUint32(24, seq);
  v.setUint32(28, ack);
  b[32] = 5 << 4;
  b[33] = 0x10;
  return b;
}

type Row = [tMs: number, fromServer: boolean, ipId: number, seq: number, ack: number, len: number];

function capture(rows: Row[], clientPort = 40000): Uint8Array {
  const sink = new MemoryPcapSink();
  const w = new PcapWriter(sink, { precision: 'ns', flushIntervalMs: 0 });
  for (const [t, fromServer, ipId, seq, ack, len] of rows) w.write(packet(fromServer, clientPort, ipId, seq, ack, len), t);
  w.closeSync();
  return sink.bytes();
}

const T = 1_700_000_000_000; // ms since the epoch
// At the relay's device: data 1000..3896 out, two ACKs in at +1.000 and +1.002 ms, the next data
// out at +1.200 ms (turnaround 200 µs), one more ACK at +2.000, data at +2.050 (50 µs).
const RELAY: Row[] = [
  [T, true, 1, 1000, 1, 1448],
  [T + 0.001, true, 2, 2448, 1, 1448],
  [T + 1.0, false, 7, 1, 2448, 0],
  [T + 1.002, false, 8, 1, 3896, 0],
  [T + 1.2, true, 3, 3896, 1, 2896],
  [T + 2.0, false, 9, 1, 6792, 0],
  [T + 2.05, true, 4, 6792, 1, 1448],
];
// The same at tunstack0: each ACK 3 µs later, each data write 10 µs before the relay's device saw it.
const STACK: Row[] = [
  [T - 0.01, true, 1, 1000, 1, 2896], // one super-segment of two
  [T + 1.003, false, 7, 1, 2448, 0],
  [T + 1.005, false, 8, 1, 3896, 0],
  [T + 1.19, true, 3, 3896, 1, 2896],
  [T + 2.003, false, 9, 1, 6792, 0],
  [T + 2.04, true, 4, 6792, 1, 1448],
];

describe('turnaround analysis (bench:loss --capture)', () => {
  it('reads the port-80 TCP packets of a raw-IP capture with their payload lengths', () => {
    const pkts = packetsOf(capture(RELAY), SERVER);
    expect(pkts.map((p) => [p.fromServer, p.clientPort, p.ipId, p.seq, p.ack, p.len])).toEqual(
      RELAY.map(([, fromServer, ipId, seq, ack, len]) => [fromServer, 40000, ipId, seq, ack, len]),
    );
    expect(pkts[2]!.t).toBeCloseTo(T + 1.0, 6);
    expect(packetsOf(capture(RELAY), parseIpv4Address('10.9.0.2'))).toEqual([]);
  });

  it('throws the pcap reader\'s error for a capture cut short', () => {
    const whole = capture(RELAY);
    expect(() => packetsOf(whole.subarray(0, whole.length - 5), SERVER)).toThrow(/record at offset \d+ claims 40 bytes/);
  });

  it('measures from the first ACK after data to the next data', () => {
    const t = turnarounds(packetsOf(capture(RELAY), SERVER));
    expect(t.map((x) => Math.round(x))).toEqual([200, 50]);
    expect(spread(t)).toBe('200 [50-200]');
    expect(spread([])).toBe('-');
  });

  it('splits the turnaround into forwarding in, the stack and forwarding out', () => {
    const s = split(packetsOf(capture(RELAY), SERVER), packetsOf(capture(STACK), SERVER));
    const us = (xs: number[]) => xs.map((x) => Math.round(x));
    expect(us(s.forwardIn)).toEqual([3, 3, 3]);
    expect(us(s.inside)).toEqual([187, 37]);
    expect(us(s.forwardOut)).toEqual([10, 10, 10]);
  });

  it('matches a retransmission with its own sighting, not the original\'s', () => {
    // Segment 6792 leaves twice: at +2.05 (lost further on), and again after a duplicate ACK (the
    // same acknowledgment number, another IP id) at +3.014 at the relay.
    const relay: Row[] = [...RELAY, [T + 3.0, false, 10, 1, 6792, 0], [T + 3.014, true, 5, 6792, 1, 1448]];
    const stack: Row[] = [...STACK, [T + 3.004, false, 10, 1, 6792, 0], [T + 3.006, true, 5, 6792, 1, 1448]];
    const s = split(packetsOf(capture(relay), SERVER), packetsOf(capture(stack), SERVER));
    expect(s.forwardOut.map((x) => Math.round(x))).toEqual([10, 10, 10, 8]);
    expect(s.forwardIn.map((x) => Math.round(x))).toEqual([3, 3, 3, 4]);
    expect(s.inside.map((x) => Math.round(x))).toEqual([187, 37, 2]);
  });

  it('picks the download as the flow that carried the most data in its time span', () => {
    const other: Row[] = [
      [T + 0.5, true, 50, 1, 1, 100],
      [T + 0.6, false, 51, 1, 101, 0],
    ];
    const pkts = [...packetsOf(capture(RELAY), SERVER), ...packetsOf(capture(other, 40001), SERVER)].sort((a, b) => a.t - b.t);
    const flow = downloadFlow(pkts, T - 1, T + 3);
    expect(flow.length).toBe(RELAY.length);
    expect(flow.every((p) => p.clientPort === 40000)).toBe(true);
    expect(downloadFlow(pkts, T + 0.4, T + 0.7).map((p) => p.clientPort)).toEqual([40001, 40001]);
  });
});
