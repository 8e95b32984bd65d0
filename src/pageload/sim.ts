/**
 * A page load in virtual time: two stacks, the client (10.0.0.1) and our HTTP server with the demo
 * site (10.0.0.2), joined by the in-memory link (src/link/memory-device.ts) with a ManualClock, so
 * that the same waterfall comes out every run, in milliseconds, with no root and no TUN.
 *
 * The link model, the same in each direction: a packet waits for the transmitter (the rate:
 * length x 8 / rate seconds on the wire, first in first out), then the one-way delay; with loss,
 * a seeded FaultDevice (src/link/fault-device.ts) on the client's end drops packets both ways, each
 * direction by its own generator.
 *
 * The driver (`runVirtual`): let every callback, promise and stream event that is ready run, then
 * move the clock to the next timer, until the load settles. Bounded in virtual time and in steps.
 */
import { createDemoHandler, MAX_DELAY_MS, type DemoHandler } from '../app/demo-site.ts';
import { createHttpServer } from '../http/server.ts';
import { FaultDevice } from '../link/fault-device.ts';
import { createMemoryLink } from '../link/memory-device.ts';
import type { NetDevice } from '../link/device.ts';
import { Stack } from '../stack.ts';
import { ManualClock } from '../util/clock.ts';
import { TunstackError } from '../util/errors.ts';
import { loadPage, tcpRetransmits, type ObjectRequest } from './client.ts';
import type { PageLoadResult } from './model.ts';
import { describeSim, formatMode, type Mode, type SimSpec } from './spec.ts';

export const SIM_SERVER = '10.0.0.2';
const SIM_CLIENT = '10.0.0.1';
/** Virtual time a simulated load may take. */
const SIM_LIMIT_MS = 600_000;
const MAX_STEPS = 5_000_000;

export interface SimLoad {
  sim: SimSpec;
  mode: Mode;
  pagePath: string;
  objects: ObjectRequest[];
  /** Virtual ms the load may take (default and most: 600 s). */
  timeoutMs?: number;
}

/** The demo site with /delay/MS on the simulation's clock (the site's own uses the real setTimeout). */
function simSite(clock: ManualClock, site: DemoHandler): DemoHandler {
  return (req, res) => {
    const m = /^\/delay\/(\d{1,5})(?:\?.*)?$/.exec(req.url);
    if (m && Number(m[1]) <= MAX_DELAY_MS && (req.method === 'GET' || req.method === 'HEAD')) {
      const ms = Number(m[1]);
      const t = clock.setTimer(clock.now() + ms, () => {
        res.statusCode = 200;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.setHeader('Cache-Control', 'no-store');
        res.end(`delayed ${ms} ms\n`);
      });
      res.on('close', () => t.cancel());
      return;
    }
    site(req, res);
  };
}

/** Let everything that is ready run: microtasks, nextTicks, stream events, immediates. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise<void>((r) => setImmediate(r));
}

export async function simulatePageLoad(load: SimLoad): Promise<PageLoadResult> {
  const clock = new ManualClock(0);
  const s = load.sim;
  const [serverEnd, clientEnd] = createMemoryLink(clock, {
    latencyMs: s.delayMs,
    ...(s.rateBps === undefined ? {} : { bandwidthBytesPerMs: s.rateBps / 8 / 1000 }),
  });
  const clientDevice: NetDevice = s.loss > 0 ? new FaultDevice(clientEnd, { loss: s.loss, seed: s.seed }, clock) : clientEnd;
  // Fixed keys for ISNs, ephemeral ports and timestamp offsets: the demo page shows the port, so its
  // size, and with it every later time, would change from run to run with random ones.
  const key = (n: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => (s.seed * 31 + n * 17 + i) & 0xff);
  const server = new Stack({ device: serverEnd, address: SIM_SERVER, clock, tcp: { isnKey: key(1) } });
  const client = new Stack({ device: clientDevice, address: SIM_CLIENT, clock, tcp: { isnKey: key(2) } });
  const site = createDemoHandler({ stats: () => server.stats(), connectionTable: () => server.connections() });
  // A fixed Date header: the bytes, and so the timings, are the same every run.
  const http = createHttpServer(server, { clock, wallClock: () => Date.UTC(2026, 0, 1) }, simSite(clock, site));
  http.listen(80);
  let outcome: { ok: Awaited<ReturnType<typeof loadPage>> } | { err: unknown } | undefined;
  try {
    await settle();
    loadPage(client, { host: SIM_SERVER, port: 80, pagePath: load.pagePath, objects: load.objects, mode: load.mode, timeoutMs: Math.min(load.timeoutMs ?? SIM_LIMIT_MS, SIM_LIMIT_MS) }).then(
      (ok) => (outcome = { ok }),
      (err: unknown) => (outcome = { err }),
    );
    for (let step = 0; outcome === undefined; step++) {
      await settle();
      if (outcome !== undefined) break;
      const at = clock.nextTimerAt();
      if (at === undefined || step > MAX_STEPS) throw new TunstackError('ERR_PAGELOAD_STALLED', `the simulated load stalled at ${clock.now()} ms`);
      clock.runUntil(at);
    }
  } finally {
    http.closeAllConnections();
    http.close();
    await server.close();
    await client.close();
  }
  if ('err' in outcome) throw outcome.err;
  return {
    ...outcome.ok,
    url: `http://${SIM_SERVER}${load.pagePath}`,
    mode: formatMode(load.mode),
    link: describeSim(s),
    retransmits: { client: outcome.ok.retransmits.client, server: tcpRetransmits(server) },
  };
}
