#!/usr/bin/env node
/**
 * tunstack's command line. Parses flags (node:util parseArgs, strict: an unknown flag is an error,
 * not ignored), then hands over to src/app/. Nothing imports this file.
 *
 *   tunstack serve  [--tun NAME] [--host-addr 10.77.0.1/24] [--addr 10.77.0.2] [--mtu 1500]
 *                   [--port 80] [--echo-port 7] [--root DIR] [--idle-timeout 5000] [--max-requests 100]
 *                   [--impair SPEC] [--pcap FILE] [--trace] [--txqueuelen N] [--busy-poll US] [--log-level L]
 *                   [--max-connections N] [--syn-backlog N] [--syn-cookies on|off] [--max-time-wait N] [--msl MS]
 *                   [--cc cubic|newreno] [--receive-buffer BYTES] [--receive-buffer-max BYTES]
 *                   [--break-on syn,fin,rst,retransmit,state]   (a debugger statement there: docs/debugging.md)
 *   tunstack fetch  URL [--output FILE] [same device flags]     (the stack as an HTTP client)
 *   tunstack ladder FILE [--list] [--flow N|tuple] [--time] [--width N]   (a pcap/pcapng as a ladder diagram)
 *   tunstack doctor [--tun NAME] [--host-addr A/P] [--addr A]     (is this machine ready to run it?)
 *   tunstack relay  --a NS:DEV:ADDR/P --b NS:DEV:ADDR/P [--impair SPEC] [--impair-ab SPEC] [--impair-ba SPEC]
 *                   [--mtu 1500] [--control]                     (a link emulator between two namespaces)
 *   tunstack pageload URL [--objects N] [--mode M | --compare M,M] [--sim SPEC] [--svg F] ... (waterfalls)
 *
 * Exit status: 0 done, 1 a run-time failure (device, network, a check of doctor), 2 a usage error
 * (bad flag, bad argument, a file named on the command line that cannot be read or created).
 * Flags: one option table per command below (parseArgs's format); add a flag there and read it in
 * that command's case.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, TunstackError, WireError } from './util/errors.ts';
import { LOG_LEVELS, type LogLevel } from './util/logger.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { runServe, runFetch, type DeviceFlags } from './app/serve.ts';
import { parseBreakOn, type BreakSpec } from './drill/break.ts';
import { DRILL_USAGE } from './drill/usage.ts';
import { BUSY_POLL_MAX_US, DEFAULT_TXQUEUELEN, MAX_TXQUEUELEN } from './link/tun-device.ts';
// The other commands' modules are imported by their case in main(), when that command runs: a
// long-running `serve` then holds only what serving needs (a smaller heap makes each full garbage
// collection cheaper; README, "Performance").

const USAGE = `usage:
  tunstack serve  [--tun NAME] [--host-addr 10.77.0.1/24] [--addr 10.77.0.2] [--mtu 1500]
                  [--port 80] [--echo-port 7] [--root DIR] [--idle-timeout MS] [--max-requests N]
                  [--impair loss=5%,reorder=25%,dup=2%,corrupt=1%,delay=20ms,seed=7]
                  [--pcap FILE] [--trace] [--tso on|off] [--txqueuelen N] [--busy-poll US] [--log-level info]
                  [--max-connections N] [--syn-backlog N] [--syn-cookies on|off] [--max-time-wait N] [--msl MS]
                  [--cc cubic|newreno] [--receive-buffer BYTES] [--receive-buffer-max BYTES]
                  [--break-on syn,fin,rst,retransmit,state]
  tunstack fetch  URL [--output FILE] [device flags as for serve]
  tunstack ladder FILE [--list] [--flow N|ADDR:PORT-ADDR:PORT] [--time] [--width N]   (pcap or pcapng)
  tunstack doctor [--tun NAME] [--host-addr 10.77.0.1/24] [--addr 10.77.0.2]
  tunstack relay  --a NETNS:DEV:10.9.0.1/24 --b NETNS:DEV:10.9.0.2/24 [--mtu 1500]
                  [--impair SPEC] [--impair-ab SPEC] [--impair-ba SPEC]
                  SPEC as for serve, plus rate=20mbit,limit=100|50ms,loss-corr=25%,reorder-corr=50%
                  [--control]   stdin takes 'impair [--impair SPEC] [--impair-ab SPEC] [--impair-ba SPEC]'
                                (the impairment from now on) and 'stats', one command per line
  tunstack pageload URL [--objects 6] [--object-size 10000] [--paths /a,/b,POST:/echo]
                  [--mode serial|parallel:K|persistent[:K]|pipelined[:DEPTH] | --compare MODE,MODE,...]
                  [--sim delay=50ms,rate=2mbit,loss=0%,seed=1] [--svg FILE] [--html FILE] [--json FILE]
                  [--width 64] [--timeout MS] [device flags as for serve, live mode without --sim]
  ${DRILL_USAGE}

Exit status: 0 ok, 1 failure, 2 usage error. Check the machine first: tunstack doctor
Run it inside a network namespace on shared machines:  scripts/netns-run.sh npx tunstack serve`;

const deviceOptions = {
  tun: { type: 'string', default: 'tunstack0' },
  'host-addr': { type: 'string', default: '10.77.0.1/24' },
  addr: { type: 'string', default: '10.77.0.2' },
  mtu: { type: 'string', default: '1500' },
  impair: { type: 'string' },
  pcap: { type: 'string' },
  trace: { type: 'boolean', default: false },
  tso: { type: 'string', default: 'on' },
  txqueuelen: { type: 'string', default: String(DEFAULT_TXQUEUELEN) },
  'busy-poll': { type: 'string', default: '0' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h', default: false },
  // TCP limits (defaults: src/tcp/tcp-layer.ts; README "Limits and defences")
  'max-connections': { type: 'string' },
  cc: { type: 'string' },
  'syn-backlog': { type: 'string' },
  'syn-cookies': { type: 'string' },
  'max-time-wait': { type: 'string' },
  msl: { type: 'string' },
  'receive-buffer': { type: 'string' },
  'receive-buffer-max': { type: 'string' },
} as const;

const serveOptions = {
  ...deviceOptions,
  port: { type: 'string', default: '80' },
  'echo-port': { type: 'string', default: '7' },
  root: { type: 'string' },
  'idle-timeout': { type: 'string', default: '5000' },
  'max-requests': { type: 'string', default: '100' },
  'break-on': { type: 'string' },
} as const;

const fetchOptions = { ...deviceOptions, output: { type: 'string', short: 'o' } } as const;

const pageloadOptions = {
  ...deviceOptions,
  objects: { type: 'string', default: '6' },
  'object-size': { type: 'string', default: '10000' },
  paths: { type: 'string' },
  mode: { type: 'string' },
  compare: { type: 'string' },
  sim: { type: 'string' },
  svg: { type: 'string' },
  html: { type: 'string' },
  json: { type: 'string' },
  width: { type: 'string', default: '64' },
  timeout: { type: 'string', default: '60000' },
} as const;

const ladderOptions = {
  width: { type: 'string', default: '100' },
  list: { type: 'boolean', default: false },
  seqgraph: { type: 'string' },
  flow: { type: 'string' },
  time: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const relayOptions = {
  a: { type: 'string' },
  b: { type: 'string' },
  impair: { type: 'string' },
  'impair-ab': { type: 'string' },
  'impair-ba': { type: 'string' },
  mtu: { type: 'string', default: '1500' },
  control: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const LADDER_USAGE = `usage: tunstack ladder FILE [--list] [--flow N|ADDR:PORT-ADDR:PORT|ADDR:PORT] [--time] [--width N]
                       [--seqgraph OUT.svg]

Draws one TCP connection of a capture (pcap or pcapng; raw IP, Ethernet or Linux cooked) as a
ladder diagram: the opener on the left, relative sequence numbers, flags, windows, options and the
first line of each payload; retransmissions are marked.

  --list        the TCP connections in the capture, numbered, with segments, bytes each way and times
  --flow F      which one to draw: N from --list, both endpoints (either order), or one endpoint
                when only one connection has it (default: the first; a note says when there are more)
  --time        seconds since the first segment at the left of each line
  --width N     characters between the two lines (40..400, default 100)
  --seqgraph F  instead of the ladder, write the connection's sequence-number-versus-time graph
                (Stevens/tcptrace style: segments as bars, retransmissions red, the ACK line and the
                window's edge) to F as SVG

Exit status: 0 ok, 2 usage error (bad flag, unreadable or malformed file, no such flow).`;

const doctorOptions = {
  tun: deviceOptions.tun,
  'host-addr': deviceOptions['host-addr'],
  addr: deviceOptions.addr,
  help: deviceOptions.help,
} as const;

function intFlag(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function onOffFlag(name: string, text: string): boolean {
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw new UsageError(`--${name} must be on or off, got ${JSON.stringify(text)}`);
}

type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

function deviceFlags(v: FlagValues): DeviceFlags {
  const level = v['log-level'] as string;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
  const tun = v.tun as string;
  // IFNAMSIZ is 16 with the NUL; the kernel also refuses '/', ':' and whitespace in a name.
  if (!/^[^\s/:]{1,15}$/.test(tun) || Buffer.byteLength(tun) > 15) {
    throw new UsageError(`--tun must be an interface name of 1 to 15 bytes without '/', ':' or spaces, got ${JSON.stringify(tun)}`);
  }
  return {
    tun,
    hostAddr: v['host-addr'] as string,
    addr: v.addr as string,
    mtu: intFlag('mtu', v.mtu as string, 576, 65535),
    impair: v.impair as string | undefined,
    pcap: v.pcap as string | undefined,
    trace: v.trace === true,
    tso: onOffFlag('tso', v.tso as string),
    txqueuelen: intFlag('txqueuelen', v.txqueuelen as string, 1, MAX_TXQUEUELEN),
    busyPollUs: intFlag('busy-poll', v['busy-poll'] as string, 0, BUSY_POLL_MAX_US),
    logLevel: level as LogLevel,
    tcp: tcpLimitFlags(v),
  };
}

/** The TCP limits given on the command line; what is not given keeps the layer's default. */
function tcpLimitFlags(v: FlagValues): NonNullable<DeviceFlags['tcp']> {
  const tcp: NonNullable<DeviceFlags['tcp']> = {};
  const int = (name: string, min: number, max: number): number | undefined =>
    v[name] === undefined ? undefined : intFlag(name, v[name] as string, min, max);
  const maxConnections = int('max-connections', 1, 10_000_000);
  if (maxConnections !== undefined) tcp.maxConnections = maxConnections;
  const synBacklog = int('syn-backlog', 1, 1_000_000);
  if (synBacklog !== undefined) tcp.synBacklog = synBacklog;
  if (v['syn-cookies'] !== undefined) tcp.synCookies = onOffFlag('syn-cookies', v['syn-cookies'] as string);
  const maxTimeWait = int('max-time-wait', 0, 10_000_000);
  if (maxTimeWait !== undefined) tcp.maxTimeWait = maxTimeWait;
  const msl = int('msl', 1, 600_000);
  if (msl !== undefined) tcp.mslMs = msl;
  const rb = int('receive-buffer', 1024, 64 * 1024 * 1024);
  if (rb !== undefined) tcp.receiveBufferSize = rb;
  const rbMax = int('receive-buffer-max', 1024, 64 * 1024 * 1024);
  if (rbMax !== undefined) tcp.receiveBufferMax = rbMax;
  if (v.cc !== undefined) {
    if (v.cc !== 'cubic' && v.cc !== 'newreno') throw new UsageError(`--cc must be cubic or newreno, got ${JSON.stringify(v.cc)}`);
    tcp.cc = v.cc;
  }
  return tcp;
}

/** `serve --break-on`: the drill's events; script lines (line:N) mean nothing on a live stack. */
function serveBreakOn(text: string | undefined): { breakOn?: BreakSpec } {
  if (text === undefined) return {};
  const breakOn = parseBreakOn(text);
  if (breakOn.lines.size > 0) throw new UsageError('--break-on line:N is for drill scripts; serve takes syn, fin, rst, retransmit, state');
  return { breakOn };
}

/** Write a file named on the command line; one that cannot be created is a usage error. */
function writeArgFile(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`cannot write ${path}: ${e.code === 'ENOENT' ? 'no such directory' : (e.code ?? e.message)}`);
  }
}

/** A file named on the command line; one that cannot be read is a usage error, not a crash. */
function readArgFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message)}`);
  }
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values: v, positionals } = parse(rest, serveOptions);
      if (v.help) return usage(0);
      if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      const port = intFlag('port', v.port as string, 1, 65535);
      const echoPort = intFlag('echo-port', v['echo-port'] as string, 0, 65535);
      // Both services listen on the stack's one address: they need different ports.
      if (echoPort !== 0 && echoPort === port) {
        throw new UsageError(`--port ${port} is also the echo port (--echo-port ${echoPort}): choose another --echo-port, or 0 for no echo service`);
      }
      return runServe({
        ...deviceFlags(v),
        port,
        echoPort,
        root: v.root as string | undefined,
        idleTimeoutMs: intFlag('idle-timeout', v['idle-timeout'] as string, 1, 3_600_000),
        maxRequests: intFlag('max-requests', v['max-requests'] as string, 1, 1_000_000),
        ...serveBreakOn(v['break-on'] as string | undefined),
      });
    }
    case 'fetch': {
      const { values: v, positionals } = parse(rest, fetchOptions);
      if (v.help) return usage(0);
      if (positionals.length !== 1) throw new UsageError('fetch takes exactly one URL');
      return runFetch({ ...deviceFlags(v), url: positionals[0]!, output: v.output as string | undefined });
    }
    case 'ladder': {
      const { values: v, positionals } = parse(rest, ladderOptions);
      if (v.help) {
        process.stdout.write(LADDER_USAGE + '\n');
        return 0;
      }
      if (positionals.length !== 1) throw new UsageError('ladder takes exactly one capture file (pcap or pcapng)');
      const width = intFlag('width', v.width as string, 40, 400);
      const file = positionals[0]!;
      const { renderLadder, ipPacketsFromCapture, summarizeFlows, formatFlowList, selectFlow } = await import('./trace/ladder.ts');
      const { renderSeqGraphSvg, seqGraphData } = await import('./trace/seq-graph.ts');
      try {
        const packets = ipPacketsFromCapture(readArgFile(file));
        const flows = summarizeFlows(packets);
        if (v.list) {
          process.stdout.write(formatFlowList(flows) + '\n');
          return 0;
        }
        const spec = v.flow as string | undefined;
        if (spec === undefined && flows.length > 1) {
          process.stderr.write(`tunstack: ${file} holds ${flows.length} TCP connections; drawing #1 (see --list, choose with --flow N)\n`);
        }
        const flow = spec === undefined ? flows[0]?.flow : selectFlow(flows, spec);
        if (v.seqgraph !== undefined) {
          const out = v.seqgraph as string;
          writeArgFile(out, renderSeqGraphSvg(packets, flow ? { flow } : {}));
          const d = seqGraphData(packets, flow);
          const rtx = d?.segments.filter((g) => g.retransmit).length ?? 0;
          process.stdout.write(`wrote ${out}: ${d?.segments.length ?? 0} data segments from ${d?.sender ?? '-'}, ${rtx} retransmitted\n`);
          return 0;
        }
        process.stdout.write(renderLadder(packets, { width, time: v.time === true, ...(flow ? { flow } : {}) }) + '\n');
      } catch (err) {
        if (err instanceof WireError) throw new UsageError(`${file}: ${err.message}`);
        throw err;
      }
      return 0;
    }
    case 'doctor': {
      const { values: v, positionals } = parse(rest, doctorOptions);
      if (v.help) return usage(0);
      if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      const { runDoctor } = await import('./app/doctor.ts');
      return runDoctor({ tun: v.tun as string, hostAddr: v['host-addr'] as string, addr: v.addr as string });
    }
    case 'relay': {
      const { values: v, positionals } = parse(rest, relayOptions);
      if (v.help) return usage(0);
      if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      if (v.a === undefined || v.b === undefined) throw new UsageError('relay needs both --a and --b (NETNS:DEV:ADDR/PREFIX)');
      const { parseRelaySide } = await import('./relay/relay.ts');
      const { runRelay, relayImpairment } = await import('./app/relay.ts');
      const flags = {
        a: parseRelaySide('--a', v.a as string),
        b: parseRelaySide('--b', v.b as string),
        impair: v.impair as string | undefined,
        impairAB: v['impair-ab'] as string | undefined,
        impairBA: v['impair-ba'] as string | undefined,
        mtu: intFlag('mtu', v.mtu as string, 576, 65535),
        control: v.control as boolean,
      };
      relayImpairment(flags); // a bad spec is a usage error before any device exists
      return runRelay(flags);
    }
    case 'pageload': {
      const { values: v, positionals } = parse(rest, pageloadOptions);
      if (v.help) return usage(0);
      if (positionals.length !== 1) throw new UsageError('pageload takes exactly one URL (the page)');
      if (v.mode !== undefined && v.compare !== undefined) throw new UsageError('give --mode or --compare, not both');
      if (v.paths !== undefined && rest.some((a) => a === '--objects' || a.startsWith('--objects=') || a === '--object-size' || a.startsWith('--object-size='))) {
        throw new UsageError('give --paths or --objects/--object-size, not both');
      }
      const { runPageload, parsePaths, demoObjects } = await import('./pageload/run.ts');
      const { parseMode, parseModeList, parseSimSpec } = await import('./pageload/spec.ts');
      const { MAX_OBJECTS } = await import('./pageload/client.ts');
      const objects = v.paths !== undefined
        ? parsePaths(v.paths as string)
        : demoObjects(intFlag('objects', v.objects as string, 0, MAX_OBJECTS), intFlag('object-size', v['object-size'] as string, 0, 100_000_000));
      const compare = v.compare !== undefined;
      return runPageload({
        url: positionals[0]!,
        objects,
        modes: compare ? parseModeList(v.compare as string) : [parseMode((v.mode as string | undefined) ?? 'persistent')],
        compare,
        sim: v.sim === undefined ? undefined : parseSimSpec(v.sim as string),
        device: deviceFlags(v),
        svg: v.svg as string | undefined,
        html: v.html as string | undefined,
        json: v.json as string | undefined,
        width: intFlag('width', v.width as string, 20, 400),
        timeoutMs: intFlag('timeout', v.timeout as string, 1, 3_600_000),
      });
    }
    case 'drill': {
      const { runDrillCli } = await import('./drill/cli.ts');
      return runDrillCli(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return usage(command === undefined ? 2 : 0);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function usage(code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(USAGE + '\n');
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`tunstack: ${err.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (err instanceof TunstackError) {
      process.stderr.write(`tunstack: ${err.message} [${err.code}]\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`tunstack: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
