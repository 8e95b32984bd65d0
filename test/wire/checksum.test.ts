import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksum, finishChecksum, onesSum, pseudoHeaderSum } from '../../src/wire/checksum.ts';
import { ECHO_REQUEST, TCP_RST_ACK, UDP_TO_PORT_9, hex } from '../fixtures/linux-packets.ts';

describe('RFC 1071', () => {
  it('§3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d', () => {
    const data = hex('0001f203f4f5f6f7');
    expect(onesSum(data)).toBe(0xddf2);
    expect(checksum(data)).toBe(0x220d);
  });

  it('words are taken big-endian (network order)', () => {
    expect(onesSum(hex('0102'))).toBe(0x0102);
  });

  it('an odd last byte is padded with a zero byte', () => {
    expect(onesSum(hex('0001f203f4f5f6f7ab'))).toBe(onesSum(hex('0001f203f4f5f6f7ab00')));
    expect(onesSum(hex('ab'))).toBe(0xab00);
  });

  it('carries fold around (end-around carry)', () => {
    expect(onesSum(hex('ffff0001'))).toBe(0x0001);
    expect(onesSum(hex('ffffffff'))).toBe(0xffff);
    expect(finishChecksum(0xffff)).toBe(0);
    expect(checksum(new Uint8Array(4))).toBe(0xffff);
  });

  it('§1 (3): a header including its checksum verifies as 0 (Linux packet)', () => {
    expect(checksum(ECHO_REQUEST, 0, 20)).toBe(0);
    expect(checksum(ECHO_REQUEST, 20, 84)).toBe(0); // ICMP part
  });

  it('start/end select a range; initial chains partial sums', () => {
    const a = hex('0001f203');
    const b = hex('f4f5f6f7');
    expect(onesSum(b, 0, 4, onesSum(a))).toBe(0xddf2);
    expect(onesSum(hex('ffff0001f203f4f5f6f7ffff'), 2, 10)).toBe(0xddf2);
  });
});

describe('pseudo-header (RFC 9293 §3.1, RFC 768)', () => {
  it('verifies the kernel RST segment (complete checksum in the capture)', () => {
    const seg = TCP_RST_ACK.subarray(20);
    const src = 0x0a4d0002;
    const dst = 0x0a4d0001;
    expect(finishChecksum(onesSum(seg, 0, seg.length, pseudoHeaderSum(src, dst, 6, seg.length)))).toBe(0);
  });

  it('computes the UDP checksum tcpdump says is right (0x57fc) for the offloaded capture', () => {
    const udp = UDP_TO_PORT_9.subarray(20).slice();
    // Offload left the pseudo-header sum in the field, which is what Linux expects the NIC to finish.
    expect((udp[6]! << 8) | udp[7]!).toBe(pseudoHeaderSum(0x0a4d0001, 0x0a4d0002, 17, 14));
    udp[6] = 0;
    udp[7] = 0;
    expect(finishChecksum(onesSum(udp, 0, udp.length, pseudoHeaderSum(0x0a4d0001, 0x0a4d0002, 17, 14)))).toBe(0x57fc);
  });

  it('folds large addresses without sign trouble', () => {
    expect(pseudoHeaderSum(0xffffffff, 0xffffffff, 0xff, 0xffff)).toBe(onesSum(hex('ffffffffffffffff00ffffff')));
  });
});

describe('properties', () => {
  it('onesSum equals a straightforward reference, and inserting the checksum verifies to 0', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        let ref = 0;
        for (let i = 0; i < data.length; i += 2) {
          ref += (data[i]! << 8) | (data[i + 1] ?? 0);
          ref = (ref & 0xffff) + (ref >>> 16);
        }
        expect(onesSum(data)).toBe(ref);
        const withSum = new Uint8Array(data.length + (data.length & 1) + 2);
        withSum.set(data);
        const c = checksum(data);
        withSum[withSum.length - 2] = c >>> 8;
        withSum[withSum.length - 1] = c & 0xff;
        expect(checksum(withSum)).toBe(0);
      }),
      { numRuns: 1000 },
    );
  });
});
