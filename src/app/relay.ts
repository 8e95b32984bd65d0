/**
 * `tunstack relay`: run the link emulator (src/relay/relay.ts) until SIGINT/SIGTERM, printing its
 * counters as one JSON line on SIGUSR2 and when it stops.
 *
 *   ip netns add tsk-a; ip netns add tsk-b
 *   tunstack relay --a tsk-a:rly0:10.9.0.1/24 --b tsk-b:rly1:10.9.0.2/24 --impair loss=5%,delay=10ms
 *   ip netns exec tsk-a ping 10.9.0.2
 *
 * With --control, stdin takes commands, one per line, answered on stdout:
 *
 *   impair --impair delay=10ms,seed=2 --impair-ab loss=5%   the impairment from now on (the flags as
 *                                                           on the command line; `impair` alone: clean)
 *   stats                                                   the counters as one JSON line
 */
import { parseArgs } from 'node:util';
import { formatImpairSpec, parseImpairSpec, type FaultOptions, type FaultRates } from '../link/fault-device.ts';
import { Relay, type RelaySide, type RelayStats } from '../relay/relay.ts';
import { LineSplitter } from '../util/lines.ts';
import { UsageError } from '../util/errors.ts';

export interface RelayFlags {
  a: RelaySide;
  b: RelaySide;
  /** Both directions. */
  impair?: string;
  /** A to B only, over `impair`. */
  impairAB?: string;
  impairBA?: string;
  mtu: number;
  /** Read commands from stdin (see above). */
  control?: boolean;
}

/** The rates of one spec; `dir` has no meaning here (there are flags per direction instead). */
function rates(flag: string, spec: string | undefined): FaultOptions {
  if (spec === undefined) return {};
  let opts: FaultOptions;
  try {
    opts = parseImpairSpec(spec);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(err.message.replace(/^--impair/, `--${flag}`));
    throw err;
  }
  if (opts.dir !== undefined) throw new UsageError(`--${flag}: dir= is not for the relay; use --impair-ab or --impair-ba for one direction`);
  return opts;
}

/** The impairment of each direction: --impair, then the direction's own flag over it. */
export function relayImpairment(f: Pick<RelayFlags, 'impair' | 'impairAB' | 'impairBA'>): { aToB: FaultRates; bToA: FaultRates; seed: number } {
  const both = rates('impair', f.impair);
  const ab = rates('impair-ab', f.impairAB);
  const ba = rates('impair-ba', f.impairBA);
  if (ab.seed !== undefined || ba.seed !== undefined) throw new UsageError('seed= goes in --impair (one seed for the relay; each direction derives its own stream)');
  const { seed = 1, ...base } = both;
  return { aToB: { ...base, ...ab }, bToA: { ...base, ...ba }, seed };
}

function statsLine(s: RelayStats): string {
  return JSON.stringify({ relay: s });
}

function impairLine(imp: ReturnType<typeof relayImpairment>): string {
  return `relay: a->b ${formatImpairSpec(imp.aToB)}; b->a ${formatImpairSpec(imp.bToA)}; seed ${imp.seed}\n`;
}

const CONTROL_FLAGS = { impair: { type: 'string' }, 'impair-ab': { type: 'string' }, 'impair-ba': { type: 'string' } } as const;

/** The longest command line taken (a command is a few flags; a longer line is refused, LineSplitter). */
export const MAX_CONTROL_LINE = 4096;

/**
 * One line of --control input: the answer to write. A bad command, flag or spec is answered with
 * `relay: error: ...` and changes nothing.
 */
export function controlCommand(relay: Pick<Relay, 'setImpairment' | 'stats'>, line: string): string {
  const words = line.trim().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0 || words[0]!.startsWith('#')) return '';
  try {
    switch (words[0]) {
      case 'impair': {
        const { values: v } = parseArgs({ args: words.slice(1), options: CONTROL_FLAGS, strict: true, allowPositionals: false });
        const imp = relayImpairment({ impair: v.impair, impairAB: v['impair-ab'], impairBA: v['impair-ba'] });
        relay.setImpairment(imp);
        return impairLine(imp);
      }
      case 'stats':
        if (words.length > 1) throw new UsageError('stats takes no arguments');
        return statsLine(relay.stats()) + '\n';
      default:
        throw new UsageError(`unknown command ${JSON.stringify(words[0])} (impair [--impair SPEC] [--impair-ab SPEC] [--impair-ba SPEC], stats)`);
    }
  } catch (err) {
    return `relay: error: ${(err as Error).message}\n`;
  }
}

export async function runRelay(f: RelayFlags): Promise<number> {
  const { aToB, bToA, seed } = relayImpairment(f);
  const relay = Relay.open({ a: f.a, b: f.b, aToB, bToA, seed, mtu: f.mtu });
  const side = (s: RelaySide) => `${s.netns}/${s.dev} ${s.addr}/${s.prefixLength}`;
  process.stdout.write(
    `relay: A ${side(f.a)} <-> B ${side(f.b)}, mtu ${f.mtu}\n` +
      impairLine({ aToB, bToA, seed }) +
      `relay: ready (SIGUSR2 prints counters; SIGINT/SIGTERM stops${f.control === true ? '; commands on stdin' : ''})\n`,
  );
  const onUsr2 = () => process.stdout.write(statsLine(relay.stats()) + '\n');
  process.on('SIGUSR2', onUsr2);
  // Commands on stdin (--control only: a relay sent to the background of an interactive shell must
  // not read the terminal). The end of stdin ends the commands, not the relay.
  const lines =
    f.control === true
      ? new LineSplitter(
          (line) => process.stdout.write(controlCommand(relay, line)),
          MAX_CONTROL_LINE,
          () => process.stdout.write(`relay: error: a command line longer than ${MAX_CONTROL_LINE} characters (ignored)\n`),
        )
      : undefined;
  if (lines !== undefined) process.stdin.setEncoding('utf8').on('data', (text: string) => lines.push(text));
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.off('SIGUSR2', onUsr2);
  if (lines !== undefined) process.stdin.destroy();
  process.stdout.write(statsLine(relay.stats()) + '\n');
  await relay.close();
  return 0;
}
