import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RttEstimator } from '../../src/tcp/rtt.ts';
import { NewReno, initialWindow } from '../../src/tcp/cc/newreno.ts';
import type { AckEvent } from '../../src/tcp/congestion-control.ts';
import { newCounters } from '../../src/tcp/counters.ts';
import { newAckInfo } from '../../src/tcp/recovery.ts';
import { RenoRecovery } from '../../src/tcp/recovery-reno.ts';
import { Sender } from '../../src/tcp/sender.ts';
import { Timestamps } from '../../src/tcp/timestamps.ts';
import { Reassembly } from '../../src/tcp/reassembly.ts';
import { SendBuffer } from '../../src/tcp/send-buffer.ts';
import { TimerHeap } from '../../src/tcp/timer-heap.ts';
import { TupleMap, remoteKey } from '../../src/tcp/tuple.ts';
import { IsnGenerator, keyedHash32, keyedTupleHash32, sipHash24 } from '../../src/tcp/isn.ts';
import { Receiver } from '../../src/tcp/receiver.ts';
import { seqAdd } from '../../src/wire/seq.ts';

function ack(acked: number): AckEvent {
  return { now: 0, ack: 0, sndNxt: 0, acked, rttMs: undefined, srttMs: undefined, flight: 0, appLimited: false };
}

describe('RttEstimator (RFC 6298)', () => {
  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR (floored at the minimum)', () => {
    const r = new RttEstimator({ minRtoMs: 200 });
    expect(r.rto).toBe(1000); // §2.1 before any sample
    r.sample(100);
    expect(r.srtt).toBe(100);
    expect(r.rttvar).toBe(50);
    expect(r.rto).toBe(300);
    r.sample(200); // RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
    expect(r.rttvar).toBe(62.5);
    expect(r.srtt).toBe(112.5);
    expect(r.rto).toBe(362.5);
    const small = new RttEstimator({ minRtoMs: 200 });
    small.sample(2);
    expect(small.rto).toBe(200);
  });
  it('backs off by doubling up to the maximum; a new sample resets it', () => {
    const r = new RttEstimator({ minRtoMs: 200, maxRtoMs: 1000 });
    r.sample(10);
    const seen = [r.rto];
    for (let i = 0; i < 5; i++) {
      r.backoff();
      seen.push(r.rto);
    }
    expect(seen).toEqual([200, 400, 800, 1000, 1000, 1000]);
    r.sample(10);
    expect(r.rto).toBe(200);
  });
});

describe('NewReno window arithmetic (RFC 5681, 6928, 3465)', () => {
  it('initial window is min(10*MSS, max(2*MSS, 14600))', () => {
    expect(initialWindow(1460)).toBe(14600);
    expect(initialWindow(536)).toBe(5360);
    expect(initialWindow(8960)).toBe(17920);
    expect(new NewReno(1000).cwnd).toBe(10_000);
  });
  it('slow start grows by the bytes ACKed, at most 2 MSS per ACK (RFC 3465 L = 2) and not past ssthresh', () => {
    const c = new NewReno(1000);
    c.onAck(ack(500)); // a small ACK: its bytes
    expect(c.cwnd).toBe(10_500);
    c.onAck(ack(45_000)); // a stretch ACK for 45 segments (a GRO receiver): 2 MSS
    expect(c.cwnd).toBe(12_500);
    c.onLoss(0, 20_000); // ssthresh = flight / 2, the flight no more than cwnd: 12_500 / 2
    expect(c.ssthresh).toBe(6250);
    expect(c.cwnd).toBe(6250);
    c.onRecoveryEnd(0);
    expect(c.cwnd).toBe(6250);
  });
  it('a loss halves the flight when it is below cwnd, and cwnd when SACKed data makes it larger', () => {
    const c = new NewReno(1000); // cwnd 10 segments
    c.onLoss(0, 8000); // an application-limited flight: FlightSize / 2 (RFC 5681 §3.2 eq. 4)
    expect(c.ssthresh).toBe(4000);
    const d = new NewReno(1000);
    d.onLoss(0, 40_000); // 40 segments outstanding behind a hole, most of them SACKed: cwnd / 2
    expect(d.ssthresh).toBe(5000);
    d.onRecoveryEnd(0);
    expect(d.cwnd).toBe(5000); // a loss never raises the window
  });
  it('congestion avoidance grows by one MSS per window of ACKed bytes', () => {
    const c = new NewReno(1000);
    c.onLoss(0, 8000);
    c.onRecoveryEnd(0);
    expect(c.cwnd).toBe(4000);
    for (let i = 0; i < 3; i++) c.onAck(ack(1000));
    expect(c.cwnd).toBe(4000);
    c.onAck(ack(1000));
    expect(c.cwnd).toBe(5000);
  });
  it('recovery end may be capped against a burst (RFC 6582 §3.2 step 3, option 1)', () => {
    const c = new NewReno(1000);
    c.onLoss(0, 20_000);
    c.onRecoveryEnd(0, 4000);
    expect(c.cwnd).toBe(4000);
  });
  it('timeout: cwnd = 1 MSS, ssthresh = max(flight/2, 2 MSS); undo restores both', () => {
    const c = new NewReno(1000);
    c.onRto(0, 3000, true);
    expect(c.cwnd).toBe(1000);
    expect(c.ssthresh).toBe(2000);
    c.undo(0);
    expect(c.cwnd).toBe(10_000);
    expect(c.ssthresh).toBe(0x7fffffff);
  });
});

describe('RenoRecovery (RFC 5681 §3.2, RFC 6582, RFC 3042)', () => {
  it('limited transmit twice, fast retransmit on the third duplicate ACK, inflation, partial and full ACK', () => {
    const snd = new Sender(100_000);
    snd.init(0);
    snd.synAcked(1);
    snd.mss = 1000;
    snd.write(new Uint8Array(20_000));
    snd.onSent(0, 1, 10_001, false, false); // ten segments in flight
    const cc = new NewReno(1000);
    const rec = new RenoRecovery({ snd, cc, rtt: new RttEstimator(), ts: new Timestamps(0), counters: newCounters() });
    const a = newAckInfo();
    Object.assign(a, { ack: 1, oldUna: 1, flight: 10_000, plainDup: true });
    rec.onAck(a, false);
    expect(rec.limitedTransmit()).toBe(1000);
    rec.onAck(a, false);
    expect(rec.limitedTransmit()).toBe(2000);
    expect(rec.takeRetransmitHead()).toBe(false);
    rec.onAck(a, false);
    expect(rec.inRecovery).toBe(true);
    expect(cc.ssthresh).toBe(5000);
    expect(rec.window()).toBe(8000); // ssthresh + 3 SMSS
    expect(rec.takeRetransmitHead()).toBe(true);
    rec.onAck(a, false);
    expect(rec.window()).toBe(9000); // inflated by one SMSS per further duplicate
    // A partial ACK: stay in recovery, deflate by the acked amount, add one MSS back, retransmit.
    snd.ackTo(3001);
    Object.assign(a, { ack: 3001, oldUna: 1, flight: 10_000, plainDup: false });
    expect(rec.onAck(a, true)).toBe(false);
    expect(rec.window()).toBe(7000);
    expect(rec.inRecovery).toBe(true);
    expect(rec.takeRetransmitHead()).toBe(true);
    // The full ACK: leave recovery, cwnd = min(ssthresh, max(flight, MSS) + MSS).
    snd.ackTo(10_001);
    Object.assign(a, { ack: 10_001, oldUna: 3001, flight: 7000 });
    expect(rec.onAck(a, true)).toBe(false);
    expect(rec.inRecovery).toBe(false);
    expect(cc.cwnd).toBe(5000);
    expect(rec.window()).toBe(5000);
  });
});

describe('Reassembly', () => {
  const bytes = (s: string) => Buffer.from(s);
  it('holds out-of-order pieces, trims overlaps, and releases contiguous runs', () => {
    const r = new Reassembly();
    expect(r.insert(110, bytes('klmno'))).toBe(true);
    expect(r.insert(105, bytes('fghijklm'))).toBe(true); // overlaps the held piece: only fghij is new
    expect(r.bytes).toBe(10);
    expect(r.blocks(4)).toEqual([[105, 115]]);
    expect(r.segments).toBe(1); // adjacent pieces are merged into one owned range
    expect(r.takeAt(100)).toBeUndefined();
    expect(Buffer.from(r.takeAt(105)!).toString()).toBe('fghijklmno');
    expect(r.isEmpty).toBe(true);
  });
  it('drops what lies before RCV.NXT and returns the tail of a straddling piece', () => {
    const r = new Reassembly();
    r.insert(10, bytes('abcdef'));
    r.insert(30, bytes('xyz'));
    expect(Buffer.from(r.takeAt(13)!).toString()).toBe('def');
    expect(r.takeAt(40)).toBeUndefined();
    expect(r.isEmpty).toBe(true);
  });
  it('works across the sequence wrap and respects its segment bound', () => {
    const r = new Reassembly(2);
    expect(r.insert(0xfffffffe, bytes('ab'))).toBe(true);
    expect(r.insert(2, bytes('ef'))).toBe(true);
    expect(r.insert(10, bytes('zz'))).toBe(false);
    expect(r.dropReason).toBe('ooo-ranges');
    // A piece that joins held ranges needs no new one: 'cd' bridges 'ab' and 'ef' across the wrap.
    expect(r.insert(0, bytes('cd'))).toBe(true);
    expect(r.segments).toBe(1);
    expect(Buffer.from(r.takeAt(0xfffffffe)!).toString()).toBe('abcdef');
  });
  it('reassembles any arrival order to the original bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 30 }), fc.nat(), (pieces, base0) => {
        const base = base0 >>> 0;
        const data = Uint8Array.from({ length: 260 }, (_, i) => i & 0xff);
        const r = new Reassembly(1000);
        for (const [off, len] of pieces) r.insert(seqAdd(base, off + 1), data.subarray(off + 1, Math.min(260, off + 1 + len)));
        r.insert(base, data.subarray(0, 1));
        const out: number[] = [];
        let nxt = base;
        for (let d = r.takeAt(nxt); d !== undefined; d = r.takeAt(nxt)) {
          out.push(...d);
          nxt = seqAdd(nxt, d.length);
        }
        return out.every((v, i) => v === data[i]);
      }),
    );
  });
});

describe('SendBuffer', () => {
  it('is bounded, reads ranges across chunks, and releases acknowledged bytes', () => {
    const b = new SendBuffer(10);
    expect(b.write(Buffer.from('abcd'))).toBe(4);
    expect(b.write(Buffer.from('efghijkl'))).toBe(6);
    expect(b.free).toBe(0);
    expect(Buffer.from(b.read(2, 5)).toString()).toBe('cdefg');
    expect(Buffer.from(b.read(4, 2)).toString()).toBe('ef');
    b.consume(5);
    expect(b.size).toBe(5);
    expect(Buffer.from(b.read(0, 5)).toString()).toBe('fghij');
    expect(b.write(Buffer.from('XYZ'))).toBe(3);
    expect(Buffer.from(b.read(3, 5)).toString()).toBe('ijXYZ');
  });
  it('random writes, reads and consumes agree with a flat model (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 50 }), fc.nat()), { maxLength: 100 }), (ops) => {
        const b = new SendBuffer(200);
        let model: number[] = [];
        let counter = 0;
        for (const [op, n, x] of ops) {
          if (op === 0) {
            const chunk = Uint8Array.from({ length: n }, () => counter++ & 0xff);
            const took = b.write(chunk);
            model.push(...chunk.subarray(0, took));
          } else if (op === 1 && model.length > 0) {
            const off = x % model.length;
            const len = Math.min(n, model.length - off);
            if (!b.read(off, len).every((v, i) => v === model[off + i])) return false;
          } else if (op === 2) {
            const k = Math.min(n, model.length);
            b.consume(k);
            model = model.slice(k);
          }
          if (b.size !== model.length) return false;
        }
        return true;
      }),
    );
  });
});

describe('TimerHeap', () => {
  it('pops due items in deadline order, skipping stale entries', () => {
    const h = new TimerHeap<{ timerAt: number; name: string }>();
    const a = { timerAt: Infinity, name: 'a' };
    const b = { timerAt: Infinity, name: 'b' };
    const c = { timerAt: Infinity, name: 'c' };
    h.schedule(a, 30);
    h.schedule(b, 10);
    h.schedule(c, 20);
    h.schedule(b, 40); // re-armed: the entry at 10 is stale
    expect(h.peek()).toBe(20);
    expect(h.popDue(35)?.name).toBe('c');
    expect(h.popDue(35)?.name).toBe('a');
    expect(h.popDue(35)).toBeUndefined();
    expect(h.peek()).toBe(40);
    h.schedule(b, Infinity);
    expect(h.peek()).toBe(Infinity);
  });
  it('compacts stale entries', () => {
    const h = new TimerHeap<{ timerAt: number }>();
    const x = { timerAt: Infinity };
    for (let i = 0; i < 5000; i++) h.schedule(x, 1000 + i);
    h.compact(1);
    expect(h.size).toBe(1);
    expect(h.peek()).toBe(5999);
  });
});

describe('TupleMap', () => {
  it('tells apart connections that share the remote endpoint', () => {
    const m = new TupleMap<string>();
    m.set(0x0a000001, 5000, 80, 'web');
    m.set(0x0a000001, 5000, 7, 'echo');
    m.set(0x0a000002, 5000, 80, 'other');
    expect(m.get(0x0a000001, 5000, 80)).toBe('web');
    expect(m.get(0x0a000001, 5000, 7)).toBe('echo');
    expect(m.get(0x0a000001, 5001, 80)).toBeUndefined();
    expect(m.size).toBe(3);
    expect(m.delete(0x0a000001, 5000, 80, 'web')).toBe(true);
    expect(m.get(0x0a000001, 5000, 7)).toBe('echo');
    expect([...m.values()].sort()).toEqual(['echo', 'other']);
    expect(remoteKey(0xffffffff, 0xffff)).toBe(0xffffffff * 65536 + 0xffff);
  });
});

describe('IsnGenerator (RFC 6528)', () => {
  it('is keyed by the 4-tuple and advances with a 4 µs clock', () => {
    const key = new Uint8Array(16).fill(7);
    const g = new IsnGenerator(key);
    const a = g.isn(0, 1, 2, 3, 4);
    expect(new IsnGenerator(key).isn(0, 1, 2, 3, 4)).toBe(a);
    expect(g.isn(1, 1, 2, 3, 4)).toBe((a + 250) >>> 0); // 1 ms = 250 ticks of 4 µs
    expect(g.isn(0, 1, 2, 3, 5)).not.toBe(a);
    expect(new IsnGenerator(new Uint8Array(16).fill(8)).isn(0, 1, 2, 3, 4)).not.toBe(a);
  });
});

describe('sipHash24 (the keyed hash of ISNs, timestamp and port offsets, SYN cookies)', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  const hex = (w: Uint32Array): string => w[1]!.toString(16).padStart(8, '0') + w[0]!.toString(16).padStart(8, '0');
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

  it("gives SipHash-2-4's published test outputs (key 00..0f, messages 00..)", () => {
    expect(hex(sipHash24(key, bytes(0)))).toBe('726fdb47dd0e0e31');
    expect(hex(sipHash24(key, bytes(1)))).toBe('74f839c593dc67fd');
    expect(hex(sipHash24(key, bytes(15)))).toBe('a129ca6149be45e5'); // the worked example of SipHash's specification
    // A whole word, the 12 bytes of an ISN's 4-tuple, and two whole words (the length byte alone in
    // a last word).
    expect(hex(sipHash24(key, bytes(8)))).toBe('93f5f5799a932462');
    expect(hex(sipHash24(key, bytes(12)))).toBe('751e8fbc860ee5fb');
    expect(hex(sipHash24(key, bytes(16)))).toBe('3f2acc7f57c29bdb');
  });

  it('keyedHash32 is its low half; tuples under different labels hash apart', () => {
    const low = sipHash24(key, bytes(15))[0]!;
    expect(keyedHash32(key, bytes(15))).toBe(low);
    expect(keyedTupleHash32(key, 1, 10, 80, 20, 1234)).not.toBe(keyedTupleHash32(key, 2, 10, 80, 20, 1234));
    expect(keyedTupleHash32(key, 1, 10, 80, 20, 1234)).toBe(keyedTupleHash32(key, 1, 10, 80, 20, 1234));
  });
});

describe('Receiver window (RFC 9293 §3.8.6.2.2)', () => {
  it('advertises the free space, never moves the right edge left, and avoids silly window updates', () => {
    const r = new Receiver(10000);
    r.rcvNxt = 1000;
    r.advRight = 1000;
    expect(r.windowField(1000, false)).toBe(10000);
    // 9500 bytes arrive and are not consumed.
    r.rcvNxt += 9500;
    r.buffered = 9500;
    expect(r.windowField(1000, false)).toBe(500);
    r.buffered = 9000; // 500 consumed: less than one MSS, the edge stays
    expect(r.windowField(1000, false)).toBe(500);
    expect(r.wantsWindowUpdate(1000)).toBe(false);
    r.buffered = 0; // the reader caught up
    expect(r.wantsWindowUpdate(1000)).toBe(true);
    expect(r.windowField(1000, false)).toBe(10000);
  });
  it('keeps accepting up to the furthest edge it offered when a rounded-down field retracts it', () => {
    // wscale 7: the field counts 128-byte units. A round-up offers 84 bytes past the buffer; once
    // the buffer is full the field is 0, but the peer may already have sent (and will ACK from) up
    // to that edge, and RCV.WND for the acceptability test must still reach it.
    const r = new Receiver(10000);
    r.wscale = 7;
    expect(r.windowField(1000, false)).toBe(78); // 9984 bytes, rounded down on a fresh buffer
    r.rcvNxt = 100;
    r.buffered = 100;
    expect(r.windowField(1000, false)).toBe(78); // rounded up: the edge 0 + 9984 moves to 100 + 9984
    expect(r.advRight).toBe(10084);
    r.rcvNxt = 10000;
    r.buffered = 10000; // full
    expect(r.windowField(1000, false)).toBe(0);
    expect(r.window).toBe(84); // not 0: [10000, 10084) was offered
    expect(r.advRight).toBe(10084);
  });
  it('scales the field and rounds without shrinking', () => {
    const r = new Receiver(1 << 20);
    r.wscale = 5;
    expect(r.windowField(1460, false)).toBe((1 << 20) >> 5);
    expect(r.windowField(1460, true)).toBe(65535); // never scaled in a SYN
  });
});

describe('SACK scoreboard', () => {
  it('merges blocks, ignores ones outside (una, sndMax], prunes on advance', async () => {
    const { Scoreboard } = await import('../../src/tcp/sack.ts');
    const sb = new Scoreboard();
    expect(sb.update([[2000, 3000], [5000, 6000]], 1000, 10000)).toBe(2000);
    expect(sb.update([[2500, 5000]], 1000, 10000)).toBe(2000); // bridges the two
    expect(sb.blocks()).toEqual([[2000, 6000]]);
    expect(sb.update([[20000, 30000], [500, 900]], 1000, 10000)).toBe(0);
    expect(sb.sackedAbove(1000)).toBe(4000);
    expect(sb.isSacked(2500)).toBe(true);
    expect(sb.isSacked(1500)).toBe(false);
    // the hole [1000, 2000) is presumed lost: >= 3 MSS SACKed above it
    expect(sb.nextLostHole(1000, 1000)).toEqual([1000, 1000]);
    expect(sb.nextLostHole(1000, 1500)).toBeUndefined();
    expect(sb.holeBytesAbove(1000)).toBe(1000);
    sb.advance(2500);
    expect(sb.bytes).toBe(3500);
    expect(sb.skipSacked(2600)).toBe(6000);
    sb.advance(7000);
    expect(sb.isEmpty).toBe(true);
    expect(sb.bytes).toBe(0);
  });
  it('works across the sequence wrap', async () => {
    const { Scoreboard } = await import('../../src/tcp/sack.ts');
    const sb = new Scoreboard();
    sb.update([[0xfffffff0, 0x10]], 0xffffffe0, 0x100);
    expect(sb.bytes).toBe(0x20);
    expect(sb.highest(0xffffffe0)).toBe(0x10);
  });
});

describe('send buffer autotuning (Sender.autotune, as Linux tcp_sndbuf_expand)', () => {
  it('grows to twice the congestion window, never past its maximum, never shrinks', () => {
    const s = new Sender(1 << 20, 4 << 20);
    expect(s.buf.capacity).toBe(1 << 20);
    s.autotune(256 * 1024); // twice the window fits already
    expect(s.buf.capacity).toBe(1 << 20);
    s.autotune(1536 * 1024);
    expect(s.buf.capacity).toBe(3 << 20);
    s.autotune(8 << 20);
    expect(s.buf.capacity).toBe(4 << 20);
    s.autotune(100_000);
    expect(s.buf.capacity).toBe(4 << 20);
    // What the owner may write follows the capacity.
    expect(s.buf.write(new Uint8Array(5 << 20))).toBe(4 << 20);
  });

  it('a buffer fixed by SO_SNDBUF (no maximum above it) stays as set', () => {
    const s = new Sender(64 * 1024);
    s.autotune(8 << 20);
    expect(s.buf.capacity).toBe(64 * 1024);
  });
});
