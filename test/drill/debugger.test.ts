/**
 * The debugger path, as a user of `npm run debug:drill` gets it: a drill under
 * `node --inspect-brk --enable-source-maps --import tsx`, an inspector client attached over the
 * Chrome DevTools Protocol (our own minimal WebSocket client, loopback only), and
 *
 *   1. a line breakpoint set in a TypeScript source (src/drill/run.ts), the way VS Code and Chrome
 *      DevTools do it: tsx compiles each module to a few long lines with an inline source map, so the
 *      client waits until the module is about to run (instrumentation breakpoint
 *      beforeScriptWithSourceMapExecution), maps the .ts line to the generated line and column, and
 *      calls Debugger.setBreakpointByUrl there. The pause must map back to that .ts line, with the
 *      method's locals;
 *   2. --break-on syn: the `debugger` statement in src/drill/break.ts stops with reason, segment,
 *      info, connection and stack in scope, and the ManualClock does not move while stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CdpClient, type CdpEvent } from './helpers/cdp.ts';
import { decodeSourceMap, generatedFor, originalFor, sourceIndex, type DecodedMap } from './helpers/source-map.ts';

const root = join(import.meta.dirname, '..', '..');
const RUN_TS = join(root, 'src/drill/run.ts');
const BREAK_TS = join(root, 'src/drill/break.ts');

/** 0-based line of the first line of `file` containing `text`. */
function lineOf(file: string, text: string): number {
  const i = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`${text} not in ${file}`);
  return i;
}

interface Frame {
  callFrameId: string;
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
  scopeChain: { type: string; object: { objectId: string } }[];
}

let child: ChildProcess | undefined;
let client: CdpClient | undefined;
afterEach(() => {
  client?.close();
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  child = client = undefined;
});

/** Start the drill under the inspector on a free loopback port; resolve with the ws:// URL. */
function startUnderInspector(args: string[]): Promise<{ url: string; out: () => string; exited: Promise<number | null> }> {
  const c = spawn(process.execPath, ['--inspect-brk=127.0.0.1:0', '--enable-source-maps', '--import', 'tsx', 'src/cli.ts', 'drill', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child = c;
  let out = '';
  let err = '';
  c.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no inspector URL on stderr: ${err}`)), 20_000);
    c.stderr!.on('data', (d) => {
      err += d;
      const m = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve({ url: m[0], out: () => out, exited });
      }
    });
  });
}

async function locals(c: CdpClient, frame: Frame): Promise<string[]> {
  const local = frame.scopeChain.find((s) => s.type === 'local')!;
  const r = await c.send<{ result: { name: string }[] }>('Runtime.getProperties', { objectId: local.object.objectId, ownProperties: true });
  return r.result.map((p) => p.name).sort();
}

async function evaluate(c: CdpClient, frame: Frame, expression: string): Promise<unknown> {
  const r = await c.send<{ result: { value?: unknown; description?: string }; exceptionDetails?: unknown }>('Debugger.evaluateOnCallFrame', { callFrameId: frame.callFrameId, expression, returnByValue: true });
  if (r.exceptionDetails !== undefined) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
  return r.result.value;
}

describe('the debugger path (node --inspect-brk, tsx source maps)', () => {
  it('stops at a line breakpoint in a .ts file and at --break-on syn, with the locals, time standing still', async () => {
    const script = join(root, 'test/drill/passive-open.pkt');
    const run = await startUnderInspector([script, '--break-on', 'syn']);
    const c = (client = await CdpClient.connect(run.url));
    await c.send('Runtime.enable');
    await c.send('Debugger.enable');
    await c.send('Debugger.setInstrumentationBreakpoint', { instrumentation: 'beforeScriptWithSourceMapExecution' });
    await c.send('Runtime.runIfWaitingForDebugger');

    const runUrl = pathToFileURL(RUN_TS).href;
    const breakUrl = pathToFileURL(BREAK_TS).href;
    const sendLine = lineOf(RUN_TS, 'this.remote.send(p);');
    const debuggerLine = lineOf(BREAK_TS, 'debugger; //');
    const maps = new Map<string, DecodedMap>(); // scriptId -> map
    let breakpointId: string | undefined;
    const stops: { where: string; frame: Frame; hit: string[]; values?: unknown }[] = [];

    // Drive the session until the script has run: resume every pause we do not look at.
    for (let i = 0; i < 400 && stops.length < 3; i++) {
      const p: CdpEvent = await c.waitFor('Debugger.paused', 30_000);
      const params = p.params as { reason: string; data?: { scriptId: string; url: string; sourceMapURL?: string }; callFrames: Frame[]; hitBreakpoints?: string[] };
      if (params.reason === 'instrumentation' && params.data?.sourceMapURL !== undefined) {
        const { scriptId, url, sourceMapURL } = params.data;
        if (url === runUrl || url === breakUrl) maps.set(scriptId, decodeSourceMap(sourceMapURL));
        if (url === runUrl) {
          const map = maps.get(scriptId)!;
          const gen = generatedFor(map, sourceIndex(map, RUN_TS, url), sendLine);
          expect(gen, 'run.ts line in the source map').toBeDefined();
          const r = await c.send<{ breakpointId: string; locations: unknown[] }>('Debugger.setBreakpointByUrl', { url, lineNumber: gen!.genLine, columnNumber: gen!.genCol });
          expect(r.locations).toHaveLength(1);
          breakpointId = r.breakpointId;
        }
      } else if (params.reason !== 'instrumentation' && params.reason !== 'Break on start') {
        const frame = params.callFrames[0]!;
        const map = maps.get(frame.location.scriptId);
        const orig = map && originalFor(map, frame.location.lineNumber, frame.location.columnNumber);
        const file = map?.sources[orig?.source ?? -1] ?? frame.url;
        stops.push({ where: `${file.endsWith('run.ts') ? 'run.ts' : file.endsWith('break.ts') ? 'break.ts' : file}:${(orig?.line ?? -1) + 1}`, frame, hit: params.hitBreakpoints ?? [] });
        const s = stops[stops.length - 1]!;
        if (s.where.startsWith('break.ts')) {
          // --break-on: the locals of stopHere, and virtual time standing still while we look.
          expect(await locals(c, frame)).toEqual(expect.arrayContaining(['connection', 'dir', 'info', 'reason', 'segment', 'stack']));
          expect(await evaluate(c, frame, 'reason')).toBe('syn');
          const t0 = await evaluate(c, frame, 'stack.clock.now()');
          await new Promise((r) => setTimeout(r, 300));
          expect(await evaluate(c, frame, 'stack.clock.now()')).toBe(t0);
          s.values = await evaluate(c, frame, '[dir, segment.flags, segment.srcPort, segment.dstPort, info && info.state]');
        } else if (s.where.startsWith('run.ts')) {
          expect(await locals(c, frame)).toEqual(expect.arrayContaining(['e', 'p', 't']));
          s.values = await evaluate(c, frame, 'e.text');
        }
      }
      await c.send('Debugger.resume');
    }
    expect(breakpointId).toBeDefined();
    const got = stops.map((s) => [s.where, s.values, s.hit.length > 0]);
    expect(got).toEqual([
      // The SYN about to be injected: --break-on syn stops in stopHere, before the stack sees it.
      [`break.ts:${debuggerLine + 1}`, ['in', 2, 47000, 8080, null], false],
      // Then our line breakpoint in run.ts, the same packet handed to the link.
      [`run.ts:${sendLine + 1}`, '< S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>', true],
      // The SYN-ACK the stack sent, in SYN-RECEIVED.
      [`break.ts:${debuggerLine + 1}`, ['out', 0x12, 8080, 47000, 'SYN-RECEIVED'], false],
    ]);
    await c.send('Debugger.removeBreakpoint', { breakpointId });
    await c.send('Debugger.setBreakpointsActive', { active: false });
    // Node waits at exit for an attached debugger to disconnect ("Waiting for the debugger to
    // disconnect..."): let go of it, then the drill finishes on its own.
    c.close();
    expect(await run.exited).toBe(0);
    expect(run.out()).toContain(`PASS ${script}`);
    expect(run.out()).toContain('break on syn at 0.000: in line 8: < S 0:0(0)');
  });
});
