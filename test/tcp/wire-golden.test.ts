/**
 * The wire of seeded simulations, compared segment by segment with a recording (test/tcp/golden/).
 * It pins TCP's behaviour while its code is reorganised: the same segments at the same virtual times,
 * whatever the structure. A deliberate change of behaviour re-records it:
 *
 *   UPDATE_GOLDEN=1 npx vitest run test/tcp/wire-golden.test.ts
 *
 * and the diff of the recording is part of the change (what it changed on the wire).
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADDR_B, Owner, Sim, type Faults, type LayerOpts } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';

const DIR = join(import.meta.dirname, 'golden');

interface Scenario {
  name: string;
  seed: number;
  faults: Faults;
  opts?: LayerOpts;
  tso?: boolean;
  /** Bytes client -> server and server -> client. */
  up: number;
  down: number;
  /** The server stops reading for this long after the first data (a zero window). */
  stallMs?: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'clean', seed: 1, faults: {}, up: 200_000, down: 300_000 },
  { name: 'sack-loss5-jitter', seed: 7, faults: { loss: 0.05, delayMs: 2, jitterMs: 2 }, up: 400_000, down: 100_000 },
  { name: 'nosack-loss8-all', seed: 3, faults: { loss: 0.08, apply: 'all' }, opts: { sack: false }, up: 200_000, down: 50_000 },
  { name: 'nots-loss3-dup', seed: 11, faults: { loss: 0.03, duplicate: 0.03, delayMs: 3, jitterMs: 3 }, opts: { timestamps: false }, up: 300_000, down: 30_000 },
  { name: 'tso-loss2', seed: 5, faults: { loss: 0.02 }, tso: true, up: 600_000, down: 600_000 },
  { name: 'zero-window', seed: 2, faults: {}, opts: { receiveBufferSize: 32 * 1024 }, up: 150_000, down: 0, stallMs: 3000 },
  { name: 'heavy-loss', seed: 13, faults: { loss: 0.2, apply: 'all', delayMs: 5, jitterMs: 5, duplicate: 0.05 }, up: 100_000, down: 100_000 },
];

function run(s: Scenario): string {
  const sim = new Sim(s.seed, s.opts ?? {}, s.opts ?? {});
  sim.delayMs = 10;
  sim.tso = s.tso === true;
  sim.faults = s.faults;
  const servers: Owner[] = [];
  sim.b.listen(80, 16, (conn) => {
    const o = new Owner(conn, false);
    if (s.stallMs !== undefined) o.autoConsume = false;
    servers.push(o);
    if (s.down > 0) o.sendAll(pattern(s.down, 2), true);
    else o.sendAll(new Uint8Array(0), true);
  });
  const client = new Owner(sim.a.connect(ADDR_B, 80), false);
  sim.run(10_000, () => client.established);
  client.sendAll(pattern(s.up, 1), true);
  if (s.stallMs !== undefined) {
    sim.run(s.stallMs, () => servers[0] !== undefined && servers[0].received > 0 && sim.now > 2000);
    sim.run(s.stallMs);
    const srv = servers[0]!;
    srv.autoConsume = true;
    srv.conn.consumed(srv.received);
  }
  sim.run(600_000, () => client.closed && servers[0]?.closed === true && client.received === s.down && servers[0]!.received === s.up);
  sim.run(1000);
  const base = new Map<string, number>();
  const lines = [`# ${s.name}: client got ${client.received}/${s.down} closed=${client.closed} server got ${servers[0]?.received}/${s.up} closed=${servers[0]?.closed}`];
  for (const r of sim.log) {
    const seg = r.seg;
    const key = r.from;
    const other = r.from === 'a' ? 'b' : 'a';
    if (!base.has(key) && (seg.flags & 0x02) !== 0) base.set(key, seg.seq);
    if (!base.has(other) && (seg.flags & 0x02) !== 0 && seg.ack !== undefined) base.set(other, seg.ack - 1);
    const rs = (seg.seq - (base.get(key) ?? 0)) >>> 0;
    const ra = seg.ack !== undefined ? (seg.ack - (base.get(other) ?? 0)) >>> 0 : 0;
    const o = seg.options;
    const opt = `${o.mss ?? ''}${o.sack !== undefined ? ' sack' + o.sack.map(([l, h]) => `${(l - (base.get(other) ?? 0)) >>> 0}-${(h - (base.get(other) ?? 0)) >>> 0}`).join(',') : ''}`;
    lines.push(`${r.at.toFixed(3)} ${r.from} ${seg.flags.toString(16)} ${rs} ${ra} ${seg.payload.length} ${seg.window}${opt ? ' ' + opt : ''}${r.dropped ? ' X' : ''}`);
  }
  return lines.join('\n') + '\n';
}

describe('the wire of seeded simulations matches the recording', () => {
  for (const s of SCENARIOS) {
    it(s.name, () => {
      const got = run(s);
      const file = join(DIR, `${s.name}.txt`);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, got);
      }
      const want = readFileSync(file, 'utf8');
      const g = got.split('\n');
      const w = want.split('\n');
      const first = g.findIndex((line, i) => line !== w[i]);
      // The first line that differs, with its neighbours, rather than two whole recordings.
      if (first >= 0) expect(g.slice(Math.max(0, first - 3), first + 3).join('\n')).toBe(w.slice(Math.max(0, first - 3), first + 3).join('\n'));
      expect(g.length).toBe(w.length);
      expect(g[0]).toMatch(/closed=true server got (\d+)\/\1 closed=true/);
    }, 60_000);
  }
});
