import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inWindow, seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin, seqSub } from '../../src/wire/seq.ts';

describe('sequence arithmetic mod 2^32', () => {
  it('adds with wraparound', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
    expect(seqAdd(5, -10)).toBe(0xfffffffb);
  });
  it('subtracts to a signed distance', () => {
    expect(seqSub(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqSub(0xfffffff0, 0x10)).toBe(-0x20);
    expect(seqSub(7, 7)).toBe(0);
  });
  it('compares across the wrap', () => {
    expect(seqLt(0xffffffff, 0)).toBe(true);
    expect(seqGt(0, 0xffffffff)).toBe(true);
    expect(seqLe(3, 3)).toBe(true);
    expect(seqGe(3, 3)).toBe(true);
    expect(seqLt(3, 3)).toBe(false);
    expect(seqMax(0xfffffffe, 2)).toBe(2);
    expect(seqMin(0xfffffffe, 2)).toBe(0xfffffffe);
  });
  it('inWindow is half-open and wraps', () => {
    expect(inWindow(0xfffffffe, 0xfffffffe, 4)).toBe(true);
    expect(inWindow(1, 0xfffffffe, 4)).toBe(true);
    expect(inWindow(2, 0xfffffffe, 4)).toBe(false);
    expect(inWindow(0xfffffffd, 0xfffffffe, 4)).toBe(false);
    expect(inWindow(5, 5, 0)).toBe(false);
  });
  it('a + n is after a for 0 < n < 2^31 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 0x7fffffff }), (a, n) => {
        const b = seqAdd(a, n);
        return seqLt(a, b) && seqGt(b, a) && seqSub(b, a) === n && inWindow(a, a, n) && !inWindow(b, a, n);
      }),
    );
  });
});
