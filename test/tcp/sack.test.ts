import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SACK_MAX_RANGES, Scoreboard } from '../../src/tcp/sack.ts';
import { seqAdd } from '../../src/wire/seq.ts';

describe('Scoreboard: merging (byte granularity)', () => {
  it('merges overlapping, adjacent and bridging blocks, with exact byte counts', () => {
    const sb = new Scoreboard();
    expect(sb.update([[2000, 3000]], 1000, 10000)).toBe(1000);
    expect(sb.update([[3000, 3500]], 1000, 10000)).toBe(500); // adjacent: one range
    expect(sb.blocks()).toEqual([[2000, 3500]]);
    expect(sb.update([[5000, 6000], [7000, 8000]], 1000, 10000)).toBe(2000);
    expect(sb.update([[2500, 3200]], 1000, 10000)).toBe(0); // inside: nothing new
    expect(sb.update([[3400, 7500]], 1000, 10000)).toBe(2500); // bridges three ranges
    expect(sb.blocks()).toEqual([[2000, 8000]]);
    expect(sb.bytes).toBe(6000);
    expect(sb.ranges).toBe(1);
    expect(sb.lastIgnored).toBe(0);
    expect(sb.lastDropped).toBe(0);
  });

  it('keeps ranges sorted whatever the order of the blocks', () => {
    const sb = new Scoreboard();
    sb.update([[8000, 8100], [2000, 2100], [5000, 5100], [3000, 3100]], 1000, 10000);
    expect(sb.blocks()).toEqual([[2000, 2100], [3000, 3100], [5000, 5100], [8000, 8100]]);
    expect(sb.bytes).toBe(400);
    sb.update([[2050, 5050]], 1000, 10000);
    expect(sb.blocks()).toEqual([[2000, 5100], [8000, 8100]]);
    expect(sb.bytes).toBe(3200);
  });
});

describe('Scoreboard: nonsense blocks (RFC 2018 §4-§5)', () => {
  it('ignores and counts left >= right, beyond SND.MAX, at or below SND.UNA, larger than the flight', () => {
    const sb = new Scoreboard();
    const una = 1000;
    const max = 5000;
    expect(sb.update([[3000, 3000], [3000, 2000]], una, max, 100)).toBe(0);
    expect(sb.lastIgnored).toBe(2);
    expect(sb.update([[4000, 5001], [6000, 7000]], una, max, 100)).toBe(0); // beyond SND.MAX
    expect(sb.lastIgnored).toBe(2);
    expect(sb.update([[500, 1000], [200, 300]], una, max, 100)).toBe(0); // D-SACK-like, below SND.UNA
    expect(sb.lastIgnored).toBe(2);
    expect(sb.update([[seqAdd(una, -0x10000), 2000]], una, max, 100)).toBe(0); // larger than the flight
    expect(sb.lastIgnored).toBe(1);
    expect(sb.update([[seqAdd(una, 0x80000000), una]], una, max, 100)).toBe(0); // 2^31 apart: not ordered
    expect(sb.lastIgnored).toBe(1);
    expect(sb.isEmpty).toBe(true);
    // Straddling SND.UNA (a stale ACK's block): clipped, recorded, not counted as nonsense.
    expect(sb.update([[900, 1500]], una, max, 100)).toBe(500);
    expect(sb.lastIgnored).toBe(0);
    expect(sb.blocks()).toEqual([[1000, 1500]]);
  });
});

describe('Scoreboard: segment granularity', () => {
  const una = 1000;
  const max = 1000 + 100 * 1000;
  const g = 1000;

  it('does not record a range shorter than one segment, except the last segment', () => {
    const sb = new Scoreboard();
    expect(sb.update([[5000, 5001], [7000, 7999]], una, max, g)).toBe(0);
    expect(sb.lastDropped).toBe(2);
    expect(sb.isEmpty).toBe(true);
    expect(sb.update([[seqAdd(max, -10), max]], una, max, g)).toBe(10); // a short last segment
    expect(sb.lastDropped).toBe(0);
    expect(sb.update([[5000, 6000]], una, max, g)).toBe(1000);
    expect(sb.blocks()).toEqual([[5000, 6000], [max - 10, max]]);
  });

  it('lets no hole between two ranges be shorter than one segment: the new block is trimmed', () => {
    const sb = new Scoreboard();
    sb.update([[5000, 6000]], una, max, g);
    // 1-byte hole on the left of the new block: it starts one segment above the old range instead.
    expect(sb.update([[6001, 8000]], una, max, g)).toBe(1000);
    expect(sb.blocks()).toEqual([[5000, 6000], [7000, 8000]]);
    // 500-byte hole on the right: the new block ends one segment below the next range.
    expect(sb.update([[2000, 4500]], una, max, g)).toBe(2000);
    expect(sb.blocks()).toEqual([[2000, 4000], [5000, 6000], [7000, 8000]]);
    // Trimmed to less than a segment: not recorded at all.
    expect(sb.update([[6500, 6600]], una, max, g)).toBe(0);
    expect(sb.lastDropped).toBe(1);
    // Extending an existing range is fine as long as the hole beside it stays a segment wide.
    expect(sb.update([[8000, 8500]], una, max, g)).toBe(500);
    expect(sb.update([[4000, 4100]], una, max, g)).toBe(0); // would leave a 900-byte hole: trimmed to nothing new
    expect(sb.blocks()).toEqual([[2000, 4000], [5000, 6000], [7000, 8500]]);
    // Filling a hole completely merges (no hole is left to be too short).
    expect(sb.update([[4000, 5000]], una, max, g)).toBe(1000);
    expect(sb.blocks()).toEqual([[2000, 6000], [7000, 8500]]);
    expect(sb.bytes).toBe(5500);
  });

  it('records the blocks of a legitimate receiver (whole segments) exactly', () => {
    const sb = new Scoreboard();
    // Segments of 1000 from 1000; segments 0, 3, 4 and 9 lost.
    sb.update([[2000, 4000]], una, max, g);
    sb.update([[6000, 9000], [2000, 4000]], una, max, g);
    sb.update([[10000, 12000], [6000, 9000], [2000, 4000]], una, max, g);
    expect(sb.blocks()).toEqual([[2000, 4000], [6000, 9000], [10000, 12000]]);
    expect(sb.bytes).toBe(7000);
    expect(sb.nextLostHole(una, g)).toEqual([1000, 1000]);
    expect(sb.nextLostHole(2000, g)).toEqual([4000, 1000]);
    expect(sb.nextLostHole(5000, g)).toEqual([5000, 1000]);
    expect(sb.nextLostHole(6500, g)).toBeUndefined(); // the hole at 9000 has only 2000 SACKed above
  });

  it('1-byte SACKed ranges with 1-byte holes leave the scoreboard empty', () => {
    const sb = new Scoreboard();
    for (let k = 0; k < 1000; k++) {
      const l = una + 1 + 8 * k;
      sb.update([[l, l + 1], [l + 2, l + 3], [l + 4, l + 5], [l + 6, l + 7]], una, max, g);
      expect(sb.lastDropped).toBe(4);
    }
    expect(sb.isEmpty).toBe(true);
    expect(sb.bytes).toBe(0);
  });
});

describe('Scoreboard: the bound on ranges', () => {
  it('defaults to SACK_MAX_RANGES; a new range above the highest is dropped when full', () => {
    const sb = new Scoreboard();
    expect(sb.maxRanges).toBe(SACK_MAX_RANGES);
    const una = 0;
    const max = 10_000_000;
    for (let k = 0; k < SACK_MAX_RANGES + 50; k++) sb.update([[1000 + 2000 * k, 2000 + 2000 * k]], una, max, 1000);
    expect(sb.ranges).toBe(SACK_MAX_RANGES);
    expect(sb.bytes).toBe(SACK_MAX_RANGES * 1000);
    expect(sb.highest(una)).toBe(2000 * SACK_MAX_RANGES);
  });

  it('a new range below the highest replaces the highest', () => {
    const sb = new Scoreboard(3);
    expect(() => new Scoreboard(0)).toThrow(RangeError);
    sb.update([[3000, 4000], [5000, 6000], [7000, 8000]], 0, 100000, 1000);
    expect(sb.update([[9000, 10000]], 0, 100000, 1000)).toBe(0);
    expect(sb.lastDropped).toBe(1);
    expect(sb.update([[1000, 2000]], 0, 100000, 1000)).toBe(1000);
    expect(sb.blocks()).toEqual([[1000, 2000], [3000, 4000], [5000, 6000]]);
    expect(sb.bytes).toBe(3000);
    expect(sb.sackedAbove(0)).toBe(3000);
    // Merging never needs room.
    expect(sb.update([[2000, 3000]], 0, 100000, 1000)).toBe(1000);
    expect(sb.blocks()).toEqual([[1000, 4000], [5000, 6000]]);
  });
});

describe('Scoreboard: queries', () => {
  function board(): Scoreboard {
    const sb = new Scoreboard();
    sb.update([[2000, 3000], [5000, 7000], [9000, 9500]], 1000, 10000);
    return sb;
  }

  it('isSacked, sackedAbove, skipSacked, holeBytesAbove and highest return exact values', () => {
    const sb = board();
    expect([1999, 2000, 2999, 3000, 4999, 5000, 6999, 7000, 9499, 9500].map((s) => sb.isSacked(s))).toEqual([
      false, true, true, false, false, true, true, false, true, false,
    ]);
    expect(sb.sackedAbove(1000)).toBe(3500);
    expect(sb.sackedAbove(2500)).toBe(3000);
    expect(sb.sackedAbove(3000)).toBe(2500);
    expect(sb.sackedAbove(6000)).toBe(1500);
    expect(sb.sackedAbove(9400)).toBe(100);
    expect(sb.sackedAbove(9500)).toBe(0);
    expect(sb.skipSacked(1500)).toBe(1500);
    expect(sb.skipSacked(2000)).toBe(3000);
    expect(sb.skipSacked(6999)).toBe(7000);
    expect(sb.skipSacked(7000)).toBe(7000);
    expect(sb.holeBytesAbove(1000)).toBe(5000); // 1000-2000, 3000-5000, 7000-9000
    expect(sb.holeBytesAbove(5500)).toBe(2000);
    expect(sb.holeBytesAbove(9500)).toBe(0);
    expect(sb.highest(1000)).toBe(9500);
  });

  it('nextLostHole: one MSS from the hole, after enough SACKed data above it', () => {
    const sb = board();
    expect(sb.nextLostHole(1000, 1000)).toEqual([1000, 1000]);
    expect(sb.nextLostHole(2500, 500)).toEqual([3000, 500]); // from inside a range: its end
    expect(sb.nextLostHole(3000, 500)).toEqual([3000, 500]);
    expect(sb.nextLostHole(3000, 1000)).toBeUndefined(); // 2500 above < 3 * 1000
    expect(sb.nextLostHole(7000, 100)).toEqual([7000, 100]);
    expect(sb.nextLostHole(9000, 100)).toBeUndefined(); // nothing above the last range
    // A hole shorter than an MSS (at SND.UNA) still gets a full-size retransmission.
    expect(sb.nextLostHole(1990, 1000)).toEqual([1990, 1000]);
  });

  it('advance drops and trims ranges below SND.UNA; clear empties', () => {
    const sb = board();
    sb.advance(2500);
    expect(sb.blocks()).toEqual([[2500, 3000], [5000, 7000], [9000, 9500]]);
    expect(sb.bytes).toBe(3000);
    sb.advance(6000);
    expect(sb.blocks()).toEqual([[6000, 7000], [9000, 9500]]);
    expect(sb.bytes).toBe(1500);
    expect(sb.sackedAbove(6000)).toBe(1500);
    sb.advance(9500);
    expect(sb.isEmpty).toBe(true);
    expect(sb.bytes).toBe(0);
    const c = board();
    c.clear();
    expect(c.isEmpty).toBe(true);
    expect(c.bytes).toBe(0);
    expect(c.sackedAbove(0)).toBe(0);
    // Used again after a clear (and after advance emptied it): exact sums, nothing left over.
    expect(c.update([[2000, 2500]], 1000, 10000)).toBe(500);
    expect(c.bytes).toBe(500);
    expect(c.sackedAbove(1000)).toBe(500);
    expect(sb.update([[9600, 9700]], 9500, 10000)).toBe(100);
    expect(sb.bytes).toBe(100);
    expect(new Scoreboard().bytes).toBe(0);
  });

  it('works across the 2^32 wrap', () => {
    const sb = new Scoreboard();
    const una = 0xffffff00;
    sb.update([[0xffffff80, 0x80], [0x100, 0x200]], una, 0x1000, 0x80);
    expect(sb.blocks()).toEqual([[0xffffff80, 0x80], [0x100, 0x200]]);
    expect(sb.bytes).toBe(0x200);
    expect(sb.sackedAbove(una)).toBe(0x200);
    expect(sb.isSacked(0xffffffff)).toBe(true);
    expect(sb.nextLostHole(una, 0x80)).toEqual([una, 0x80]);
    expect(sb.nextLostHole(0, 0x40)).toEqual([0x80, 0x40]);
    sb.advance(0x10);
    expect(sb.blocks()).toEqual([[0x10, 0x80], [0x100, 0x200]]);
    expect(sb.bytes).toBe(0x170);
  });
});

describe('Scoreboard: properties against a byte map', () => {
  // Blocks inside a 4000-byte flight just below the 2^32 wrap; granularity 1 must match the byte
  // map exactly; with a coarser granularity every recorded byte must have been SACKed, no hole
  // between ranges may be shorter than it, and the bound holds.
  const base = 0xfffff800;
  const flight = 4000;
  const arb = fc.array(
    fc.tuple(fc.array(fc.tuple(fc.integer({ min: -200, max: flight + 200 }), fc.integer({ min: 0, max: 1500 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 300 })),
    { maxLength: 40 },
  );

  function check(ops: [[number, number][], number][], gran: number, cap: number): void {
    const sb = new Scoreboard(cap);
    const sacked = new Uint8Array(flight); // bytes the receiver reported, relative to base
    let una = 0;
    for (const [blocks, adv] of ops) {
      const wire = blocks.map(([l, len]): [number, number] => [seqAdd(base, l), seqAdd(base, l + len)]);
      const before = sb.bytes;
      const got = sb.update(wire, seqAdd(base, una), seqAdd(base, flight), gran);
      for (const [l, len] of blocks) {
        if (len === 0 || l + len > flight || l + len <= una || len > flight - una) continue;
        for (let x = Math.max(l, una); x < l + len; x++) sacked[x] = 1;
      }
      expect(sb.bytes - before).toBeLessThanOrEqual(got); // `got` never counts an eviction
      una = Math.min(flight - 1, una + adv);
      sb.advance(seqAdd(base, una));
      const ranges = sb.blocks().map(([s, e]) => [(s - base) >>> 0, (e - base) >>> 0] as const);
      expect(ranges.length).toBeLessThanOrEqual(cap);
      let total = 0;
      for (let k = 0; k < ranges.length; k++) {
        const [s, e] = ranges[k]!;
        expect(s).toBeGreaterThanOrEqual(una);
        expect(e).toBeGreaterThan(s);
        let unsacked = 0; // never more than was SACKed
        for (let x = s; x < e; x++) unsacked += 1 - sacked[x]!;
        expect(unsacked).toBe(0);
        if (k > 0) expect(s - ranges[k - 1]![1]).toBeGreaterThanOrEqual(gran);
        total += e - s;
      }
      expect(sb.bytes).toBe(total);
      for (const p of [una, una + 100, una + 1000, 2500, flight - 1]) {
        if (p < una) continue;
        let above = 0;
        for (const [s, e] of ranges) above += Math.max(0, e - Math.max(s, p));
        expect(sb.sackedAbove(seqAdd(base, p))).toBe(above);
        expect(sb.isSacked(seqAdd(base, p))).toBe(ranges.some(([s, e]) => s <= p && p < e));
      }
      if (gran === 1 && cap >= flight) {
        // Exact: the scoreboard is the byte map above SND.UNA.
        let expected = 0;
        for (let x = una; x < flight; x++) expected += sacked[x]!;
        expect(sb.bytes).toBe(expected);
      }
    }
  }

  it('byte granularity, no bound: exactly the reported bytes', () => {
    fc.assert(fc.property(arb, (ops) => check(ops, 1, 100000)), { seed: 10, numRuns: 150 });
  });

  it('segment granularity and a small bound: sound, holes >= one segment, bounded', () => {
    fc.assert(fc.property(arb, (ops) => check(ops, 300, 4)), { seed: 11, numRuns: 150 });
  });
});
