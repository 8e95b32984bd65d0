/**
 * ICMP errors through the whole Stack (device -> Ipv4Layer -> IcmpHandler -> TcpLayer.receiveError ->
 * the connection -> the socket): the far end of a memory link plays a router that answers the
 * stack's segments with ICMP, as Linux's own stack would.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { Stack } from '../../src/stack.ts';
import { SystemClock } from '../../src/util/clock.ts';
import { serializeIcmp } from '../../src/wire/icmpv4.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { ipv4HeaderLength, serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { until } from './stack-pair.ts';

const ROUTER = parseIpv4Address('10.0.0.254');
const STACK = parseIpv4Address('10.0.0.1');

/** An ICMP error from the router about `pkt` (a datagram the stack sent). */
function icmpAbout(pkt: Uint8Array, type: number, code: number): Uint8Array {
  const quote = pkt.subarray(0, ipv4HeaderLength(pkt) + 8);
  const out = new Uint8Array(20 + 8 + quote.length);
  const init = type === 3 ? ({ kind: 'destination-unreachable', code, original: quote } as const) : ({ kind: 'time-exceeded', code, original: quote } as const);
  serializeIcmp(init, out, 20);
  serializeIpv4Header({ totalLength: out.length, identification: 7, ttl: 64, protocol: 1, src: ROUTER, dst: STACK }, out, 0);
  return out;
}

function setup(type: number, code: number) {
  const clock = new SystemClock();
  const [dev, far] = createMemoryLink(clock, { latencyMs: 0 });
  const stack = new Stack({ device: dev, address: '10.0.0.1', clock, tcp: { synRetries: 1, initialRtoMs: 100 } });
  let answered = 0;
  far.setReceiver((batch) => {
    for (const p of batch) {
      if (p[9] !== 6) continue;
      answered++;
      far.send(icmpAbout(p.slice(), type, code));
    }
  });
  return { stack, answered: () => answered };
}

describe('ICMP errors reach the socket', () => {
  it('port unreachable for our SYN: connect() fails with ECONNREFUSED, once', async () => {
    const { stack, answered } = setup(3, 3);
    const errors: NodeJS.ErrnoException[] = [];
    const sock = stack.tcp.connect(8080, '10.0.0.99');
    sock.on('error', (e) => errors.push(e));
    await until(() => errors.length > 0, 5_000);
    expect(errors.map((e) => [e.code, e.syscall])).toEqual([['ECONNREFUSED', 'connect']]);
    expect(answered()).toBe(1); // the first SYN's answer: no retransmission
    const st = stack.stats();
    expect(st.icmp).toMatchObject({ inDestUnreachable: 1, inErrorsDelivered: 1 });
    expect(st.tcp).toMatchObject({ icmpErrors: 1, icmpAborts: 1, connections: 0 });
    await stack.close();
  });

  it('time exceeded is a soft error: the SYN is retried, and connect() fails with EHOSTUNREACH', async () => {
    const { stack, answered } = setup(11, 0);
    const errors: NodeJS.ErrnoException[] = [];
    const sock = stack.tcp.connect(8080, '10.0.0.99');
    sock.on('error', (e) => errors.push(e));
    await until(() => errors.length > 0, 5_000);
    expect(errors.map((e) => e.code)).toEqual(['EHOSTUNREACH']);
    expect(answered()).toBe(2); // SYN + 1 retry (synRetries 1)
    expect(stack.stats().tcp).toMatchObject({ icmpSoftErrors: 2, icmpAborts: 0 });
    await stack.close();
  });
});
