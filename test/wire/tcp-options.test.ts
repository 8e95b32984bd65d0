import { describe, expect, it } from 'vitest';
import { WireError } from '../../src/util/errors.ts';
import { NO_OPTIONS, parseTcpOptions, tcpOptionsLength, writeTcpOptions } from '../../src/wire/tcp-options.ts';

const b = (...x: number[]) => Uint8Array.from(x);

describe('TCP options', () => {
  it('parses a Linux SYN option list', () => {
    const o = parseTcpOptions(b(2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 10), 0, 20);
    expect(o).toEqual({ mss: 1460, sackPermitted: true, timestamp: { value: 1, echo: 2 }, windowScale: 10 });
  });
  it('returns the shared empty object for no options', () => {
    expect(parseTcpOptions(b(), 0, 0)).toBe(NO_OPTIONS);
  });
  it('skips NOPs and unknown options and stops at EOL', () => {
    const o = parseTcpOptions(b(1, 1, 30, 4, 9, 9, 2, 4, 1, 0, 0, 2, 4, 0xff, 0xff), 0, 15);
    expect(o).toEqual({ mss: 256 });
  });
  it('parses SACK blocks', () => {
    const o = parseTcpOptions(b(1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 5), 0, 20);
    expect(o).toEqual({ sack: [[1, 2], [0xffffffff, 5]] });
  });
  it.each([
    ['length below 2', [3, 1, 0, 0]],
    ['length 0', [30, 0, 0, 0]],
    ['no length byte', [1, 1, 1, 2]],
    ['running past the header', [2, 8, 0, 0]],
    ['bad MSS length', [2, 3, 5, 1]],
    ['bad window scale length', [3, 4, 5, 1]],
    ['bad SACK-permitted length', [4, 3, 0, 1]],
    ['bad timestamp length', [8, 4, 0, 0]],
    ['bad SACK length', [5, 4, 0, 0]],
  ])('rejects %s', (_name, bytes) => {
    const o = parseTcpOptions(b(...bytes), 0, bytes.length);
    expect(o).toBeInstanceOf(WireError);
    expect((o as WireError).code).toBe('ERR_TCP_OPTION');
  });
  it('writes Linux layouts', () => {
    const out = new Uint8Array(40);
    const opts = { mss: 1460, sackPermitted: true, timestamp: { value: 1, echo: 0 }, windowScale: 7 };
    expect(tcpOptionsLength(opts)).toBe(20);
    expect(writeTcpOptions(opts, out, 0)).toBe(20);
    expect(Buffer.from(out.subarray(0, 20)).toString('hex')).toBe('020405b40402080a00000001000000000103030' + '7');
    const n = writeTcpOptions({ sackPermitted: true, windowScale: 2, mss: 536 }, out, 0);
    expect(Buffer.from(out.subarray(0, n)).toString('hex')).toBe('020402180101040201030302');
    const m = writeTcpOptions({ timestamp: { value: 3, echo: 4 }, sack: [[1, 2]] }, out, 0);
    expect(Buffer.from(out.subarray(0, m)).toString('hex')).toBe('0101080a00000003000000040101050a0000000100000002');
  });
});
