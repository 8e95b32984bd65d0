/**
 * The owned-storage pieces under the receive path: util/owned-bytes.ts (ByteQueue, SlabCopier,
 * retainable) and the Reassembly's owned, merged ranges with their budget charge.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteQueue, SlabCopier, ownsStorage, retainable } from '../../src/util/owned-bytes.ts';
import { RANGE_COST, Reassembly } from '../../src/tcp/reassembly.ts';
import { RxBudget } from '../../src/tcp/rx-budget.ts';
import { seqAdd } from '../../src/wire/seq.ts';

/** `data` as a view into a fresh 256 KiB ArrayBuffer (what the TUN device hands out). */
function inChunk(data: Uint8Array): Uint8Array {
  const v = new Uint8Array(new ArrayBuffer(256 * 1024), 1000, data.length);
  v.set(data);
  return v;
}

describe('owned bytes', () => {
  it('retainable copies a small view of a large buffer and keeps a view that spans its own', () => {
    const small = inChunk(Uint8Array.of(1, 2, 3));
    const r = retainable(small);
    expect(ownsStorage(small)).toBe(false);
    expect(r.buffer).not.toBe(small.buffer);
    expect(r.buffer.byteLength).toBe(3);
    expect([...r]).toEqual([1, 2, 3]);
    const own = new Uint8Array(1500);
    expect(retainable(own).buffer).toBe(own.buffer);
  });

  it('ByteQueue: 2,048 one-byte pieces come out in order from a few owned blocks', () => {
    const q = new ByteQueue();
    const chunk = new Uint8Array(256 * 1024); // one device chunk, a packet every 64 bytes
    for (let i = 0; i < 2048; i++) {
      chunk[i * 64] = i & 0xff;
      q.push(chunk.subarray(i * 64, i * 64 + 1));
    }
    expect(q.bytes).toBe(2048);
    const out = q.drain();
    expect(out.length).toBeLessThanOrEqual(8);
    const buffers = new Set(out.map((c) => c.buffer));
    expect(buffers.has(chunk.buffer)).toBe(false);
    let storage = 0;
    for (const b of buffers) storage += b.byteLength;
    expect(storage).toBeLessThanOrEqual(2 * 2048 + 16 * 1024);
    const all = Buffer.concat(out);
    expect(all.length).toBe(2048);
    for (let i = 0; i < 2048; i++) expect(all[i]).toBe(i & 0xff);
    expect(q.isEmpty).toBe(true);
  });

  it('ByteQueue: large pieces are kept whole, interleaved with small ones, in order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.boolean()), { maxLength: 60 }), (ops) => {
        const q = new ByteQueue();
        const expected: number[] = [];
        const got: number[] = [];
        let v = 0;
        for (const [n, take] of ops) {
          const piece = new Uint8Array(n);
          for (let i = 0; i < n; i++) piece[i] = v++ & 0xff;
          expected.push(...piece);
          q.push(inChunk(piece));
          if (take) {
            const c = q.shift();
            if (c !== undefined) got.push(...c);
          }
        }
        for (const c of q.drain()) {
          expect(c.buffer.byteLength).toBeLessThan(256 * 1024);
          got.push(...c);
        }
        expect(got).toEqual(expected);
        expect(q.bytes).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('SlabCopier packs small copies into blocks of its own', () => {
    const s = new SlabCopier();
    const copies = Array.from({ length: 100 }, (_, i) => s.copy(inChunk(Uint8Array.of(i)), i));
    expect(new Set(copies.map((c) => c.buffer)).size).toBeLessThanOrEqual(3);
    expect(copies.map((c) => c[0])).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const c of copies) expect(c.buffer.byteLength).toBeLessThanOrEqual(16 * 1024);
  });
});

describe('Reassembly in owned storage', () => {
  it('keeps no view of a received buffer, merges neighbours, and charges bytes + RANGE_COST per range', () => {
    const budget = new RxBudget({ oooPerConnection: 1 << 20, oooTotal: 1 << 20, rcvTotal: 1 << 20 });
    const r = new Reassembly(512, budget);
    const data = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
    for (let k = 1; k < 64; k += 2) r.insert(1000 + k, inChunk(data.subarray(k, k + 1)));
    expect(r.segments).toBe(32);
    expect(budget.oooHeld).toBe(32 * (1 + RANGE_COST));
    for (let k = 62; k >= 2; k -= 2) r.insert(1000 + k, inChunk(data.subarray(k, k + 1)));
    expect(r.segments).toBe(1);
    expect(r.bytes).toBe(63);
    expect(budget.oooHeld).toBe(63 + RANGE_COST);
    const run = r.takeAt(1001)!;
    expect([...run]).toEqual([...data.subarray(1)]);
    expect(run.buffer.byteLength).toBeLessThanOrEqual(2 * 64 + 64);
    expect(budget.oooHeld).toBe(0);
  });

  it('any arrival order of views into large buffers: exact bytes, owned storage, budget back to 0 (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(300), fc.integer({ min: 1, max: 60 })), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        (pieces, base0) => {
          const base = base0 >>> 0;
          const data = Uint8Array.from({ length: 360 }, (_, i) => (i * 7) & 0xff);
          const budget = new RxBudget({ oooPerConnection: 1 << 20, oooTotal: 1 << 20, rcvTotal: 1 << 20 });
          const r = new Reassembly(1000, budget);
          for (const [off, len] of pieces) {
            const end = Math.min(360, off + 1 + len);
            r.insert(seqAdd(base, off + 1), inChunk(data.subarray(off + 1, end)));
          }
          expect(budget.oooHeld).toBe(r.bytes + r.segments * RANGE_COST);
          r.insert(base, data.subarray(0, 1));
          const out: number[] = [];
          let nxt = base;
          for (let d = r.takeAt(nxt); d !== undefined; d = r.takeAt(nxt)) {
            expect(d.buffer.byteLength).toBeLessThan(256 * 1024);
            out.push(...d);
            nxt = seqAdd(nxt, d.length);
          }
          expect(out).toEqual([...data.subarray(0, out.length)]);
          r.clear();
          expect(budget.oooHeld).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
