/**
 * The fuzz world: a server Stack (HTTP on port 80) on one end of a memory link in virtual time
 * (ManualClock), and on the other end
 *
 *   - a raw peer, 10.0.0.3, that opens real TCP connections to port 80 and streams (often mutated)
 *     pipelined HTTP requests over them, split at random points; it answers like a host (ACKs what
 *     it receives on its connections, RSTs what belongs to none) and tracks each connection's
 *     sequence numbers so that fuzz segments can land near the live windows;
 *   - a fuzzer that injects mutated IPv4/TCP/ICMP/UDP packets and fragments, most with valid
 *     checksums so that they reach TCP and ICMP logic;
 *   - a client Stack, 10.0.0.1 (never used as a fuzz source), that after every batch does a clean
 *     exchange: handshake, GET /clean, exact response bytes, close.
 *
 * After every batch: no exception escaped, the connection table, reassembly buffers, send queues
 * and HTTP connections are within bounds, every response stream the peer got starts with an
 * HTTP/1.1 status line, and the clean exchange gave the reference bytes. `drain()` then stops all
 * input and runs virtual time until every connection is gone (else: a leak).
 * Everything is decided by the seed (the HTTP Date is fixed; odd seeds run the link with TSO), so a
 * finding replays from its seed.
 */
import { Stack } from '../../src/stack.ts';
import { createMemoryLink, type MemoryDevice } from '../../src/link/memory-device.ts';
import type { DeviceStats, NetDevice, PacketHandler } from '../../src/link/device.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { Rng } from '../../src/util/random.ts';
import { createHttpServer, type HttpServer } from '../../src/http/server.ts';
import type { IncomingRequest } from '../../src/http/incoming-request.ts';
import type { ServerResponse } from '../../src/http/server-response.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { seqAdd, seqGt, seqLe, seqSub } from '../../src/wire/seq.ts';
import { ACK, FIN, PSH, RST, SYN, URG } from '../../src/wire/tcp.ts';
import { requestStream } from './http-gen.ts';
import { parseResponses } from '../http/http-client.ts';
import { mutatePacket, pick } from './mutate.ts';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP, fixChecksums, icmpMessage, ipv4Datagram, readU32, tcpSegment, toHex, udpDatagram, writeU32 } from './packets.ts';
import { drawBytes } from '../helpers/pattern.ts';

export const SERVER = '10.0.0.2';
export const CLIENT = '10.0.0.1';
export const PEER = '10.0.0.3';
const SERVER_A = parseIpv4Address(SERVER);
const CLIENT_A = parseIpv4Address(CLIENT);
const PEER_A = parseIpv4Address(PEER);
const HTTP_PORT = 80;

export const CLEAN_REQUEST = 'GET /clean HTTP/1.1\r\nHost: fuzz\r\n\r\n';
export const CLEAN_BODY = 'tunstack is still answering\n';
/** The HTTP Date header's clock: fixed, so that responses are byte-for-byte reproducible. */
const WALL_CLOCK = Date.UTC(2026, 0, 1, 0, 0, 0);

/** Server limits the bounds are checked against. */
const SYN_BACKLOG = 256;
const SEND_BUFFER = 256 * 1024;
const REASM_MAX_BYTES = 256 * 1024;
const REASM_MAX_DATAGRAMS = 64;
/** Connections the server may hold: the SYN queue, the peer's few, and TIME-WAITs of 2 * MSL. */
export const MAX_CONNECTIONS = SYN_BACKLOG + 512;
const PEER_CONNECTIONS = 16;

export interface Finding {
  kind: 'exception' | 'bound' | 'clean' | 'leak' | 'hang' | 'http';
  message: string;
  seed: number;
  batch: number;
  /** The packet the server was processing when it threw (hex). */
  culprit?: string;
  /** Every packet the peer and the fuzzer injected in the failing batch, hex (oldest first). */
  packets: string[];
}

export interface FuzzCounters {
  batches: number;
  /** Fuzz packets injected (mutated or crafted), fragments counted one by one. */
  fuzzPackets: number;
  /** Valid packets of the peer's own connections (handshakes, request data, ACKs, RSTs). */
  peerPackets: number;
  httpStreams: number;
  httpRequests: number;
  httpMutatedStreams: number;
  /** Response bytes the peer received on its HTTP connections. */
  httpResponseBytes: number;
  /** Intact streams whose responses were parsed and counted when the server closed. */
  httpStreamsChecked: number;
  cleanExchanges: number;
  /** Virtual milliseconds elapsed. */
  virtualMs: number;
}

interface PeerConn {
  port: number;
  state: 'syn-sent' | 'open' | 'closed';
  iss: number;
  /** Next sequence number we send; the server has acknowledged up to sndUna. */
  sndNxt: number;
  sndUna: number;
  /** Next sequence number we expect from the server. */
  rcvNxt: number;
  ts: boolean;
  tsEcr: number;
  needAck: boolean;
  stream: Uint8Array;
  sentFin: boolean;
  /** Batches since sndUna last moved while we had data out (then we go back to sndUna). */
  stalled: number;
  idle: number;
  /** The first bytes of the server's response stream (up to 9: "HTTP/1.1 "). */
  head: string;
  /** For an intact request stream: the methods of the requests the server must answer. */
  answered: string[] | undefined;
  /** A fuzz packet was aimed at this connection (its byte stream is then anyone's guess). */
  touched: boolean;
  openedAt: number;
  /** The response bytes, in order (intact streams only, up to RESPONSE_KEEP bytes). */
  resp: Buffer[];
  respBytes: number;
}

/** Response bytes kept per intact stream for the exact check (more: the check is skipped). */
const RESPONSE_KEEP = 1 << 20;

/** The peer's own device end: it sees every packet the server sends, then the client stack gets them. */
class PeerDevice implements NetDevice {
  readonly name: string;
  readonly mtu: number;
  private rx: PacketHandler | undefined;

  constructor(
    private readonly inner: MemoryDevice,
    observe: (p: Uint8Array) => void,
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    inner.setReceiver((packets) => {
      for (const p of packets) observe(p);
      this.rx?.(packets);
    });
  }
  setReceiver(rx: PacketHandler): void {
    this.rx = rx;
  }
  send(packet: Uint8Array): void {
    this.inner.send(packet);
  }
  stats(): DeviceStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The server's site: a fixed page for the clean check, and routes that read bodies and stream. */
function fuzzSite(req: IncomingRequest, res: ServerResponse): void {
  const url = req.url;
  if (url === '/clean') {
    res.setHeader('Content-Type', 'text/plain');
    res.end(CLEAN_BODY);
  } else if (url.startsWith('/bytes/')) {
    const n = Math.max(0, Math.min(100_000, Number.parseInt(url.slice(7), 10) || 0));
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = i % 251;
    res.setHeader('Content-Length', n);
    res.end(body);
  } else if (url === '/chunked') {
    res.write('ab');
    res.write('c');
    res.end('d\n');
  } else if (url === '/echo') {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(`${req.method} ${n}\n`));
  } else {
    res.statusCode = 404;
    res.end('not here\n');
  }
}

const immediate = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

function key(n: number): Uint8Array {
  return Uint8Array.from({ length: 16 }, (_, i) => (i * 13 + n) & 0xff);
}

export class FuzzHarness {
  readonly seed: number;
  readonly clock = new ManualClock(1000);
  readonly server: Stack;
  readonly client: Stack;
  readonly http: HttpServer;
  readonly counters: FuzzCounters = {
    batches: 0,
    fuzzPackets: 0,
    peerPackets: 0,
    httpStreams: 0,
    httpRequests: 0,
    httpMutatedStreams: 0,
    httpResponseBytes: 0,
    httpStreamsChecked: 0,
    cleanExchanges: 0,
    virtualMs: 0,
  };
  /** Hooks for a watchdog (scripts/fuzz.ts): a batch starts / the harness makes progress / a packet goes in. */
  onBatchStart: (() => void) | undefined;
  onStep: (() => void) | undefined;
  onInject: ((p: Uint8Array) => void) | undefined;
  /** Errors thrown outside the batch's own calls (stream callbacks): the CLI feeds them in. */
  readonly asyncErrors: unknown[] = [];
  private readonly rng: Rng;
  private readonly wire: MemoryDevice;
  /** The packet the server's IPv4 layer is processing; left set when it threw. */
  private processing: Uint8Array | undefined;
  private readonly conns = new Map<number, PeerConn>();
  private nextPort = 20000;
  private batchPackets: Uint8Array[] = [];
  private reference: Buffer | undefined;
  /** Stop opening new peer connections (the HTTP budget is spent) / stop answering (drain). */
  private openNew = true;
  /** A malformed response seen by the peer (checked after the batch). */
  private httpProblem: string | undefined;
  private silent = false;

  /** Odd seeds run the link with segmentation offload: the server sends super-segments, cut below it. */
  readonly tso: boolean;

  private constructor(seed: number) {
    this.tso = (seed & 1) === 1;
    this.seed = seed;
    this.rng = new Rng(seed);
    const [a, b] = createMemoryLink(this.clock, { latencyMs: 1, tso: this.tso });
    this.wire = b;
    this.server = new Stack({
      device: a,
      address: SERVER,
      clock: this.clock,
      tcp: { isnKey: key(1), mslMs: 2000, synBacklog: SYN_BACKLOG, sendBufferSize: SEND_BUFFER },
      reassembly: { maxBytes: REASM_MAX_BYTES, maxDatagrams: REASM_MAX_DATAGRAMS },
    });
    // Note the packet in process, so that a crash names it (one closure call per packet, test only).
    const ip = this.server.ip;
    const receive = ip.receive.bind(ip);
    ip.receive = (now: number, packet: Uint8Array): void => {
      this.processing = packet;
      receive(now, packet);
      this.processing = undefined;
    };
    this.http = createHttpServer(this.server, { clock: this.clock, wallClock: () => WALL_CLOCK }, fuzzSite);
    this.http.listen(HTTP_PORT);
    this.client = new Stack({
      device: new PeerDevice(b, (p) => this.observe(p)),
      address: CLIENT,
      clock: this.clock,
      tcp: { isnKey: key(2), mslMs: 500 },
    });
  }

  /** A harness with its reference clean exchange done (no fuzz yet). */
  static async create(seed: number): Promise<FuzzHarness> {
    const h = new FuzzHarness(seed);
    const first = await h.cleanExchange();
    if (typeof first === 'string') throw new Error(`the clean exchange fails before any fuzzing: ${first}`);
    h.reference = first;
    return h;
  }

  /** The response bytes of the clean exchange, as first received. */
  get referenceResponse(): Buffer {
    return this.reference!;
  }

  /**
   * One batch: the peer's connections advance (handshakes, request bytes), `fuzz` fuzz packets go
   * in, virtual time moves on, then every invariant is checked. Returns the first finding.
   */
  async runBatch(fuzz: number, openHttp: boolean): Promise<Finding | undefined> {
    this.counters.batches++;
    this.batchPackets = [];
    this.onBatchStart?.();
    this.onStep?.();
    this.openNew = openHttp;
    const rng = this.rng;
    try {
      this.drivePeer();
      for (let i = 0; i < fuzz; i++) {
        for (const p of this.fuzzPackets()) {
          this.inject(p);
          this.counters.fuzzPackets++;
        }
        if (rng.chance(1 / 16)) this.clock.advance(rng.int(4));
      }
      for (let i = 2 + rng.int(4); i > 0; i--) {
        this.clock.advance(1);
        await immediate();
      }
      if (rng.chance(0.03)) {
        // Long enough for retransmission, keep-alive, reassembly and TIME-WAIT timers.
        this.clock.advance(100 + rng.int(3000));
        await immediate();
      }
    } catch (e) {
      return this.finding('exception', describe(e));
    }
    if (this.asyncErrors.length > 0) return this.finding('exception', describe(this.asyncErrors[0]));
    if (this.httpProblem !== undefined) return this.finding('http', this.httpProblem);
    const bound = this.checkBounds(this.counters.batches % 16 === 0);
    if (bound !== undefined) return this.finding('bound', bound);
    let clean: Buffer | string;
    try {
      clean = await this.cleanExchange();
    } catch (e) {
      return this.finding('exception', describe(e));
    }
    if (typeof clean === 'string') return this.finding('clean', clean);
    if (!clean.equals(this.reference!)) {
      return this.finding('clean', `clean exchange returned different bytes:\n${clean.toString('latin1')}\n--- expected ---\n${this.reference!.toString('latin1')}`);
    }
    if (this.asyncErrors.length > 0) return this.finding('exception', describe(this.asyncErrors[0]));
    return undefined;
  }

  /**
   * Stop all input (the peer goes silent, as a host that vanished) and run virtual time, up to two
   * hours, until the server holds no connection, no HTTP connection and no reassembly: anything
   * left then is a leak.
   */
  async drain(): Promise<Finding | undefined> {
    this.batchPackets = [];
    this.onBatchStart?.();
    this.silent = true;
    try {
      const end = this.clock.now() + 2 * 3600_000;
      while (this.clock.now() < end) {
        this.onStep?.();
        await immediate();
        if (this.idleServer()) break;
        const t = this.clock.nextTimerAt();
        this.clock.runUntil(Math.min(end, t === undefined ? this.clock.now() + 1000 : Math.max(t, this.clock.now() + 1)));
      }
      await immediate();
    } catch (e) {
      return this.finding('exception', describe(e));
    } finally {
      this.silent = false;
      this.counters.virtualMs = this.clock.now() - 1000;
    }
    if (this.asyncErrors.length > 0) return this.finding('exception', describe(this.asyncErrors[0]));
    if (!this.idleServer()) {
      const table = this.server.connections().map((c) => `${c.remoteAddress}:${c.remotePort}->${c.localPort} ${c.state} sendQueued=${c.sendQueued}`);
      const ip = this.server.ip.stats();
      return this.finding(
        'leak',
        `after 2 h of silence the server still holds ${table.length} connections, ${this.http.connectionCount} HTTP connections, ` +
          `${ip.reasmPending} reassemblies:\n${table.slice(0, 20).join('\n')}`,
      );
    }
    return undefined;
  }

  /** Some peer connection still has request bytes to send (run batches without new ones until not). */
  get peerBusy(): boolean {
    for (const c of this.conns.values()) {
      if (c.state === 'syn-sent' || (c.state === 'open' && seqSub(c.sndNxt, c.iss + 1) < c.stream.length)) return true;
    }
    return false;
  }

  private idleServer(): boolean {
    return this.server.tcpLayer.stats().connections === 0 && this.http.connectionCount === 0 && this.server.ip.stats().reasmPending === 0;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => {
      this.http.closeAllConnections();
      this.http.close(() => r());
    });
    await this.server.close();
    await this.client.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Invariants

  private checkBounds(full: boolean): string | undefined {
    const tcp = this.server.tcpLayer.stats();
    if (tcp.connections > MAX_CONNECTIONS) return `server holds ${tcp.connections} connections > ${MAX_CONNECTIONS}`;
    if (this.http.connectionCount > MAX_CONNECTIONS) return `HTTP server holds ${this.http.connectionCount} connections`;
    const ip = this.server.ip.stats();
    if (ip.reasmBytes > REASM_MAX_BYTES) return `reassembly holds ${ip.reasmBytes} bytes > ${REASM_MAX_BYTES}`;
    if (ip.reasmPending > REASM_MAX_DATAGRAMS) return `reassembly holds ${ip.reasmPending} datagrams > ${REASM_MAX_DATAGRAMS}`;
    if (this.wire.packetsInFlight > 100_000) return `${this.wire.packetsInFlight} packets in flight on the link`;
    if (full) {
      for (const c of this.server.connections()) {
        if (c.sendQueued > SEND_BUFFER) return `${c.remoteAddress}:${c.remotePort} ${c.state} holds ${c.sendQueued} bytes to send > ${SEND_BUFFER}`;
      }
    }
    return undefined;
  }

  /** Handshake, GET /clean, read the whole response, close. Returns the bytes, or what went wrong. */
  private async cleanExchange(): Promise<Buffer | string> {
    this.counters.cleanExchanges++;
    const sock = this.client.tcp.connect({ host: SERVER, port: HTTP_PORT });
    const chunks: Buffer[] = [];
    let received = 0;
    let error: Error | undefined;
    let closed = false;
    let ended = false;
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
    });
    sock.on('error', (e: Error) => (error = e));
    sock.on('close', () => (closed = true));
    sock.write(CLEAN_REQUEST);
    const deadline = this.clock.now() + 30_000;
    while (!closed && this.clock.now() < deadline) {
      this.onStep?.();
      await immediate();
      if (!ended && responseComplete(chunks, received)) {
        ended = true;
        sock.end();
        continue;
      }
      const t = this.clock.nextTimerAt();
      this.clock.runUntil(Math.min(deadline, t === undefined ? this.clock.now() + 1 : Math.max(t, this.clock.now() + 1)));
    }
    const data = Buffer.concat(chunks);
    if (!closed) {
      sock.destroy();
      return `no clean close within 30 s (virtual); received ${data.length} bytes: ${JSON.stringify(data.toString('latin1'))}`;
    }
    if (error !== undefined) return `client socket error ${String((error as NodeJS.ErrnoException).code ?? '')} ${error.message}`;
    if (!ended) return `connection closed before the whole response: ${JSON.stringify(data.toString('latin1'))}`;
    return data;
  }

  // ---------------------------------------------------------------------------------------------
  // The peer

  private inject(p: Uint8Array): void {
    this.batchPackets.push(p.slice());
    this.onInject?.(p);
    this.wire.send(p);
  }

  private sendPeer(c: PeerConn, flags: number, payload?: Uint8Array, seq = c.sndNxt): void {
    const options = c.ts ? tsOption(this.tsNow(), c.tsEcr) : undefined;
    const seg = tcpSegment({ srcPort: c.port, dstPort: HTTP_PORT, seq, ack: flags & ACK ? c.rcvNxt : 0, flags, window: 65535, ...(options ? { options } : {}), ...(payload ? { payload } : {}) });
    this.inject(ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol: PROTO_TCP, id: this.rng.int(0x10000) }, seg));
    this.counters.peerPackets++;
  }

  private tsNow(): number {
    return Math.floor(this.clock.now()) >>> 0;
  }

  /** Open connections, stream request bytes, ACK, go back after a stall, give up idle ones. */
  private drivePeer(): void {
    const rng = this.rng;
    for (const [port, c] of this.conns) {
      if (c.state === 'closed') {
        this.conns.delete(port);
        continue;
      }
      if (c.state === 'syn-sent') {
        if (++c.idle > 20) this.conns.delete(port); // no SYN-ACK came (the SYN was lost or refused)
        continue;
      }
      const sent = seqSub(c.sndNxt, c.iss + 1);
      if (c.sndUna !== c.sndNxt) {
        if (++c.stalled > 4) {
          // Our data was dropped (a fuzz segment may have moved the server on): go back to SND.UNA.
          c.sndNxt = c.sndUna;
          c.sentFin = false;
          c.stalled = 0;
        }
      } else c.stalled = 0;
      let streamAt = seqSub(c.sndNxt, c.iss + 1);
      if (streamAt >= 0 && streamAt < c.stream.length && rng.chance(0.8)) {
        // 1..4 segments, each cut at a random point: 1..16 bytes or up to a full segment.
        for (let k = 1 + rng.int(4); k > 0 && streamAt < c.stream.length; k--) {
          const n = Math.min(c.stream.length - streamAt, 1 + rng.int(rng.chance(0.5) ? 16 : 1400));
          this.sendPeer(c, PSH | ACK, c.stream.subarray(streamAt, streamAt + n));
          c.sndNxt = seqAdd(c.sndNxt, n);
          streamAt += n;
        }
        c.needAck = false;
        c.idle = 0;
      } else if (streamAt >= c.stream.length && !c.sentFin && rng.chance(0.2)) {
        this.sendPeer(c, FIN | ACK);
        c.sndNxt = seqAdd(c.sndNxt, 1);
        c.sentFin = true;
      } else if (c.needAck && rng.chance(0.6)) {
        // Sometimes late: the server then has data in flight for SACKs and duplicate ACKs to act on.
        this.sendPeer(c, ACK);
        c.needAck = false;
      }
      if (sent >= c.stream.length && ++c.idle > 20) {
        // Done with it: reset (the server may be waiting for more that never comes).
        this.sendPeer(c, RST | ACK);
        this.conns.delete(port);
      }
    }
    while (this.openNew && this.conns.size < PEER_CONNECTIONS) this.openPeer();
  }

  private openPeer(): void {
    const rng = this.rng;
    const port = this.nextPort;
    this.nextPort = this.nextPort >= 60000 ? 20000 : this.nextPort + 1;
    const s = requestStream(rng);
    this.counters.httpStreams++;
    this.counters.httpRequests += s.requests;
    if (s.mutated) this.counters.httpMutatedStreams++;
    const iss = rng.nextU32();
    const ts = rng.chance(0.5);
    const c: PeerConn = { port, state: 'syn-sent', iss, sndNxt: iss, sndUna: iss, rcvNxt: 0, ts: false, tsEcr: 0, needAck: false, stream: s.bytes, sentFin: false, stalled: 0, idle: 0, head: '',
      answered: s.mutated ? undefined : s.answered, touched: false, openedAt: this.clock.now(), resp: [], respBytes: 0 };
    this.conns.set(port, c);
    const opts = synOptions(rng, ts, this.tsNow());
    const seg = tcpSegment({ srcPort: port, dstPort: HTTP_PORT, seq: iss, ack: 0, flags: SYN, window: 65535, options: opts });
    this.inject(ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol: PROTO_TCP, id: rng.int(0x10000) }, seg));
    this.counters.peerPackets++;
    c.sndNxt = seqAdd(iss, 1);
    c.sndUna = c.sndNxt;
  }

  /** Every packet the server sends to the peer's side of the link passes here. */
  private observe(p: Uint8Array): void {
    if (this.silent || p.length < 40 || p[9] !== PROTO_TCP || readU32(p, 16) !== PEER_A) return;
    const hl = (p[0]! & 0x0f) * 4;
    const t = hl;
    if (p.length < t + 20) return;
    const port = (p[t + 2]! << 8) | p[t + 3]!;
    const seq = readU32(p, t + 4);
    const ack = readU32(p, t + 8);
    const doff = (p[t + 12]! >>> 4) * 4;
    const flags = p[t + 13]!;
    const len = p.length - t - doff;
    const c = this.conns.get(port);
    if (c === undefined || c.state === 'closed' || (p[t]! << 8 | p[t + 1]!) !== HTTP_PORT) {
      // RFC 9293 §3.10.7.1: a segment for no connection gets a RST (never one for a RST).
      if (flags & RST) return;
      const src = (p[t]! << 8) | p[t + 1]!;
      const reset = flags & ACK
        ? tcpSegment({ srcPort: port, dstPort: src, seq: ack, ack: 0, flags: RST, window: 0 })
        : tcpSegment({ srcPort: port, dstPort: src, seq: 0, ack: seqAdd(seq, len + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)), flags: RST | ACK, window: 0 });
      this.inject(ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol: PROTO_TCP }, reset));
      this.counters.peerPackets++;
      return;
    }
    if (flags & RST) {
      c.state = 'closed';
      return;
    }
    const tsv = findTimestamp(p, t + 20, t + doff);
    if (c.state === 'syn-sent') {
      if ((flags & (SYN | ACK)) === (SYN | ACK) && ack === c.sndNxt) {
        c.state = 'open';
        c.rcvNxt = seqAdd(seq, 1);
        c.needAck = true;
        if (tsv !== undefined) {
          c.ts = true;
          c.tsEcr = tsv;
        }
        // Complete the handshake now, as a kernel would.
        this.sendPeer(c, ACK);
        c.needAck = false;
      }
      return;
    }
    if (tsv !== undefined) c.tsEcr = tsv;
    if (flags & ACK && seqGt(ack, c.sndUna) && seqLe(ack, c.sndNxt)) {
      c.sndUna = ack;
      c.stalled = 0;
    }
    const end = seqAdd(seq, len + (flags & FIN ? 1 : 0));
    if (len > 0 || flags & FIN) {
      if (seqLe(seq, c.rcvNxt) && seqGt(end, c.rcvNxt)) {
        if (c.head.length < 9 && len > 0) {
          const from = t + doff + seqSub(c.rcvNxt, seq);
          const to = Math.min(p.length, from + 9 - c.head.length);
          c.head += Buffer.from(p.subarray(from, to)).toString('latin1');
          // Whatever the request, the answer is an HTTP/1.1 response (or nothing).
          if (c.head.length === 9 && c.head !== 'HTTP/1.1 ' && this.httpProblem === undefined) {
            this.httpProblem = `the response stream on port ${c.port} starts with ${JSON.stringify(c.head)}; request stream: ${JSON.stringify(Buffer.from(c.stream).toString('latin1'))}`;
          }
        }
        if (c.answered !== undefined && len > 0 && c.respBytes < RESPONSE_KEEP) {
          const from = t + doff + seqSub(c.rcvNxt, seq);
          c.resp.push(Buffer.from(p.subarray(from, t + doff + len)));
          c.respBytes += t + doff + len - from;
        }
        this.counters.httpResponseBytes += seqSub(end, c.rcvNxt) - (flags & FIN ? 1 : 0);
        c.rcvNxt = end;
        if (flags & FIN) this.checkAnswers(c);
      }
      c.needAck = true;
      if (flags & FIN) {
        this.sendPeer(c, ACK);
        c.needAck = false;
      }
    }
  }

  /**
   * The server closed a connection whose request stream arrived intact and untouched by fuzz
   * packets: its responses must parse, one per request it had to answer (fewer only when the last
   * one says Connection: close, RFC 9112 §9.6). Only for connections younger than
   * the keep-alive timeout, which may rightly cut a slow pipeline short.
   */
  private checkAnswers(c: PeerConn): void {
    const expected = c.answered;
    if (expected === undefined || c.touched || c.respBytes >= RESPONSE_KEEP || this.clock.now() - c.openedAt > 4000) return;
    if (this.httpProblem !== undefined) return;
    const request = JSON.stringify(Buffer.from(c.stream).toString('latin1'));
    const buf = Buffer.concat(c.resp);
    let rs: ReturnType<typeof parseResponses>;
    try {
      rs = parseResponses(buf, expected);
    } catch (e) {
      this.httpProblem = `responses on port ${c.port} do not parse (${String(e)}); request stream: ${request}`;
      return;
    }
    const n = rs.length;
    const last = rs[n - 1];
    this.counters.httpStreamsChecked++;
    // Fewer only if the server said it closes (a 400, or a body delimited by the close: RFC 9112 §6.3).
    if (n === expected.length || (last !== undefined && n < expected.length && last.headers['connection'] === 'close')) return;
    this.httpProblem =
      `port ${c.port}: ${n} responses (${rs.map((r) => r.status).join(', ')}) to an intact stream that needs ${expected.length}; ` +
      `request stream: ${request}\nresponses: ${JSON.stringify(buf.toString('latin1').slice(0, 2000))}`;
  }

  // ---------------------------------------------------------------------------------------------
  // Fuzz packets

  /** One fuzz input: usually one packet, several for a fragmented datagram. */
  private fuzzPackets(): Uint8Array[] {
    const rng = this.rng;
    const r = rng.int(100);
    let pkts: Uint8Array[];
    if (r < 38) pkts = [this.liveSegment()];
    else if (r < 48) pkts = [this.synToListener()];
    else if (r < 54) pkts = [this.strayTcp()];
    else if (r < 63) pkts = [this.icmpEcho()];
    else if (r < 71) pkts = [this.icmpError()];
    else if (r < 83) return this.fragments();
    else if (r < 87) pkts = [this.udp()];
    else if (r < 89) pkts = [this.randomBytes()];
    else pkts = [this.liveSegment()];
    // Most packets are mutated; most of those get valid checksums again, so they reach the logic.
    const out: Uint8Array[] = [];
    for (let p of pkts) {
      if (rng.chance(0.7)) {
        p = mutatePacket(rng, p);
        if (rng.chance(0.85)) fixChecksums(p);
      }
      if (p.length >= 16 && readU32(p, 12) === CLIENT_A) {
        // The clean client's address is not a fuzz source (a spoofed RST may rightly kill its connection).
        writeU32(p, 12, PEER_A);
        fixChecksums(p);
      }
      out.push(p);
    }
    return out;
  }

  private livePeer(): PeerConn | undefined {
    let chosen: PeerConn | undefined;
    let n = 0;
    for (const c of this.conns.values()) {
      if (c.state !== 'open') continue;
      if (this.rng.int(++n) === 0) chosen = c; // reservoir sampling: uniform over open ones
    }
    if (chosen !== undefined) chosen.touched = true;
    return chosen;
  }

  /** A segment near a live connection's windows: seq around SND.NXT, ack around what the server sent. */
  private liveSegment(): Uint8Array {
    const rng = this.rng;
    const c = this.livePeer();
    if (c === undefined) return this.synToListener();
    const flags = pick(rng, LIVE_FLAGS);
    const payload = flags & (SYN | RST) && rng.chance(0.7) ? undefined : drawBytes(rng, rng.chance(0.5) ? 0 : 1 + rng.int(600));
    const options = rng.chance(0.5) ? this.liveOptions(c) : undefined;
    const seg = tcpSegment({
      srcPort: c.port,
      dstPort: HTTP_PORT,
      seq: seqAdd(rng.chance(0.5) ? c.sndNxt : c.sndUna, seqDelta(rng)),
      ack: seqAdd(c.rcvNxt, seqDelta(rng)),
      flags,
      window: rng.chance(0.8) ? 65535 : pick(rng, [0, 1, 536, rng.int(0x10000)]),
      urgent: flags & URG ? rng.int(0x10000) : 0,
      ...(options ? { options } : {}),
      ...(payload ? { payload } : {}),
    });
    return ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol: PROTO_TCP, id: rng.int(0x10000) }, seg);
  }

  /** Timestamps near the connection's own, SACK blocks around what the server has sent, or any options. */
  private liveOptions(c: PeerConn): Uint8Array {
    const rng = this.rng;
    const parts: number[] = [];
    if (c.ts && rng.chance(0.8)) parts.push(...tsOption(rng.chance(0.7) ? this.tsNow() : seqAdd(this.tsNow(), seqDelta(rng)), c.tsEcr));
    if (rng.chance(0.5)) {
      const blocks = 1 + rng.int(parts.length > 0 ? 2 : 4);
      parts.push(1, 1, 5, 2 + 8 * blocks);
      for (let b = 0; b < blocks; b++) {
        const left = seqAdd(c.rcvNxt, -rng.int(70_000) + (rng.chance(0.2) ? seqDelta(rng) : 0));
        const right = rng.chance(0.9) ? seqAdd(left, 1 + rng.int(20_000)) : seqAdd(left, seqDelta(rng));
        const w = new Uint8Array(8);
        writeU32(w, 0, left);
        writeU32(w, 4, right);
        parts.push(...w);
      }
    }
    return parts.length > 0 ? Uint8Array.from(parts) : randomOptions(rng, this.tsNow());
  }

  private synToListener(): Uint8Array {
    const rng = this.rng;
    const port = 1024 + rng.int(18000); // never one of the peer's own connections (20000-60000)
    const flags = rng.chance(0.85) ? SYN : pick(rng, [SYN | FIN, SYN | RST, SYN | ACK, SYN | URG, SYN | 0xc0]);
    const payload = rng.chance(0.1) ? drawBytes(rng, 1 + rng.int(100)) : undefined;
    const seg = tcpSegment({
      srcPort: port,
      dstPort: rng.chance(0.9) ? HTTP_PORT : rng.int(0x10000),
      seq: rng.nextU32(),
      ack: rng.chance(0.8) ? 0 : rng.nextU32(),
      flags,
      window: pick(rng, [0, 1, 1024, 65535, 29200]),
      options: rng.chance(0.7) ? synOptions(rng, rng.chance(0.5), this.tsNow()) : randomOptions(rng, this.tsNow()),
      ...(payload ? { payload } : {}),
    });
    return ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol: PROTO_TCP, id: rng.int(0x10000) }, seg);
  }

  /** Any flags to any port, from the peer or another source. */
  private strayTcp(): Uint8Array {
    const rng = this.rng;
    const src = rng.chance(0.7) ? PEER_A : pick(rng, [0x0a000004, 0x0a0000fe, 0xc0a80001, rng.nextU32()]);
    const seg = tcpSegment({
      srcPort: src === PEER_A ? rng.int(20000) : rng.int(0x10000), // not into the peer's own connections
      dstPort: rng.chance(0.5) ? HTTP_PORT : rng.int(0x10000),
      seq: rng.nextU32(),
      ack: rng.nextU32(),
      flags: rng.int(256),
      window: rng.int(0x10000),
      ...(rng.chance(0.3) ? { options: randomOptions(rng, this.tsNow()) } : {}),
      ...(rng.chance(0.3) ? { payload: drawBytes(rng, rng.int(300)) } : {}),
    });
    return ipv4Datagram({ src: src === CLIENT_A ? PEER_A : src, dst: SERVER_A, protocol: PROTO_TCP, id: rng.int(0x10000) }, seg);
  }

  private icmpEcho(): Uint8Array {
    const rng = this.rng;
    const data = drawBytes(rng, rng.chance(0.8) ? rng.int(64) : rng.int(1400));
    const msg = icmpMessage(8, rng.chance(0.9) ? 0 : rng.int(256), rng.nextU32(), data);
    return ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol: PROTO_ICMP, id: rng.int(0x10000), ttl: rng.chance(0.9) ? 64 : 1 }, msg);
  }

  /** An ICMP error quoting a datagram the server sent on a live connection (or a made-up one). */
  private icmpError(): Uint8Array {
    const rng = this.rng;
    const c = this.livePeer();
    const quotedTcp = tcpSegment({
      srcPort: HTTP_PORT,
      dstPort: c?.port ?? rng.int(0x10000),
      seq: c !== undefined ? seqAdd(c.rcvNxt, seqDelta(rng)) : rng.nextU32(),
      ack: c?.sndNxt ?? rng.nextU32(),
      flags: ACK,
      window: 0,
    });
    const quoted = ipv4Datagram({ src: SERVER_A, dst: PEER_A, protocol: rng.chance(0.9) ? PROTO_TCP : rng.int(256), id: rng.int(0x10000) }, quotedTcp);
    const original = quoted.subarray(0, Math.min(quoted.length, pick(rng, [0, 8, 20, 27, 28, quoted.length])));
    const type = pick(rng, [3, 3, 3, 11, 4, 5, 12]);
    const code = type === 3 ? pick(rng, [0, 1, 2, 3, 4, 4, 4, 13, rng.int(256)]) : rng.int(4);
    const rest = type === 3 && code === 4 ? pick(rng, [0, 1, 68, 296, 576, 1280, 1499, 1500, 9000, 0xffff]) : rng.nextU32();
    const src = rng.chance(0.5) ? PEER_A : pick(rng, [0x0a0000fe, 0xc0a80001]);
    return ipv4Datagram({ src, dst: SERVER_A, protocol: PROTO_ICMP, id: rng.int(0x10000) }, icmpMessage(type, code, rest, original));
  }

  /**
   * A datagram (a live-connection segment with data, or a ping) cut into fragments, then some of:
   * shuffled, one dropped, one duplicated, one overlapping, an oversized last offset.
   */
  private fragments(): Uint8Array[] {
    const rng = this.rng;
    const c = this.livePeer();
    const size = rng.chance(0.7) ? 16 + rng.int(1500) : 1500 + rng.int(6000);
    let transport: Uint8Array;
    let protocol: number;
    if (c !== undefined && rng.chance(0.5)) {
      protocol = PROTO_TCP;
      transport = tcpSegment({ srcPort: c.port, dstPort: HTTP_PORT, seq: c.sndNxt, ack: c.rcvNxt, flags: ACK | PSH, window: 65535, payload: drawBytes(rng, size) });
    } else {
      protocol = PROTO_ICMP;
      transport = icmpMessage(8, 0, rng.nextU32(), drawBytes(rng, size));
    }
    // A whole datagram first, for its transport checksum; then cut it.
    const whole = new Uint8Array(20 + transport.length);
    whole.set(transport, 20);
    whole[0] = 0x45;
    whole[9] = protocol;
    writeU32(whole, 12, PEER_A);
    writeU32(whole, 16, SERVER_A);
    whole[2] = (whole.length >>> 8) & 0xff;
    whole[3] = whole.length & 0xff;
    if (whole.length <= 0xffff) fixChecksums(whole);
    const data = whole.subarray(20);
    const id = rng.int(0x10000);
    const per = 8 * (1 + rng.int(rng.chance(0.5) ? 8 : 180));
    let frags: Uint8Array[] = [];
    for (let off = 0; off < data.length; off += per) {
      const end = Math.min(off + per, data.length);
      const more = end < data.length;
      frags.push(ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol, id, fragWord: (more ? 0x2000 : 0) | (off >>> 3) }, data.subarray(off, end)));
    }
    if (frags.length > 1 && rng.chance(0.5)) frags = shuffle(rng, frags);
    if (frags.length > 1 && rng.chance(0.2)) frags.splice(rng.int(frags.length), 1);
    if (rng.chance(0.2)) frags.push(frags[rng.int(frags.length)]!.slice());
    if (rng.chance(0.2)) {
      // Overlap: move one fragment's offset back by 8..64 bytes.
      const f = frags[rng.int(frags.length)]!.slice();
      const word = (f[6]! << 8) | f[7]!;
      const off = Math.max(0, (word & 0x1fff) - 1 - rng.int(8));
      f[6] = ((word & 0xe000) | off) >>> 8;
      f[7] = off & 0xff;
      fixChecksums(f);
      frags.push(f);
    }
    if (rng.chance(0.1)) {
      // A last fragment reaching past 65535 bytes (the ping of death).
      frags.push(ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol, id, fragWord: 0x1fff - rng.int(4) }, drawBytes(rng, 8 + rng.int(200))));
    }
    // Keep the batch bounded: long trains are cut (what is missing then times out in reassembly).
    if (frags.length > 48) frags.length = 48;
    for (let i = 0; i < frags.length; i++) {
      if (rng.chance(0.15)) {
        frags[i] = mutatePacket(rng, frags[i]!.slice());
        if (rng.chance(0.85)) fixChecksums(frags[i]!);
      }
    }
    return frags;
  }

  private udp(): Uint8Array {
    const rng = this.rng;
    const d = udpDatagram(rng.int(0x10000), rng.int(0x10000), drawBytes(rng, rng.int(200)));
    return ipv4Datagram({ src: PEER_A, dst: SERVER_A, protocol: PROTO_UDP, id: rng.int(0x10000) }, d);
  }

  private randomBytes(): Uint8Array {
    const rng = this.rng;
    const p = drawBytes(rng, rng.int(120));
    if (p.length > 0 && rng.chance(0.7)) p[0] = 0x45;
    if (p.length >= 20 && rng.chance(0.7)) {
      writeU32(p, 12, PEER_A);
      writeU32(p, 16, SERVER_A);
      p[2] = p.length >>> 8;
      p[3] = p.length & 0xff;
      p[6] = 0;
      p[7] = 0;
      fixChecksums(p);
    }
    return p;
  }

  private finding(kind: Finding['kind'], message: string): Finding {
    const culprit = this.processing;
    this.processing = undefined;
    return {
      kind,
      message,
      seed: this.seed,
      batch: this.counters.batches,
      ...(culprit !== undefined ? { culprit: toHex(culprit) } : {}),
      packets: this.batchPackets.map(toHex),
    };
  }
}

/** A finding as text: what, where, how to replay, and the packets in hex. */
export function formatFinding(f: Finding): string {
  return (
    `FINDING (${f.kind}) at batch ${f.batch}, seed ${f.seed}\n${f.message}\n` +
    (f.culprit !== undefined ? `the packet the server was processing, hex:\n  ${f.culprit}\n` : '') +
    `replay with the same seed and flags; the ${f.packets.length} packets injected in that batch, hex:\n` +
    f.packets.map((p) => `  ${p}`).join('\n')
  );
}

// -------------------------------------------------------------------------------------------------

const LIVE_FLAGS = [ACK, ACK, ACK, ACK, PSH | ACK, PSH | ACK, PSH | ACK, FIN | ACK, FIN | ACK, RST, RST | ACK, SYN, SYN | ACK, 0, URG | ACK, FIN, SYN | FIN, 0xff, 0x29, ACK | 0xc0];

/** How far from the expected sequence number: mostly 0 or near, sometimes a window or half the space away. */
function seqDelta(rng: Rng): number {
  switch (rng.int(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return 0;
    case 4:
      return rng.int(33) - 16;
    case 5:
      return rng.int(3000) - 1500;
    case 6:
      return pick(rng, [65535, 65536, -65535, -65536, 262144, -262144, 1 << 20]) + rng.int(3) - 1;
    case 7:
      return pick(rng, [0x7fffffff, 0x80000000, -0x7fffffff, 0x40000000]);
    default:
      return rng.nextU32();
  }
}

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** NOP NOP TS (12 bytes, the layout Linux sends on data segments). */
function tsOption(value: number, echo: number): Uint8Array {
  const o = new Uint8Array(12);
  o[0] = 1;
  o[1] = 1;
  o[2] = 8;
  o[3] = 10;
  writeU32(o, 4, value >>> 0);
  writeU32(o, 8, echo >>> 0);
  return o;
}

/** Options of a SYN: MSS (any value), SACK-permitted, window scale (up to 255), timestamps. */
function synOptions(rng: Rng, ts: boolean, now: number): Uint8Array {
  const parts: number[] = [];
  if (rng.chance(0.9)) {
    const mss = rng.chance(0.8) ? pick(rng, [536, 1220, 1460]) : pick(rng, [0, 1, 40, 64, 88, 65535, rng.int(0x10000)]);
    parts.push(2, 4, mss >>> 8, mss & 0xff);
  }
  if (rng.chance(0.6)) parts.push(1, 1, 4, 2);
  if (rng.chance(0.7)) parts.push(1, 3, 3, rng.chance(0.8) ? rng.int(15) : pick(rng, [14, 15, 16, 255]));
  if (ts) {
    parts.push(1, 1, 8, 10);
    const v = now >>> 0;
    parts.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff, 0, 0, 0, 0);
  }
  return Uint8Array.from(parts.slice(0, 40));
}

/** Any options, valid or not: bad lengths, unknown kinds, SACK blocks anywhere, EOL in the middle. */
function randomOptions(rng: Rng, now: number): Uint8Array {
  const parts: number[] = [];
  const n = 1 + rng.int(5);
  for (let i = 0; i < n && parts.length < 40; i++) {
    switch (rng.int(9)) {
      case 0:
        parts.push(2, pick(rng, [4, 4, 0, 1, 3, 5, 40]), rng.int(256), rng.int(256));
        break;
      case 1:
        parts.push(3, pick(rng, [3, 3, 2, 4]), rng.int(256));
        break;
      case 2:
        parts.push(4, pick(rng, [2, 2, 0, 3]));
        break;
      case 3: {
        const blocks = rng.int(5);
        parts.push(5, rng.chance(0.8) ? 2 + 8 * blocks : rng.int(40));
        for (let b = 0; b < blocks * 8; b++) parts.push(rng.int(256));
        break;
      }
      case 4: {
        parts.push(8, pick(rng, [10, 10, 9, 11, 2]));
        const v = now >>> 0;
        parts.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff, rng.int(256), rng.int(256), rng.int(256), rng.int(256));
        break;
      }
      case 5:
        parts.push(1);
        break;
      case 6:
        parts.push(0);
        break;
      case 7:
        parts.push(rng.int(256), rng.int(12));
        break;
      default:
        parts.push(pick(rng, [19, 28, 29, 30, 34, 254]), 2 + rng.int(10), rng.int(256), rng.int(256));
    }
  }
  return Uint8Array.from(parts.slice(0, 40));
}

/** The TS value of a TCP header's options, if present and well-formed. */
function findTimestamp(p: Uint8Array, start: number, end: number): number | undefined {
  let i = start;
  end = Math.min(end, p.length);
  while (i < end) {
    const k = p[i]!;
    if (k === 0) return undefined;
    if (k === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return undefined;
    const len = p[i + 1]!;
    if (len < 2) return undefined;
    if (k === 8 && len === 10 && i + 10 <= end) return readU32(p, i + 2);
    i += len;
  }
  return undefined;
}

/** The clean response is complete: its head and Content-Length bytes of body are in. */
function responseComplete(chunks: Buffer[], received: number): boolean {
  if (received < 4) return false;
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const headEnd = all.indexOf('\r\n\r\n');
  if (headEnd < 0) return false;
  const m = /\r\ncontent-length: *(\d+)/i.exec(all.subarray(0, headEnd).toString('latin1'));
  return m !== null && received >= headEnd + 4 + Number(m[1]);
}

function describe(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
}
