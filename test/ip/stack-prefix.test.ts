/**
 * StackOptions.prefixLength reaches the IPv4 layer: with it, a datagram to the subnet's directed
 * broadcast is counted as a broadcast (RFC 1122 §3.3.6), without it as one for another host.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { Stack } from '../../src/stack.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { A, datagram } from './helpers.ts';

function countsFor(prefixLength: number | undefined, dst: string): { rxBroadcast: number; rxNotOurs: number } {
  const clock = new ManualClock(0);
  const [ours, peer] = createMemoryLink(clock, { latencyMs: 1 });
  const stack = new Stack({ device: ours, address: '10.77.0.2', clock, ...(prefixLength !== undefined ? { prefixLength } : {}) });
  peer.send(datagram(new Uint8Array(8), { src: A, dst: parseIpv4Address(dst) }));
  clock.advance(1);
  const { rxBroadcast, rxNotOurs } = stack.stats().ip;
  void stack.close();
  return { rxBroadcast, rxNotOurs };
}

describe('StackOptions.prefixLength', () => {
  it('makes the directed broadcast of the subnet a broadcast', () => {
    expect(countsFor(24, '10.77.0.255')).toEqual({ rxBroadcast: 1, rxNotOurs: 0 });
    expect(countsFor(16, '10.77.255.255')).toEqual({ rxBroadcast: 1, rxNotOurs: 0 });
    // Another host of the subnet, and the /24 broadcast seen from a /16, are not broadcasts.
    expect(countsFor(24, '10.77.0.3')).toEqual({ rxBroadcast: 0, rxNotOurs: 1 });
    expect(countsFor(16, '10.77.0.255')).toEqual({ rxBroadcast: 0, rxNotOurs: 1 });
  });
  it('without it, a directed broadcast is counted as for another host', () => {
    expect(countsFor(undefined, '10.77.0.255')).toEqual({ rxBroadcast: 0, rxNotOurs: 1 });
  });
  it('a /31 has no broadcast address (RFC 3021 §2.1)', () => {
    expect(countsFor(31, '10.77.0.3')).toEqual({ rxBroadcast: 0, rxNotOurs: 1 });
  });
  it('rejects a prefix length outside 0..32 with a typed error', () => {
    const [ours] = createMemoryLink(new ManualClock(0));
    for (const bad of [33, -1, 24.5, Number.NaN]) {
      expect(() => new Stack({ device: ours, address: '10.77.0.2', prefixLength: bad })).toThrow(expect.objectContaining({ code: 'ERR_IPV4_PREFIX' }));
    }
  });
});
