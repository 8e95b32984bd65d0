/**
 * The fuzzer in `npm test`: a bounded run with a fixed seed (FUZZ_SEED overrides it), every invariant
 * checked after every batch, then a drain that must leave the server with nothing. `npm run fuzz`
 * runs the same harness for as long as asked.
 */
import { describe, expect, it } from 'vitest';
import { checkIpv4 } from '../../src/wire/ipv4.ts';
import { parseTcp } from '../../src/wire/tcp.ts';
import { checkIcmp } from '../../src/wire/icmpv4.ts';
import { WireError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';
import { FuzzHarness, formatFinding, type Finding } from './harness.ts';
import { mutatePacket } from './mutate.ts';
import { PROTO_ICMP, PROTO_TCP, fixChecksums, icmpMessage, ipv4Datagram, readU32, tcpSegment } from './packets.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261203);
const PACKETS = 60_000;
const HTTP_STREAMS = 200;

const EXPECTED_CLEAN =
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nServer: tunstack\r\n' +
  'Content-Length: 28\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=99\r\n\r\ntunstack is still answering\n';

async function fuzz(h: FuzzHarness, packets: number, streams: number, batch = 128): Promise<Finding | undefined> {
  const c = h.counters;
  while (c.fuzzPackets < packets || c.httpStreams < streams) {
    const f = await h.runBatch(Math.min(batch, Math.max(0, packets - c.fuzzPackets)), c.httpStreams < streams);
    if (f !== undefined) return f;
  }
  for (let i = 0; i < 200 && h.peerBusy; i++) {
    const f = await h.runBatch(0, false);
    if (f !== undefined) return f;
  }
  return h.drain();
}

describe('fuzz: mutated IPv4/TCP/ICMP packets and HTTP requests into a Stack', () => {
  it(`finds nothing in ${PACKETS} packets and ${HTTP_STREAMS} HTTP streams, and the server drains to empty (seed ${SEED})`, async () => {
    const h = await FuzzHarness.create(SEED);
    try {
      expect(h.referenceResponse.toString('latin1')).toBe(EXPECTED_CLEAN);
      const finding = await fuzz(h, PACKETS, HTTP_STREAMS);
      expect(finding, finding && `seed ${SEED}\n${formatFinding(finding)}`).toBeUndefined();

      const c = h.counters;
      expect(c.fuzzPackets).toBeGreaterThanOrEqual(PACKETS);
      expect(c.httpStreams).toBeGreaterThanOrEqual(HTTP_STREAMS);
      // One clean exchange before fuzzing, then one per batch, every one byte-exact.
      expect(c.cleanExchanges).toBe(c.batches + 1);
      expect(c.httpResponseBytes).toBeGreaterThan(0);
      // Intact request streams got one parsed response per request (see checkAnswers).
      expect(c.httpStreamsChecked).toBeGreaterThan(10);
      const ip = h.server.ip.stats();
      const tcp = h.server.tcpLayer.stats();
      // The fuzz reached every layer: IPv4 drops, reassembly, ICMP, TCP parse errors and live connections.
      expect(ip.rxPackets).toBeGreaterThanOrEqual(c.fuzzPackets);
      expect(ip.rxBadChecksum).toBeGreaterThan(0);
      expect(ip.rxTruncated).toBeGreaterThan(0);
      expect(ip.rxBadFragment).toBeGreaterThan(0);
      expect(ip.icmp.inEchoRequests).toBeGreaterThan(0);
      expect(tcp.badSegments).toBeGreaterThan(0);
      expect(tcp.dropped['ERR_TCP_OPTION']).toBeGreaterThan(0);
      expect(tcp.dropped['rst-out-of-window']).toBeGreaterThan(0);
      expect(tcp.passiveOpens).toBeGreaterThan(HTTP_STREAMS);
      // Odd seeds run with segmentation offload: responses left as super-segments.
      if (h.tso) expect(tcp.tsoSuperSegments).toBeGreaterThan(0);
      // The drain left nothing behind.
      expect(tcp.connections).toBe(0);
      expect(h.http.connectionCount).toBe(0);
      expect(ip.reasmPending).toBe(0);
    } finally {
      await h.close();
    }
  }, 60_000);

  it('is deterministic: the same seed gives the same run', async () => {
    const runs: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      const h = await FuzzHarness.create(SEED + 1);
      for (let b = 0; b < 20; b++) expect(await h.runBatch(64, true)).toBeUndefined();
      runs.push({ counters: { ...h.counters }, tcp: h.server.tcpLayer.stats(), ip: h.server.ip.stats() });
      await h.close();
    }
    expect(runs[1]).toEqual(runs[0]);
  });

  it('reports a crash with its seed and the packet that caused it', async () => {
    const h = await FuzzHarness.create(SEED + 2);
    try {
      // A transport that throws, for IP protocol 41: the fuzzer's protocol mutation reaches it.
      h.server.ip.register(41, {
        receive: () => {
          throw new Error('planted crash');
        },
      });
      let finding: Finding | undefined;
      for (let b = 0; b < 500 && finding === undefined; b++) finding = await h.runBatch(128, false);
      expect(finding?.kind).toBe('exception');
      expect(finding!.seed).toBe(SEED + 2);
      expect(finding!.message).toContain('planted crash');
      const culprit = Buffer.from(finding!.culprit!, 'hex');
      expect(culprit[9]).toBe(41);
      expect(finding!.packets).toContain(finding!.culprit);
      expect(formatFinding(finding!)).toContain(`seed ${SEED + 2}`);
    } finally {
      await h.close();
    }
  });

  it('fixChecksums makes mutated packets valid again wherever their lengths allow it', () => {
    const rng = new Rng(5);
    let tcpValid = 0;
    let icmpValid = 0;
    for (let i = 0; i < 2000; i++) {
      const tcp = i % 2 === 0;
      const payload = tcp
        ? tcpSegment({ srcPort: 1, dstPort: 80, seq: rng.nextU32(), ack: rng.nextU32(), flags: 0x18, window: 1000, payload: new Uint8Array(rng.int(50)) })
        : icmpMessage(8, 0, rng.nextU32(), new Uint8Array(rng.int(50)));
      const p = mutatePacket(rng, ipv4Datagram({ src: 0x0a000003, dst: 0x0a000002, protocol: tcp ? PROTO_TCP : PROTO_ICMP }, payload));
      fixChecksums(p);
      const err = checkIpv4(p);
      // Whatever is still wrong with the packet, it is not the IPv4 checksum.
      expect(err).not.toBe('ERR_IPV4_CHECKSUM');
      if (err !== undefined || (p[6]! & 0x3f) !== 0 || p[7] !== 0) continue;
      const hl = (p[0]! & 0x0f) * 4;
      const body = p.subarray(hl, (p[2]! << 8) | p[3]!);
      if (p[9] === PROTO_TCP && body.length >= 20) {
        const seg = parseTcp(body, readU32(p, 12), readU32(p, 16));
        if (seg instanceof WireError) expect(seg.code).not.toBe('ERR_TCP_CHECKSUM');
        else tcpValid++;
      } else if (p[9] === PROTO_ICMP && body.length >= 8) {
        expect(checkIcmp(body)).toBeUndefined();
        icmpValid++;
      }
    }
    expect(tcpValid).toBeGreaterThan(100);
    expect(icmpValid).toBeGreaterThan(100);
  });
});
