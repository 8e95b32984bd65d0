import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from '../../src/util/errors.ts';
import { codeOf, ok } from './helpers.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { IPV4_MIN_HEADER, checkIpv4, parseIpv4, serializeIpv4Header } from '../../src/wire/ipv4.ts';
import {
  ECHO_REQUEST,
  ECHO_REQUEST_4028_FRAG0,
  ECHO_REQUEST_4028_FRAG1,
  ECHO_REQUEST_4028_FRAG2,
  PROTO99_UNREACHABLE,
  UDP_TO_PORT_9,
  hex,
} from '../fixtures/linux-packets.ts';

const A = parseIpv4Address('10.77.0.1');
const B = parseIpv4Address('10.77.0.2');

/** Copy, change bytes, and fix the header checksum (so only the intended rule is broken). */
function mutate(pkt: Uint8Array, edits: Record<number, number>, fixChecksum = true): Uint8Array {
  const out = pkt.slice();
  for (const [k, v] of Object.entries(edits)) out[Number(k)] = v;
  if (fixChecksum) {
    const hl = Math.max(20, Math.min(60, (out[0]! & 0x0f) * 4, out.length));
    out[10] = 0;
    out[11] = 0;
    const sum = checksum(out, 0, Math.min(hl, out.length));
    out[10] = sum >>> 8;
    out[11] = sum & 0xff;
  }
  return out;
}

describe('parseIpv4 on Linux packets', () => {
  it('decodes the echo request header field by field', () => {
    const p = ok(parseIpv4(ECHO_REQUEST));
    expect(p).toMatchObject({
      version: 4,
      headerLength: 20,
      dscp: 0,
      ecn: 0,
      totalLength: 84,
      identification: 270,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 1,
      checksum: 0x24ff,
      src: A,
      dst: B,
    });
    expect(p.options.length).toBe(0);
    expect(p.payload.length).toBe(64);
    expect(p.payload[0]).toBe(8); // ICMP echo request
  });

  it('decodes the fragments of a 4028-byte ping', () => {
    const f = [ECHO_REQUEST_4028_FRAG0, ECHO_REQUEST_4028_FRAG1, ECHO_REQUEST_4028_FRAG2].map((b) => ok(parseIpv4(b)));
    expect(f.map((p) => [p.identification, p.fragmentOffset, p.moreFragments, p.totalLength, p.payload.length])).toEqual([
      [271, 0, true, 1500, 1480],
      [271, 1480, true, 1500, 1480],
      [271, 2960, false, 1068, 1048],
    ]);
    expect(f.every((p) => !p.dontFragment)).toBe(true);
  });

  it('reads the TOS byte as DSCP and ECN (ICMP error with precedence 6)', () => {
    const p = ok(parseIpv4(PROTO99_UNREACHABLE));
    expect(p.dscp).toBe(0x30);
    expect(p.ecn).toBe(0);
  });

  it('ignores link padding after totalLength', () => {
    const padded = new Uint8Array(ECHO_REQUEST.length + 6);
    padded.set(ECHO_REQUEST);
    padded.fill(0xee, ECHO_REQUEST.length);
    const p = ok(parseIpv4(padded));
    expect(p.payload.length).toBe(64);
    expect(p.payload[63]).toBe(0x37);
  });

  it('exposes options as raw bytes', () => {
    // IHL 6 with a 4-byte option: NOP NOP NOP EOL.
    const out = new Uint8Array(28);
    serializeIpv4Header(
      { totalLength: 28, identification: 1, ttl: 64, protocol: 99, src: A, dst: B, options: hex('01010100') },
      out,
      0,
    );
    const p = ok(parseIpv4(out));
    expect(p.headerLength).toBe(24);
    expect([...p.options]).toEqual([1, 1, 1, 0]);
    expect(p.payload.length).toBe(4);
  });
});

describe('serializeIpv4Header', () => {
  it('reproduces the Linux echo request header byte for byte', () => {
    const out = new Uint8Array(20);
    const n = serializeIpv4Header(
      { totalLength: 84, identification: 270, dontFragment: true, ttl: 64, protocol: 1, src: A, dst: B },
      out,
      0,
    );
    expect(n).toBe(20);
    expect([...out]).toEqual([...ECHO_REQUEST.subarray(0, 20)]);
  });

  it('reproduces a middle fragment header (offset 1480, MF) and the precedence-6 TOS', () => {
    const out = new Uint8Array(24);
    serializeIpv4Header(
      { totalLength: 1500, identification: 271, moreFragments: true, fragmentOffset: 1480, ttl: 64, protocol: 1, src: A, dst: B },
      out,
      4,
    );
    expect([...out.subarray(4)]).toEqual([...ECHO_REQUEST_4028_FRAG1.subarray(0, 20)]);
    const u = new Uint8Array(20);
    serializeIpv4Header({ tos: 0xc0, totalLength: 64, identification: 11923, ttl: 64, protocol: 1, src: B, dst: A }, u, 0);
    expect([...u]).toEqual([...PROTO99_UNREACHABLE.subarray(0, 20)]);
  });

  it('round-trips parse -> serialize', () => {
    for (const pkt of [ECHO_REQUEST, ECHO_REQUEST_4028_FRAG0, ECHO_REQUEST_4028_FRAG2, PROTO99_UNREACHABLE]) {
      const p = ok(parseIpv4(pkt));
      const out = new Uint8Array(p.headerLength);
      serializeIpv4Header(p, out, 0);
      expect([...out]).toEqual([...pkt.subarray(0, p.headerLength)]);
    }
  });

  it('refuses values it cannot encode', () => {
    const out = new Uint8Array(64);
    const base = { totalLength: 20, identification: 0, ttl: 1, protocol: 1, src: A, dst: B };
    expect(codeOf(() => serializeIpv4Header({ ...base, options: new Uint8Array(3) }, out, 0))).toBe('ERR_IPV4_IHL');
    expect(codeOf(() => serializeIpv4Header({ ...base, fragmentOffset: 7 }, out, 0))).toBe('ERR_IPV4_FRAGMENT');
    expect(codeOf(() => serializeIpv4Header({ ...base, totalLength: 19 }, out, 0))).toBe('ERR_IPV4_TOTAL_LENGTH');
  });
});

describe('rejections, one per error code', () => {
  it('ERR_IPV4_TRUNCATED: shorter than 20 bytes, than IHL, or than totalLength', () => {
    expect(codeOf(() => parseIpv4(ECHO_REQUEST.subarray(0, 19)))).toBe('ERR_IPV4_TRUNCATED');
    expect(codeOf(() => parseIpv4(new Uint8Array(0)))).toBe('ERR_IPV4_TRUNCATED');
    expect(codeOf(() => parseIpv4(mutate(ECHO_REQUEST.subarray(0, 24), { 0: 0x47 }, false)))).toBe('ERR_IPV4_TRUNCATED');
    expect(codeOf(() => parseIpv4(ECHO_REQUEST.subarray(0, 83)))).toBe('ERR_IPV4_TRUNCATED');
  });
  it('ERR_IPV4_VERSION', () => {
    expect(codeOf(() => parseIpv4(mutate(ECHO_REQUEST, { 0: 0x65 })))).toBe('ERR_IPV4_VERSION');
  });
  it('ERR_IPV4_IHL', () => {
    expect(codeOf(() => parseIpv4(mutate(ECHO_REQUEST, { 0: 0x44 })))).toBe('ERR_IPV4_IHL');
  });
  it('ERR_IPV4_TOTAL_LENGTH', () => {
    expect(codeOf(() => parseIpv4(mutate(ECHO_REQUEST, { 2: 0, 3: 19 })))).toBe('ERR_IPV4_TOTAL_LENGTH');
  });
  it('ERR_IPV4_CHECKSUM', () => {
    expect(codeOf(() => parseIpv4(mutate(ECHO_REQUEST, { 8: 63 }, false)))).toBe('ERR_IPV4_CHECKSUM');
  });
  it('ERR_IPV4_FRAGMENT: reserved flag, past 65535, MF with a non-multiple of 8', () => {
    expect(codeOf(() => parseIpv4(mutate(ECHO_REQUEST, { 6: 0x80 })))).toBe('ERR_IPV4_FRAGMENT');
    // offset 8184*8 = 65472 + 84 > 65535
    expect(codeOf(() => parseIpv4(mutate(ECHO_REQUEST, { 6: 0x1f, 7: 0xf8 })))).toBe('ERR_IPV4_FRAGMENT');
    expect(codeOf(() => parseIpv4(mutate(UDP_TO_PORT_9, { 6: 0x20 })))).toBe('ERR_IPV4_FRAGMENT'); // 14 data bytes
    // checkIpv4 agrees and does not throw
    expect(checkIpv4(mutate(ECHO_REQUEST, { 6: 0x80 }))).toBe('ERR_IPV4_FRAGMENT');
    expect(checkIpv4(ECHO_REQUEST)).toBeUndefined();
  });
});

describe('properties', () => {
  const onlyWireErrors = (bytes: Uint8Array): void => {
    try {
      const p = ok(parseIpv4(bytes));
      // Whatever parses is self-consistent.
      expect(p.headerLength).toBeGreaterThanOrEqual(IPV4_MIN_HEADER);
      expect(p.headerLength + p.payload.length).toBe(p.totalLength);
    } catch (e) {
      expect(e).toBeInstanceOf(WireError);
    }
  };

  it('random bytes: a packet or a WireError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), onlyWireErrors), { numRuns: 2000 });
  });

  it('random mutations of valid packets (checksum fixed or not)', () => {
    const seeds = [ECHO_REQUEST, ECHO_REQUEST_4028_FRAG1, PROTO99_UNREACHABLE];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(59), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.nat(100),
        (seed, edits, fix, cut) => {
          const pkt = mutate(seed, Object.fromEntries(edits), fix);
          onlyWireErrors(pkt);
          onlyWireErrors(pkt.subarray(0, Math.max(0, pkt.length - cut)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('serialize then parse gives the fields back', () => {
    fc.assert(
      fc.property(
        fc.record({
          tos: fc.integer({ min: 0, max: 255 }),
          identification: fc.integer({ min: 0, max: 0xffff }),
          dontFragment: fc.boolean(),
          ttl: fc.integer({ min: 0, max: 255 }),
          protocol: fc.integer({ min: 0, max: 255 }),
          src: fc.integer({ min: 0, max: 0xffffffff }),
          dst: fc.integer({ min: 0, max: 0xffffffff }),
          dataLength: fc.integer({ min: 0, max: 64 }),
        }),
        (r) => {
          const out = new Uint8Array(20 + r.dataLength);
          serializeIpv4Header({ ...r, totalLength: out.length }, out, 0);
          const p = ok(parseIpv4(out));
          expect([p.dscp, p.ecn, p.identification, p.dontFragment, p.ttl, p.protocol, p.src, p.dst]).toEqual([
            r.tos >>> 2,
            r.tos & 3,
            r.identification,
            r.dontFragment,
            r.ttl,
            r.protocol,
            r.src,
            r.dst,
          ]);
        },
      ),
      { numRuns: 500 },
    );
  });
});
