import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatPacket } from '../../src/wire/format.ts';
import { checksum } from '../../src/wire/checksum.ts';
import * as L from '../fixtures/linux-packets.ts';

// The expected lines are what `tcpdump -nn` printed for the same packets (flags and fields), in our
// one-line form.
describe('formatPacket', () => {
  it.each([
    [L.ECHO_REQUEST, 'IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 6114, seq 1, length 64'],
    [L.ECHO_REPLY, 'IP 10.77.0.2 > 10.77.0.1: ICMP echo reply, id 6114, seq 1, length 64'],
    [L.PROTO99, 'IP 10.77.0.1 > 10.77.0.2: ip-proto-99 16'],
    [L.PROTO99_UNREACHABLE, 'IP 10.77.0.2 > 10.77.0.1: ICMP 10.77.0.2 protocol 99 unreachable, length 44'],
    [L.UDP_TO_PORT_9, 'IP 10.77.0.1.42465 > 10.77.0.2.9: UDP, length 6'],
    [L.UDP_PORT_UNREACHABLE, 'IP 10.77.0.2 > 10.77.0.1: ICMP 10.77.0.2 udp port 9 unreachable, length 42'],
    [L.TCP_SYN, 'IP 10.77.0.1.55916 > 10.77.0.2.8080: Flags [S], seq 1185857852, win 64240, options [mss 1460,sackOK,TS val 499644376 ecr 0,wscale 10], length 0'],
    [L.TCP_SYN_ACK, 'IP 10.77.0.2.8080 > 10.77.0.1.55916: Flags [S.], seq 2198040747, ack 1185857853, win 65160, options [mss 1460,sackOK,TS val 3975098081 ecr 499644376,wscale 10], length 0'],
    [L.TCP_PSH_ACK, 'IP 10.77.0.1.55916 > 10.77.0.2.8080: Flags [P.], seq 1185857853:1185857871, ack 2198040748, win 63, options [TS val 499644376 ecr 3975098081], length 18'],
    [L.TCP_FIN_ACK, 'IP 10.77.0.1.55916 > 10.77.0.2.8080: Flags [F.], seq 1185857871, ack 2198040748, win 63, options [TS val 499644376 ecr 3975098081], length 0'],
    [L.TCP_RST_ACK, 'IP 10.77.0.2.8081 > 10.77.0.1.33046: Flags [R.], seq 0, ack 557384840, win 0, length 0'],
  ])('%#', (pkt, line) => {
    expect(formatPacket(pkt)).toBe(line);
  });

  it('shows fragments', () => {
    expect(formatPacket(L.ECHO_REQUEST_4028_FRAG0)).toBe(
      'IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 6116, seq 1, length 1480 (frag id 271, offset 0, flags [+])',
    );
    expect(formatPacket(L.ECHO_REQUEST_4028_FRAG1)).toBe('IP 10.77.0.1 > 10.77.0.2: ICMP (frag id 271, offset 1480, flags [+], length 1480)');
    expect(formatPacket(L.ECHO_REQUEST_4028_FRAG2)).toBe('IP 10.77.0.1 > 10.77.0.2: ICMP (frag id 271, offset 2960, flags [none], length 1048)');
  });

  it('applies the relative sequence hook', () => {
    const line = formatPacket(L.TCP_PSH_ACK, {
      relativeSeq: (sp, dp, seq, ack) => (sp === 55916 && dp === 8080 ? { seq: seq - 1185857852, ack: ack - 2198040747 } : undefined),
    });
    expect(line).toBe('IP 10.77.0.1.55916 > 10.77.0.2.8080: Flags [P.], seq 1:19, ack 1, win 63, options [TS val 499644376 ecr 3975098081], length 18');
  });

  it('shows errors instead of throwing', () => {
    const bad = L.ECHO_REQUEST.slice();
    bad[8] = 1; // TTL changed, checksum not fixed
    expect(formatPacket(bad)).toBe('IP bad packet [ERR_IPV4_CHECKSUM], length 84');
    expect(formatPacket(new Uint8Array(3))).toBe('IP bad packet [ERR_IPV4_TRUNCATED], length 3');
    const badIcmp = L.ECHO_REQUEST.slice();
    badIcmp[50] = badIcmp[50]! ^ 0xff;
    expect(formatPacket(badIcmp)).toBe('IP 10.77.0.1 > 10.77.0.2: ICMP [ERR_ICMP_CHECKSUM], length 64');
  });

  it('never throws on random or mutated input', () => {
    fc.assert(
      fc.property(fc.constantFrom(L.ECHO_REQUEST, L.TCP_SYN, L.UDP_PORT_UNREACHABLE, L.ECHO_REQUEST_4028_FRAG2), fc.nat(80), fc.integer({ min: 0, max: 255 }), fc.nat(120), (base, i, v, cut) => {
        const p = base.slice(0, Math.max(0, base.length - cut));
        if (i < p.length) p[i] = v;
        // Fix the IP header checksum so that the transport formatters get exercised too.
        if (p.length >= 20) {
          p[10] = 0;
          p[11] = 0;
          const s = checksum(p, 0, 20);
          p[10] = s >>> 8;
          p[11] = s & 0xff;
        }
        expect(typeof formatPacket(p)).toBe('string');
      }),
      { numRuns: 3000 },
    );
  });
});
