/**
 * What a segment the TCP layer refuses costs: 1,448-byte segments with a bad checksum (one bit of the
 * sequence number flipped, as a corrupting link or a blind forger makes them) into a Stack over a
 * memory link, in one process, virtual time; the CPU time (user + system) per segment, all of the
 * receive path included (device batch, IPv4, TCP check, counters), per round of 100,000.
 *
 *   node --import tsx scripts/bench/bad-segments.ts [ROUNDS=4]
 *
 * Prints numbers, asserts nothing (test/tcp/bad-segments.test.ts checks the counting).
 */
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { Stack } from '../../src/stack.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { ACK, serializeTcp } from '../../src/wire/tcp.ts';

const rounds = Number(process.argv[2] ?? 4);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
  process.stderr.write('usage: bad-segments.ts [ROUNDS 1..100]\n');
  process.exit(2);
}
const PEER = parseIpv4Address('10.0.0.9') as number;
const US = parseIpv4Address('10.0.0.1') as number;
const clock = new ManualClock();
const [dev, peer] = createMemoryLink(clock, { latencyMs: 0 });
const stack = new Stack({ device: dev, address: '10.0.0.1', clock });
const tcp = new Uint8Array(20 + 1448);
serializeTcp({ srcPort: 40000, dstPort: 80, seq: 1000, ack: 5, flags: ACK, window: 65535, urgent: 0, payload: new Uint8Array(1448).fill(3) }, tcp, 0, PEER, US);
tcp[4]! ^= 1;
const datagram = new Uint8Array(20 + tcp.length);
serializeIpv4Header({ totalLength: datagram.length, identification: 1, ttl: 64, protocol: 6, src: PEER, dst: US }, datagram, 0);
datagram.set(tcp, 20);
const N = 100_000;
for (let r = 0; r < rounds; r++) {
  const t = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    peer.send(datagram.slice()); // the receiver owns what it is given (NetDevice contract)
    if (i % 32 === 31) clock.advance(0); // batches of 32, as a busy TUN device reads them
  }
  clock.advance(1);
  const u = process.cpuUsage(t);
  process.stdout.write(`round ${r + 1}: ${((u.user + u.system) / N).toFixed(2)} µs CPU per refused segment (badSegments ${stack.stats().tcp.badSegments})\n`);
}
await stack.close();
