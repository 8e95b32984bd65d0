/**
 * Why each segment left, as the trace and the debug log tell it: the reason the TCP layer passes
 * with every segment (tcp/config.ts SendReason), cwnd/ssthresh at losses and state changes, and the
 * connection events logged at debug level (tcp-layer.ts logConn).
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { Sim, openPair } from '../tcp/sim.ts';
import { pattern } from '../helpers/pattern.ts';
import { PacketTracer } from '../../src/trace/tracer.ts';
import type { SendReason } from '../../src/tcp/config.ts';
import { isLossReason } from '../../src/tcp/config.ts';
import { INITIAL_SSTHRESH, ssthreshText } from '../../src/tcp/congestion-control.ts';
import type { TcpStateChange } from '../../src/tcp/tcp-layer.ts';
import { stateCc } from '../../src/app/serve.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript } from '../../src/drill/run.ts';

function logSink(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, stream };
}

describe('send reasons', () => {
  it('tells the handshake, data, tail loss probe, RTO retransmission and FIN apart', () => {
    const sim = new Sim(3);
    const reasons: { side: string; reason: SendReason; seq: number; len: number }[] = [];
    sim.a.onSegmentSent = (_c, seg, reason) => reasons.push({ side: 'a', reason, seq: seg.seq, len: seg.payload?.length ?? 0 });
    sim.b.onSegmentSent = (_c, seg, reason) => reasons.push({ side: 'b', reason, seq: seg.seq, len: seg.payload?.length ?? 0 });
    const { client, server } = openPair(sim);
    sim.run(50);
    expect(client.established).toBe(true);
    expect(reasons.slice(0, 3).map((r) => `${r.side}:${r.reason}`)).toEqual(['a:syn', 'b:syn-ack', 'a:ack']);
    // The one data segment is lost, and so is the tail loss probe (RFC 8985 §7) that resends it:
    // then the retransmission timer sends it a third time.
    let dropped = 0;
    sim.dropIf = (r) => r.from === 'a' && r.seg.payload.length > 0 && dropped++ < 2;
    client.sendAll(pattern(100, 1));
    sim.run(3000);
    expect(server()!.data().length).toBe(100);
    const data = reasons.filter((r) => r.side === 'a' && r.len > 0);
    expect(data.map((r) => r.reason)).toEqual(['data', 'tlp', 'rto-retransmit']);
    expect(new Set(data.map((r) => r.seq)).size).toBe(1);
    client.conn.shutdown();
    sim.run(500);
    expect(reasons.filter((r) => r.side === 'a' && r.reason === 'fin')).toHaveLength(1);
  });

  it('the tracer ends an outgoing line with the reason, and with cwnd/ssthresh at a loss', () => {
    const lines: string[] = [];
    const tracer = new PacketTracer({ write: (l) => lines.push(l), time: 'none' });
    const sim = new Sim(4);
    // The tracer sees a's outgoing segments as raw IPv4 packets; here a minimal one is rebuilt from
    // the parsed record, so only the reason logic is under test.
    sim.a.onSegmentSent = (c, _seg, reason) => tracer.noteReason(reason, isLossReason(reason) ? c.info() : undefined);
    const { client } = openPair(sim);
    sim.run(50);
    // The tail segment of three is lost, then the probes that resend it (a new probe episode after
    // the ACK of the first two): then the retransmission timer.
    let n = 0;
    sim.dropIf = (r) => r.from === 'a' && r.seg.payload.length > 0 && ++n >= 3 && n <= 5;
    client.sendAll(pattern(3 * 1448, 2));
    const pkt = ipv4Tcp();
    // One line per segment sent: feed the tracer a stand-in packet each time a sends.
    const prev = sim.a.onSegmentSent;
    sim.a.onSegmentSent = (c, seg, reason) => {
      prev(c, seg, reason);
      lines.push(tracer.line('out', pkt, sim.now));
    };
    sim.run(3000);
    const rto = lines.find((l) => l.includes('[rto-retransmit'));
    expect(rto).toBeDefined();
    // After the timeout (RFC 5681 §3.1 eq. 4): cwnd is one segment, ssthresh from the flight.
    const m = / \[rto-retransmit cwnd (\d+) ssthresh (\d+)\]$/.exec(rto!);
    expect(m).not.toBeNull();
    const mss = client.conn.info().mss;
    expect(Number(m![1])).toBe(mss);
    expect(Number(m![2])).toBeGreaterThanOrEqual(2 * mss);
    expect(lines.filter((l) => l.endsWith(' [data]'))).toHaveLength(3);
    expect(lines.filter((l) => / \[tlp cwnd \d+ ssthresh \w+\]$/.test(l))).toHaveLength(2);
  });

  it('state changes carry cwnd and ssthresh, "initial" before the first reduction', () => {
    const sim = new Sim(5);
    const changes: TcpStateChange[] = [];
    sim.a.onStateChange = (e) => changes.push(e);
    openPair(sim);
    sim.run(50);
    const est = changes.find((e) => e.to === 'ESTABLISHED')!;
    expect(est.ssthresh).toBe(INITIAL_SSTHRESH);
    // RFC 6928 initial window: 10 segments of the MSS less the timestamp option (1460 - 12).
    expect(est.cwnd).toBe(10 * 1448);
    expect(stateCc(est)).toBe('  cwnd 14480 ssthresh initial');
    expect(ssthreshText(INITIAL_SSTHRESH)).toBe('initial');
    expect(ssthreshText(2920)).toBe('2920');
  });
});

describe('--log-level debug: connection events', () => {
  it('logs open, retransmit and close with the 4-tuple; nothing at info', () => {
    const sink = logSink();
    const sim = new Sim(6, { logger: pino({ level: 'debug' }, sink.stream) });
    const { client, server } = openPair(sim);
    sim.run(50);
    let dropped = false;
    sim.dropIf = (r) => (!dropped && r.from === 'a' && r.seg.payload.length > 0 ? (dropped = true) : false);
    client.sendAll(pattern(100, 3), true);
    sim.run(2000);
    server()!.conn.shutdown();
    sim.run(2000);
    const msgs = sink.lines.map((l) => l['msg']);
    expect(msgs).toContain('tcp: open');
    expect(msgs).toContain('tcp: retransmit');
    expect(msgs).toContain('tcp: close');
    const open = sink.lines.find((l) => l['msg'] === 'tcp: open')!;
    expect(open['local']).toMatch(/^10\.0\.0\.1:\d+$/);
    expect(open['remote']).toBe('10.0.0.2:80');
    expect(open['ssthresh']).toBe('initial');
    const rtx = sink.lines.find((l) => l['msg'] === 'tcp: retransmit')!;
    expect(rtx['reason']).toBe('tlp');
    expect(rtx['len']).toBe(100);

    const quiet = logSink();
    const sim2 = new Sim(6, { logger: pino({ level: 'info' }, quiet.stream) });
    openPair(sim2);
    sim2.run(50);
    expect(quiet.lines).toEqual([]);
  });

  it('logs a reset received and a reset sent', () => {
    const sink = logSink();
    const sim = new Sim(7, { logger: pino({ level: 'debug' }, sink.stream) }, { logger: pino({ level: 'debug' }, sink.stream) });
    const { client, server } = openPair(sim);
    sim.run(50);
    server()!.conn.abort();
    sim.run(50);
    expect(client.error?.code).toBe('ECONNRESET');
    const msgs = sink.lines.map((l) => l['msg']);
    expect(msgs).toContain('tcp: reset sent');
    expect(msgs).toContain('tcp: reset received');
  });
});

/** A minimal IPv4+TCP packet (10.0.0.1:1 > 10.0.0.2:80, ACK), for tracer lines. */
function ipv4Tcp(): Uint8Array {
  const p = new Uint8Array(40);
  p[0] = 0x45;
  p[3] = 40;
  p[8] = 64;
  p[9] = 6;
  p.set([10, 0, 0, 1], 12);
  p.set([10, 0, 0, 2], 16);
  p[21] = 1;
  p[23] = 80;
  p[32] = 0x50;
  p[33] = 0x10;
  return p;
}

describe('the reasons of the drill corpus (tunstack drill --trace)', () => {
  it.each([
    ['fast-retransmit.pkt', 'fast-retransmit'],
    ['keepalive.pkt', 'keepalive'],
    ['zero-window-persist.pkt', 'window-probe'],
    ['delayed-ack.pkt', 'delayed-ack'],
    ['rto-backoff.pkt', 'rto-retransmit'],
    ['tlp.pkt', 'tlp'],
    ['sack-recovery.pkt', 'sack-retransmit'],
  ])('%s: a segment the stack sent is marked [%s]', async (file, reason) => {
    const lines: string[] = [];
    const r = await runScript(parseScript(readFileSync(join('test/drill', file), 'utf8'), `test/drill/${file}`), { trace: (l) => lines.push(l) });
    expect(r.status, JSON.stringify(r)).toBe('pass');
    expect(lines.some((l) => l.endsWith(`[${reason}]`))).toBe(true);
  });
});
