/**
 * The TCP layer keeps the connection it released last (and that connection's loss recovery),
 * and only that one (tcp-layer.ts lastReleased; docs/architecture.md, "Compiled code across idle
 * periods"): while one object of each per-connection class is alive, V8 keeps their hidden
 * classes, and the code compiled for them survives the full GC of a server with no client.
 * Checked with WeakRefs and a forced GC: the connection released last is still there, the one
 * before it is gone, so nothing accumulates.
 */
import { describe, expect, it } from 'vitest';
import type { TcpConnection } from '../../src/tcp/api.ts';
import { alive, fullGc, nextJob } from '../helpers/gc.ts';
import { ADDR_B, Sim } from './sim.ts';


interface Refs {
  client: WeakRef<TcpConnection>;
  server: WeakRef<TcpConnection>;
  /** The loss recovery (RACK-TLP here) of the client, which TIME-WAIT drops. */
  recovery: WeakRef<object>;
}

const recoveryOf = (c: TcpConnection): object => (c as unknown as { recovery: object }).recovery;

/**
 * One connection from a to b: 64 KiB each way, both sides close, and the layers let go of it (a
 * TIME-WAIT record on the side that closed first). Only WeakRefs to the connections are kept.
 */
function oneConnection(sim: Sim, port: number): Refs {
  let server: TcpConnection | undefined;
  const handle = sim.b.listen(port, 16, (c) => {
    server = c;
    c.setEvents(sink(c));
  });
  const client = sim.a.connect(ADDR_B, port);
  const clientSink = sink(client);
  client.setEvents(clientSink);
  sim.run(10_000, () => server !== undefined && clientSink.established);
  const recovery = new WeakRef(recoveryOf(client));
  const data = new Uint8Array(64 * 1024).fill(7);
  expect(client.write(data)).toBe(data.length);
  expect(server!.write(data)).toBe(data.length);
  client.shutdown();
  server!.shutdown();
  sim.run(10_000, () => clientSink.closed && serverClosed());
  // the client closed first: its TCB was swapped for a TIME-WAIT record and let go of its recovery
  expect(client.info().state).toBe('CLOSED');
  expect(recoveryOf(client)).not.toBe(recovery.deref());
  handle.close();
  const refs = { client: new WeakRef(client), server: new WeakRef(server!), recovery };
  server = undefined;
  return refs;

  function serverClosed(): boolean {
    return server !== undefined && (server.info().state === 'CLOSED' || server.info().state === 'TIME-WAIT');
  }
}

/** An owner that reads everything and remembers only whether the connection is established/closed. */
function sink(conn: TcpConnection): { established: boolean; closed: boolean; onEstablished(): void; onData(d: Uint8Array): void; onPeerFin(): void; onWritable(): void; onClosed(): void } {
  return {
    established: false,
    closed: false,
    onEstablished() {
      this.established = true;
    },
    onData(d: Uint8Array) {
      conn.consumed(d.length);
    },
    onPeerFin() {},
    onWritable() {},
    onClosed() {
      this.closed = true;
    },
  };
}

describe('the connection released last is kept, and only that one', () => {
  it('survives a full GC; the one before it does not', async () => {
    const sim = new Sim(3);
    sim.record = false;
    const first = oneConnection(sim, 80);
    // let the layers run their timers (delayed ACKs, the release of the closed TCBs)
    sim.run(1_000);
    await nextJob();
    fullGc();
    expect(alive(first)).toEqual({ client: true, server: true, recovery: true });

    const second = oneConnection(sim, 81);
    sim.run(1_000);
    await nextJob();
    fullGc();
    expect(alive(first)).toEqual({ client: false, server: false, recovery: false });
    expect(alive(second)).toEqual({ client: true, server: true, recovery: true });
  });
});
