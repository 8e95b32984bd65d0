/**
 * Top functions by self time in a V8 CPU profile (`node --cpu-prof` writes *.cpuprofile at exit).
 *
 *   node --import tsx scripts/bench/cpuprofile-top.ts FILE.cpuprofile [N=10]
 *
 * Self time of a function = the sampling intervals in which it was the one on top of the stack,
 * summed over every place it was called from (same name, file and line). Also prints how the
 * total splits between our sources (src/), node internals, native (GC, program, idle) and the rest.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, nArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: cpuprofile-top.ts FILE.cpuprofile [N]\n');
  process.exit(2);
}
const topN = nArg ? Number(nArg) : 10;
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const repo = fileURLToPath(new URL('../../', import.meta.url));

function where(f: CallFrame): string {
  if (f.url === '') return '(native)';
  let u = f.url;
  if (u.startsWith('file://')) u = relative(repo, fileURLToPath(u));
  // tsx hands V8 each file compiled onto one line: then the line says nothing, leave it out.
  return f.lineNumber > 0 ? `${u}:${f.lineNumber + 1}` : u;
}
function kind(f: CallFrame): string {
  if (f.url === '') return 'native/VM (gc, program, idle)';
  if (f.url.startsWith('node:')) return 'node internals';
  if (f.url.includes('/node_modules/')) return 'node_modules';
  if (f.url.includes('/src/')) return 'src/ (tunstack)';
  return 'other';
}

const byId = new Map<number, CallFrame>();
for (const n of profile.nodes) byId.set(n.id, n.callFrame);
const self = new Map<string, { us: number; name: string; at: string }>();
const kinds = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const f = byId.get(profile.samples[i]!);
  const dt = profile.timeDeltas[i] ?? 0;
  if (!f || dt < 0) continue;
  total += dt;
  const name = f.functionName || '(anonymous)';
  const at = where(f);
  const key = `${name}\u0000${at}`;
  const e = self.get(key) ?? { us: 0, name, at };
  e.us += dt;
  self.set(key, e);
  const k = kind(f);
  kinds.set(k, (kinds.get(k) ?? 0) + dt);
}

const idle = [...self.values()].filter((e) => e.name === '(idle)').reduce((a, e) => a + e.us, 0);
const busy = total - idle;
const pct = (us: number, of = total): string => `${((100 * us) / (of || 1)).toFixed(1).padStart(5)}%`;
process.stdout.write(`profile: ${file}\nsampled ${(total / 1000).toFixed(0)} ms, of which busy (not idle) ${(busy / 1000).toFixed(0)} ms\n\n`);
process.stdout.write(`top ${topN} functions by self time (% of all samples, % of busy):\n`);
const rows = [...self.values()].sort((a, b) => b.us - a.us).slice(0, topN);
for (const r of rows) {
  const ofBusy = r.name === '(idle)' ? '     -' : pct(r.us, busy);
  process.stdout.write(`  ${pct(r.us)} ${ofBusy} ${(r.us / 1000).toFixed(0).padStart(7)} ms  ${r.name.padEnd(30)} ${r.at}\n`);
}
process.stdout.write('\nself time by origin:\n');
for (const [k, us] of [...kinds.entries()].sort((a, b) => b[1] - a[1])) {
  process.stdout.write(`  ${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
}
