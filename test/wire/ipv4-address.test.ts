import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from '../../src/util/errors.ts';
import {
  formatIpv4Address,
  parseIpv4Address,
  parseIpv4Cidr,
  prefixMask,
  readIpv4Address,
  sameSubnet,
  writeIpv4Address,
} from '../../src/wire/ipv4-address.ts';
import { ECHO_REQUEST } from '../fixtures/linux-packets.ts';

describe('parseIpv4Address / formatIpv4Address', () => {
  it('parses dotted quads to unsigned 32-bit numbers', () => {
    expect(parseIpv4Address('10.77.0.2')).toBe(0x0a4d0002);
    expect(parseIpv4Address('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4Address('0.0.0.0')).toBe(0);
    expect(parseIpv4Address(' 192.168.1.1 ')).toBe(0xc0a80101);
  });

  it('formats back', () => {
    expect(formatIpv4Address(0x0a4d0002)).toBe('10.77.0.2');
    expect(formatIpv4Address(0xffffffff)).toBe('255.255.255.255');
    // A signed int32 (as produced by bit operators) formats the same.
    expect(formatIpv4Address(0xc0a80101 | 0)).toBe('192.168.1.1');
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', 'a.b.c.d', '1.2.3.4/24', '1..2.3'])(
    'rejects %j with ERR_BAD_ADDRESS',
    (text) => {
      expect(() => parseIpv4Address(text)).toThrow(WireError);
      try {
        parseIpv4Address(text);
      } catch (e) {
        expect((e as WireError).code).toBe('ERR_BAD_ADDRESS');
      }
    },
  );

  it('round-trips every address', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
        expect(parseIpv4Address(formatIpv4Address(a))).toBe(a);
      }),
    );
  });
});

describe('CIDR and subnets', () => {
  it('parses address/prefix, default /32', () => {
    expect(parseIpv4Cidr('10.77.0.1/24')).toEqual({ address: 0x0a4d0001, prefixLength: 24 });
    expect(parseIpv4Cidr('10.77.0.1')).toEqual({ address: 0x0a4d0001, prefixLength: 32 });
    expect(parseIpv4Cidr('0.0.0.0/0')).toEqual({ address: 0, prefixLength: 0 });
  });

  it.each(['10.0.0.1/33', '10.0.0.1/', '10.0.0.1/x', '10.0.0.1/24/1', '10.0.0.1/-1', '/24'])('rejects %j', (text) => {
    expect(() => parseIpv4Cidr(text)).toThrow(WireError);
  });

  it('masks', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(32)).toBe(0xffffffff);
  });

  it('sameSubnet', () => {
    expect(sameSubnet(0x0a4d0001, 0x0a4d0002, 24)).toBe(true);
    expect(sameSubnet(0x0a4d0001, 0x0a4d0102, 24)).toBe(false);
    expect(sameSubnet(0xc0a80001, 0x0a000001, 0)).toBe(true);
    expect(sameSubnet(0xc0a80001, 0xc0a80001, 32)).toBe(true);
    expect(sameSubnet(0xc0a80001, 0xc0a80002, 32)).toBe(false);
  });
});

describe('read/write in network order', () => {
  it('reads the addresses of a Linux packet', () => {
    expect(readIpv4Address(ECHO_REQUEST, 12)).toBe(0x0a4d0001);
    expect(readIpv4Address(ECHO_REQUEST, 16)).toBe(0x0a4d0002);
  });
  it('writes big-endian, high addresses unsigned', () => {
    const buf = new Uint8Array(6);
    writeIpv4Address(buf, 1, 0xc0a80101);
    expect([...buf]).toEqual([0, 192, 168, 1, 1, 0]);
    expect(readIpv4Address(buf, 1)).toBe(0xc0a80101);
    writeIpv4Address(buf, 2, 0xffffffff);
    expect(readIpv4Address(buf, 2)).toBe(0xffffffff);
  });
});
