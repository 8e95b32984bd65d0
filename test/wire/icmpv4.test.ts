import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from '../../src/util/errors.ts';
import { codeOf, ok } from './helpers.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { checksum } from '../../src/wire/checksum.ts';
import {
  checkIcmp,
  icmpLength,
  isIcmpErrorType,
  parseIcmp,
  serializeIcmp,
  type IcmpInit,
} from '../../src/wire/icmpv4.ts';
import { ECHO_REPLY, ECHO_REQUEST, PROTO99, PROTO99_UNREACHABLE, UDP_PORT_UNREACHABLE, UDP_TO_PORT_9, hex } from '../fixtures/linux-packets.ts';

const icmpOf = (pkt: Uint8Array): Uint8Array => ok(parseIpv4(pkt)).payload;

describe('parseIcmp on Linux packets', () => {
  it('decodes an echo request', () => {
    const m = ok(parseIcmp(icmpOf(ECHO_REQUEST)));
    expect(m.kind).toBe('echo-request');
    if (m.kind !== 'echo-request') return;
    expect([m.type, m.code, m.checksum, m.identifier, m.sequence, m.data.length]).toEqual([8, 0, 0x7061, 6114, 1, 56]);
    // iputils fills the data after its 16-byte timestamp with 0x10, 0x11, ...
    expect([...m.data.subarray(16, 20)]).toEqual([0x10, 0x11, 0x12, 0x13]);
  });

  it('decodes an echo reply', () => {
    const m = ok(parseIcmp(icmpOf(ECHO_REPLY)));
    expect(m).toMatchObject({ kind: 'echo-reply', type: 0, code: 0, checksum: 0x7861, identifier: 6114, sequence: 1 });
  });

  it('decodes protocol unreachable with the quoted datagram', () => {
    const m = ok(parseIcmp(icmpOf(PROTO99_UNREACHABLE)));
    expect(m.kind).toBe('destination-unreachable');
    if (m.kind !== 'destination-unreachable') return;
    expect([m.code, m.nextHopMtu]).toEqual([2, 0]);
    expect([...m.original]).toEqual([...PROTO99]);
    expect(ok(parseIpv4(m.original)).protocol).toBe(99);
  });

  it('decodes port unreachable', () => {
    const m = ok(parseIcmp(icmpOf(UDP_PORT_UNREACHABLE)));
    expect(m).toMatchObject({ kind: 'destination-unreachable', code: 3 });
    if (m.kind === 'destination-unreachable') expect([...m.original]).toEqual([...UDP_TO_PORT_9]);
  });

  it('reads the next-hop MTU only for code 4 (RFC 1191)', () => {
    const buf = new Uint8Array(8 + 28);
    serializeIcmp({ kind: 'destination-unreachable', code: 4, nextHopMtu: 1400, original: PROTO99.subarray(0, 28) }, buf, 0);
    expect(ok(parseIcmp(buf))).toMatchObject({ kind: 'destination-unreachable', code: 4, nextHopMtu: 1400 });
    expect([buf[6], buf[7]]).toEqual([0x05, 0x78]);
  });

  it('keeps other types raw', () => {
    // timestamp request (13), id 1 seq 2, 12 bytes of timestamps
    const buf = hex('0d00', '0000', '00010002', '000000000000000000000000');
    const sum = checksum(buf);
    buf[2] = sum >>> 8;
    buf[3] = sum & 0xff;
    const m = ok(parseIcmp(buf));
    expect(m).toMatchObject({ kind: 'other', type: 13, code: 0 });
    if (m.kind === 'other') expect([...m.rest]).toEqual([0, 1, 0, 2]);
  });
});

describe('serializeIcmp', () => {
  it('reproduces the Linux echo reply byte for byte', () => {
    const req = ok(parseIcmp(icmpOf(ECHO_REQUEST)));
    if (req.kind !== 'echo-request') throw new Error('not an echo request');
    const msg: IcmpInit = { kind: 'echo-reply', identifier: req.identifier, sequence: req.sequence, data: req.data };
    const out = new Uint8Array(icmpLength(msg) + 3);
    expect(serializeIcmp(msg, out, 3)).toBe(64);
    expect([...out.subarray(3)]).toEqual([...icmpOf(ECHO_REPLY)]);
  });

  it('reproduces the Linux protocol unreachable byte for byte', () => {
    const msg: IcmpInit = { kind: 'destination-unreachable', code: 2, original: PROTO99 };
    const out = new Uint8Array(icmpLength(msg));
    serializeIcmp(msg, out, 0);
    expect([...out]).toEqual([...icmpOf(PROTO99_UNREACHABLE)]);
  });

  it('writes time exceeded code 1 with 4 unused zero bytes', () => {
    const out = new Uint8Array(8 + 28);
    serializeIcmp({ kind: 'time-exceeded', code: 1, original: PROTO99.subarray(0, 28) }, out, 0);
    expect([...out.subarray(0, 2), ...out.subarray(4, 8)]).toEqual([11, 1, 0, 0, 0, 0]);
    expect(ok(parseIcmp(out))).toMatchObject({ kind: 'time-exceeded', code: 1 });
  });

  it('refuses a buffer too small', () => {
    expect(codeOf(() => serializeIcmp({ kind: 'echo-request', identifier: 1, sequence: 1, data: new Uint8Array(8) }, new Uint8Array(15), 0))).toBe('ERR_ICMP_TRUNCATED');
  });
});

describe('rejections', () => {
  it('ERR_ICMP_TRUNCATED under 8 bytes', () => {
    expect(codeOf(() => parseIcmp(icmpOf(ECHO_REQUEST).subarray(0, 7)))).toBe('ERR_ICMP_TRUNCATED');
    expect(checkIcmp(new Uint8Array(0))).toBe('ERR_ICMP_TRUNCATED');
  });
  it('ERR_ICMP_CHECKSUM on any flipped bit', () => {
    const m = icmpOf(ECHO_REQUEST).slice();
    m[40] = m[40]! ^ 0x01;
    expect(codeOf(() => parseIcmp(m))).toBe('ERR_ICMP_CHECKSUM');
  });
});

describe('error classification (RFC 1122 §3.2.2)', () => {
  it('queries are not errors, unreachable/time exceeded/unknown are', () => {
    expect([0, 8, 13, 14].map(isIcmpErrorType)).toEqual([false, false, false, false]);
    expect([3, 4, 5, 11, 12, 42].map(isIcmpErrorType)).toEqual([true, true, true, true, true, true]);
  });
});

describe('properties', () => {
  const onlyWireErrors = (b: Uint8Array): void => {
    try {
      ok(parseIcmp(b));
    } catch (e) {
      expect(e).toBeInstanceOf(WireError);
    }
  };
  it('random bytes and mutations: a message or a WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), onlyWireErrors), { numRuns: 2000 });
    const base = icmpOf(PROTO99_UNREACHABLE);
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(base.length), (i, v, cut) => {
        const m = base.slice();
        m[i] = v;
        onlyWireErrors(m);
        onlyWireErrors(m.subarray(0, cut));
      }),
      { numRuns: 2000 },
    );
  });
  it('echo round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 100 }), (id, seq, data) => {
        const out = new Uint8Array(8 + data.length);
        serializeIcmp({ kind: 'echo-request', identifier: id, sequence: seq, data }, out, 0);
        const m = ok(parseIcmp(out));
        expect(m).toMatchObject({ kind: 'echo-request', identifier: id, sequence: seq });
        if (m.kind === 'echo-request') expect([...m.data]).toEqual([...data]);
      }),
      { numRuns: 300 },
    );
  });
});
