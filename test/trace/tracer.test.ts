import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/util/clock.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { TapDevice } from '../../src/link/tap-device.ts';
import type { PacketDirection } from '../../src/trace/events.ts';
import { RelativeSeqTable } from '../../src/trace/relative-seq.ts';
import { PacketTracer } from '../../src/trace/tracer.ts';
import { peekTcp } from '../../src/trace/tcp-peek.ts';
import { ACK, FIN, LINUX_SYN_OPTIONS, MSS_1460, PSH, RST, SYN, tcpPacket } from './segments.ts';

const C = { src: '10.77.0.1', sport: 40000, dst: '10.77.0.2', dport: 80 };
const S = { src: '10.77.0.2', sport: 80, dst: '10.77.0.1', dport: 40000 };

function tracer(opts: ConstructorParameters<typeof PacketTracer>[0] = {}) {
  const lines: string[] = [];
  const tr = new PacketTracer({ write: (l) => lines.push(l), ...opts });
  return { tr, lines, obs: (dir: PacketDirection, p: Uint8Array, now: number) => tr.observer(dir, p, now) };
}

describe('PacketTracer', () => {
  it('shows time, direction and relative sequence numbers from each side\'s SYN (across 2^32 wrap)', () => {
    const { obs, lines } = tracer();
    obs('in', tcpPacket({ ...C, seq: 0xfffffff0, flags: SYN, win: 64240, options: LINUX_SYN_OPTIONS }), 1000);
    obs('out', tcpPacket({ ...S, seq: 123456, ack: 0xfffffff1, flags: SYN | ACK, options: MSS_1460 }), 1000.25);
    obs('in', tcpPacket({ ...C, seq: 0xfffffff1, ack: 123457, flags: ACK }), 1001);
    obs('in', tcpPacket({ ...C, seq: 0xfffffff1, ack: 123457, flags: PSH | ACK, payload: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' }), 1002);
    obs('out', tcpPacket({ ...S, seq: 123457, ack: 0x0000000c, flags: ACK }), 1002.5);
    expect(lines).toEqual([
      '  0.000000 <- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [S], seq 0, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,wscale 7], length 0',
      '  0.000250 -> IP 10.77.0.2.80 > 10.77.0.1.40000: Flags [S.], seq 0, ack 1, win 65535, options [mss 1460], length 0',
      '  0.001000 <- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [.], seq 1, ack 1, win 65535, length 0',
      '  0.002000 <- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [P.], seq 1:28, ack 1, win 65535, length 27',
      '  0.002500 -> IP 10.77.0.2.80 > 10.77.0.1.40000: Flags [.], seq 1, ack 28, win 65535, length 0',
    ]);
  });

  it('keeps absolute numbers when asked, and can drop the time column', () => {
    const { obs, lines } = tracer({ absolute: true, time: 'none' });
    obs('in', tcpPacket({ ...C, seq: 5000, flags: SYN }), 0);
    obs('in', tcpPacket({ ...C, seq: 5001, ack: 77, flags: ACK }), 1);
    expect(lines).toEqual([
      '<- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [S], seq 5000, win 65535, length 0',
      '<- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [.], seq 5001, ack 77, win 65535, length 0',
    ]);
  });

  it('numbers a flow first seen mid-stream from its first seq and ack', () => {
    const { obs, lines } = tracer({ time: 'clock' });
    obs('in', tcpPacket({ ...C, seq: 9000, ack: 3000, flags: ACK, payload: 'abc' }), 2000);
    obs('out', tcpPacket({ ...S, seq: 3000, ack: 9003, flags: ACK }), 2001);
    expect(lines).toEqual([
      '  2.000000 <- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [.], seq 0:3, ack 0, win 65535, length 3',
      '  2.001000 -> IP 10.77.0.2.80 > 10.77.0.1.40000: Flags [.], seq 0, ack 3, win 65535, length 0',
    ]);
  });

  it('keeps flows apart that share ports but not addresses', () => {
    const { obs, lines } = tracer({ time: 'none' });
    const other = { ...C, src: '10.77.0.9' };
    obs('in', tcpPacket({ ...C, seq: 100, flags: SYN }), 0);
    obs('in', tcpPacket({ ...other, seq: 700, flags: SYN }), 0);
    obs('in', tcpPacket({ ...C, seq: 101, ack: 1, flags: ACK }), 1);
    obs('in', tcpPacket({ ...other, seq: 701, ack: 1, flags: ACK }), 1);
    expect(lines.map((l) => l.replace(/, win.*/, ''))).toEqual([
      '<- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [S], seq 0',
      '<- IP 10.77.0.9.40000 > 10.77.0.2.80: Flags [S], seq 0',
      '<- IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [.], seq 1, ack 0',
      '<- IP 10.77.0.9.40000 > 10.77.0.2.80: Flags [.], seq 1, ack 0',
    ]);
  });

  it('formats non-TCP packets without touching the flow table', () => {
    const { obs, lines, tr } = tracer({ time: 'none' });
    // ICMP echo request, id 7 seq 1, no payload
    const icmp = Uint8Array.of(0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2, 8, 0, 0, 0, 0, 7, 0, 1);
    const hc = checksum(icmp, 0, 20);
    icmp.set([hc >> 8, hc & 0xff], 10);
    const ic = checksum(icmp, 20, 28);
    icmp.set([ic >> 8, ic & 0xff], 22);
    obs('out', icmp, 0);
    expect(lines).toEqual(['-> IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 7, seq 1, length 8']);
    expect(tr.trackedFlows).toBe(0);
  });

  it('is installed through a TapDevice that sees both directions with the clock time', () => {
    const clock = new ManualClock(500);
    const [a, b] = createMemoryLink(clock, { latencyMs: 2 });
    const events: { dir: PacketDirection; now: number; packet: Uint8Array }[] = [];
    let listening = true;
    const tap = new TapDevice(a, (dir, packet, now) => listening && events.push({ dir, now, packet: packet.slice() }), clock);
    const rx: Uint8Array[] = [];
    tap.setReceiver((ps) => rx.push(...ps));
    const syn = tcpPacket({ ...C, seq: 1, flags: SYN });
    tap.send(syn);
    b.send(tcpPacket({ ...S, seq: 9, ack: 2, flags: SYN | ACK }));
    clock.advance(2);
    expect(events.map((e) => [e.dir, e.now, peekTcp(e.packet)!.flags])).toEqual([
      ['out', 500, SYN],
      ['in', 502, SYN | ACK],
    ]);
    expect(rx.length).toBe(1);
    listening = false;
    tap.send(syn);
    expect(events.length).toBe(2);
  });
});

describe('RelativeSeqTable', () => {
  const seg = (spec: Parameters<typeof tcpPacket>[0]) => peekTcp(tcpPacket(spec))!;

  it('forgets a flow shortly after FIN/RST, so a reused 4-tuple starts over', () => {
    const t = new RelativeSeqTable({ closeLingerMs: 1000 });
    t.observe(seg({ ...C, seq: 100, flags: SYN }), 0);
    t.observe(seg({ ...C, seq: 150, ack: 1, flags: FIN | ACK }), 10);
    // Within the linger time: the final ACK still uses the old base.
    t.observe(seg({ ...C, seq: 151, ack: 2, flags: ACK }), 500);
    const rel = (seq: number) => t.relative(0x0a4d0001, 40000, 0x0a4d0002, 80, seq, 0).seq;
    expect(rel(151)).toBe(51);
    // After the linger, without a new SYN, the next segment becomes the new base.
    t.observe(seg({ ...C, seq: 7000, flags: ACK }), 2000);
    expect(rel(7000)).toBe(0);
  });

  it('a segment without ACK has no ack number: its field is not the other direction\'s base', () => {
    const syn = seg({ ...C, seq: 100, ack: 0xdead, flags: SYN }); // a stray value in the field
    expect(syn.ack).toBeUndefined();
    expect(seg({ ...S, seq: 900, ack: 101, flags: SYN | ACK }).ack).toBe(101);
    const t = new RelativeSeqTable();
    t.observe(syn, 0);
    expect(t.relative(syn.src, 40000, syn.dst, 80, syn.seq, syn.ack)).toEqual({ seq: 0, ack: undefined });
    // The server's SYN-ACK then sets the base of its direction: its own seq, not 0xdead.
    const synAck = seg({ ...S, seq: 900, ack: 101, flags: SYN | ACK });
    t.observe(synAck, 1);
    expect(t.relative(synAck.src, 80, synAck.dst, 40000, synAck.seq, synAck.ack)).toEqual({ seq: 0, ack: 1 });
    expect(t.relative(syn.src, 40000, syn.dst, 80, 101, 901)).toEqual({ seq: 1, ack: 1 });
  });

  it('drops both directions on RST after the linger, and is bounded in size', () => {
    const t = new RelativeSeqTable({ closeLingerMs: 0, maxFlows: 4 });
    t.observe(seg({ ...C, seq: 100, flags: SYN }), 0);
    t.observe(seg({ ...S, seq: 900, ack: 101, flags: SYN | ACK }), 0);
    t.observe(seg({ ...C, seq: 101, flags: RST }), 1);
    t.observe(seg({ ...C, seq: 5000, flags: SYN }), 2);
    expect(t.relative(0x0a4d0001, 40000, 0x0a4d0002, 80, 5001, 900).seq).toBe(1);
    for (let port = 1; port <= 10; port++) t.observe(seg({ ...C, sport: port, seq: port, flags: SYN }), 3);
    expect(t.size).toBe(4);
  });
});
