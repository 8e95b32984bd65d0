import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createIpv4Counters } from '../../src/ip/counters.ts';
import { Reassembler, type ReassemblyOptions } from '../../src/ip/reassembly.ts';
import { checkIpv4, parseIpv4, serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { ECHO_REQUEST_4028_FRAG0, ECHO_REQUEST_4028_FRAG1, ECHO_REQUEST_4028_FRAG2 } from '../fixtures/linux-packets.ts';
import { A, B, datagram, fragment, fragments } from './helpers.ts';
import { pattern } from '../helpers/pattern.ts';
import { ok } from '../wire/helpers.ts';

function setup(opts: ReassemblyOptions = {}) {
  const counters = createIpv4Counters();
  const timeouts: Uint8Array[] = [];
  const r = new Reassembler(opts, counters, (_now, first) => timeouts.push(first));
  return { r, counters, timeouts };
}

const LINUX = [ECHO_REQUEST_4028_FRAG0, ECHO_REQUEST_4028_FRAG1, ECHO_REQUEST_4028_FRAG2];

/** The datagram Linux fragmented: fragment zero's header with the whole length, and all the data. */
function linuxWhole(): Uint8Array {
  const payload = new Uint8Array(4008);
  for (const f of LINUX) {
    const p = ok(parseIpv4(f));
    payload.set(p.payload, p.fragmentOffset);
  }
  return datagram(payload, { id: 271, protocol: 1 });
}

describe('Reassembler', () => {
  it('reassembles the Linux 4028-byte ping in order', () => {
    const { r, counters } = setup();
    expect(r.add(0, LINUX[0]!)).toBeUndefined();
    expect(r.add(1, LINUX[1]!)).toBeUndefined();
    const whole = r.add(2, LINUX[2]!);
    expect(whole).toBeDefined();
    expect(checkIpv4(whole!)).toBeUndefined();
    expect([...whole!]).toEqual([...linuxWhole()]);
    expect(ok(parseIpv4(whole!)).totalLength).toBe(4028);
    expect(counters.reasmOk).toBe(1);
    expect(r.pending).toBe(0);
    expect(r.bytes).toBe(0);
  });

  it('reassembles reversed', () => {
    const { r } = setup();
    expect(r.add(0, LINUX[2]!)).toBeUndefined();
    expect(r.add(0, LINUX[1]!)).toBeUndefined();
    expect([...r.add(0, LINUX[0]!)!]).toEqual([...linuxWhole()]);
  });

  it('reassembles any order of any fragmentation (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 9, max: 3000 }),
        fc.integer({ min: 1, max: 64 }).map((n) => n * 8),
        fc.integer({ min: 0, max: 0xffff }),
        (len, size, seed) => {
          const payload = pattern(len, seed);
          const frags = fragments(payload, size, { id: seed });
          fc.pre(frags.length > 1);
          // A seeded shuffle.
          const order = frags.map((f, i) => ({ f, k: (i * 7919 + seed) % 10007 })).sort((a, b) => a.k - b.k);
          const { r } = setup();
          let whole: Uint8Array | undefined;
          order.forEach(({ f }, i) => {
            const out = r.add(0, f);
            if (i < order.length - 1) expect(out).toBeUndefined();
            else whole = out;
          });
          expect(whole).toBeDefined();
          expect([...ok(parseIpv4(whole!)).payload]).toEqual([...payload]);
          expect(r.bytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ignores exact duplicates', () => {
    const { r, counters } = setup();
    r.add(0, LINUX[0]!);
    r.add(0, LINUX[1]!);
    expect(r.add(0, LINUX[1]!)).toBeUndefined();
    expect(r.add(0, LINUX[0]!)).toBeUndefined();
    expect(counters.reasmDuplicates).toBe(2);
    expect([...r.add(0, LINUX[2]!)!]).toEqual([...linuxWhole()]);
  });

  it('drops the whole datagram on an overlap (RFC 5722 policy)', () => {
    const payload = pattern(64);
    const { r, counters } = setup();
    r.add(0, fragment(payload, 0, 24, true));
    expect(r.add(0, fragment(payload, 16, 40, true))).toBeUndefined(); // overlaps [16, 24)
    expect(counters.reasmOverlap).toBe(1);
    expect(r.pending).toBe(0);
    // Later fragments start a new attempt, which cannot complete without fragment zero.
    expect(r.add(0, fragment(payload, 24, 64, false))).toBeUndefined();
    expect(r.pending).toBe(1);
  });

  it('drops on an overlap with the following fragment too', () => {
    const payload = pattern(64);
    const { r, counters } = setup();
    r.add(0, fragment(payload, 32, 64, false));
    r.add(0, fragment(payload, 0, 40, true));
    expect(counters.reasmOverlap).toBe(1);
    expect(r.pending).toBe(0);
  });

  it('drops inconsistent ends', () => {
    const payload = pattern(64);
    const { r, counters } = setup();
    r.add(0, fragment(payload, 32, 64, false));
    r.add(0, fragment(payload, 16, 48, false)); // a second, different end
    expect(counters.reasmInconsistent).toBe(1);
    expect(r.pending).toBe(0);
    const s2 = setup();
    s2.r.add(0, fragment(payload, 16, 32, false, { id: 9 }));
    s2.r.add(0, fragment(payload, 32, 48, true, { id: 9 })); // data past the end
    expect(s2.counters.reasmInconsistent).toBe(1);
    expect(s2.r.pending).toBe(0);
  });

  it('keeps datagrams apart by (src, dst, protocol, id)', () => {
    const p1 = pattern(32, 1);
    const p2 = pattern(32, 2);
    const { r } = setup();
    r.add(0, fragment(p1, 0, 16, true, { id: 5 }));
    r.add(0, fragment(p2, 0, 16, true, { id: 5, protocol: 17 }));
    r.add(0, fragment(p2, 16, 32, false, { id: 5, src: 0x0a4d0003 }));
    expect(r.pending).toBe(3);
    const w = r.add(0, fragment(p1, 16, 32, false, { id: 5 }));
    expect([...ok(parseIpv4(w!)).payload]).toEqual([...p1]);
  });

  it('times out after 30 s; hands out fragment zero for the ICMP time exceeded', () => {
    const { r, counters, timeouts } = setup();
    r.add(1000, LINUX[0]!);
    r.add(5000, LINUX[2]!);
    expect(r.pollAt()).toBe(31_000);
    r.poll(30_999);
    expect(r.pending).toBe(1);
    r.poll(31_000);
    expect(r.pending).toBe(0);
    expect(counters.reasmTimeout).toBe(1);
    expect(timeouts.map((t) => [...t])).toEqual([[...LINUX[0]!.subarray(0, 28)]]);
    expect(r.pollAt()).toBeUndefined();
    expect(r.bytes).toBe(0);
  });

  it('times out silently without fragment zero, oldest first', () => {
    const { r, timeouts } = setup({ timeoutMs: 100 });
    const payload = pattern(64);
    r.add(0, fragment(payload, 8, 16, true, { id: 1 }));
    r.add(50, fragment(payload, 8, 16, true, { id: 2 }));
    expect(r.pollAt()).toBe(100);
    r.poll(120);
    expect(r.pending).toBe(1);
    expect(r.pollAt()).toBe(150);
    r.poll(150);
    expect(timeouts).toEqual([]);
  });

  it('bounds the number of datagrams in progress (evicts the oldest)', () => {
    const { r, counters } = setup({ maxDatagrams: 3 });
    const payload = pattern(64);
    for (let id = 1; id <= 5; id++) r.add(id, fragment(payload, 0, 16, true, { id }));
    expect(r.pending).toBe(3);
    expect(counters.reasmOverflow).toBe(2);
    // id 1 was evicted: its last fragment alone cannot complete it
    expect(r.add(10, fragment(payload, 16, 64, false, { id: 1 }))).toBeUndefined();
    // id 5 survives
    expect(r.add(10, fragment(payload, 16, 64, false, { id: 5 }))).toBeDefined();
  });

  it('bounds the bytes held (data copied, plus header + 8 bytes of fragment zero)', () => {
    const { r, counters } = setup({ maxBytes: 3100 });
    const payload = pattern(4000);
    r.add(0, fragment(payload, 0, 1480, true, { id: 1 })); // 1480 + 28 held
    r.add(0, fragment(payload, 0, 1480, true, { id: 2 })); // 3016 held
    expect(r.bytes).toBe(3016);
    expect(counters.reasmOverflow).toBe(0);
    r.add(0, fragment(payload, 1480, 2960, true, { id: 2 })); // 4496 > 3100: evict id 1
    expect(counters.reasmOverflow).toBe(1);
    expect(r.pending).toBe(1);
    expect(r.bytes).toBe(2988);
    r.add(0, fragment(payload, 2960, 3968, true, { id: 2 })); // alone over the limit: give up
    expect(counters.reasmOverflow).toBe(2);
    expect(r.pending).toBe(0);
    expect(r.bytes).toBe(0);
  });

  it('does not keep views into the device buffer', () => {
    const { r } = setup();
    const payload = pattern(64);
    const f0 = fragment(payload, 0, 32, true);
    r.add(0, f0);
    f0.fill(0); // the device may not reuse memory, but if anything scribbled on it...
    const whole = r.add(0, fragment(payload, 32, 64, false));
    expect([...ok(parseIpv4(whole!)).payload]).toEqual([...payload]);
  });

  it('refuses a reassembled datagram over 65535 bytes', () => {
    const { r, counters } = setup();
    const payload = pattern(65515);
    // Fragment zero has 40 bytes of options (header 60); the others have plain 20-byte headers. Each
    // fragment passes the parser (offset + its total length <= 65535), but the whole would be
    // 60 + 65515 = 65575 bytes.
    const first = new Uint8Array(60 + 32760);
    first.set(payload.subarray(0, 32760), 60);
    serializeIpv4Header(
      { totalLength: first.length, identification: 1, moreFragments: true, ttl: 64, protocol: 99, src: A, dst: B, options: new Uint8Array(40).fill(1) },
      first,
      0,
    );
    const last = fragment(payload, 32760, 65515, false);
    expect(checkIpv4(first)).toBeUndefined();
    expect(checkIpv4(last)).toBeUndefined();
    expect(r.add(0, last)).toBeUndefined();
    expect(r.add(0, first)).toBeUndefined();
    expect(counters.reasmInconsistent).toBe(1);
    expect(counters.reasmOk).toBe(0);
    expect(r.pending).toBe(0);
  });
});
