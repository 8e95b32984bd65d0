/**
 * `tunstack drill FILE.pkt... [--trace] [--ladder] [--pcap F] [--tolerance-ms N] [--step]
 * [--profile default|linux]`: parse and play each script (with the profile's stack options), print one result line per script, and return the exit code:
 *   0  every script passed (or was skipped), 1  a script failed (or q at a --step prompt),
 *   2  a usage or script syntax error.
 * --step pauses before every event with the connection's state: Enter steps, c continues, q quits.
 * --break-on runs a `debugger` statement at those events (break.ts); see docs/debugging.md.
 * The scripts run outside any network namespace: they need no TUN device, only the memory link.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { PcapWriter } from '../trace/pcap-writer.ts';
import { UsageError } from '../util/errors.ts';
import { parseBreakOn, type BreakSpec } from './break.ts';
import { parseScript } from './parse.ts';
import { isProfileName, PROFILE_NAMES, PROFILES } from './profile.ts';
import { formatResult } from './report.ts';
import { runScript, type DrillResult, type StepAnswer } from './run.ts';
import { DrillSyntaxError } from './script.ts';

import { DRILL_USAGE } from './usage.ts';

export interface DrillCliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Read one answer at a --step prompt; undefined at end of input. */
  ask?: (prompt: string) => Promise<string | undefined>;
}

/** Lines of standard input, one per question (EOF: undefined for ever after). */
function stdinAsker(): { ask: (prompt: string) => Promise<string | undefined>; close: () => void } {
  const rl = createInterface({ input: process.stdin, terminal: false });
  const lines: string[] = [];
  const waiting: ((line: string | undefined) => void)[] = [];
  let ended = false;
  rl.on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else lines.push(line);
  });
  rl.on('close', () => {
    ended = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  return {
    ask: (prompt) => {
      process.stdout.write(prompt);
      if (lines.length > 0) return Promise.resolve(lines.shift());
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolve) => waiting.push(resolve));
    },
    close: () => rl.close(),
  };
}

const stdio: DrillCliIo = {
  out: (t) => process.stdout.write(t + '\n'),
  err: (t) => process.stderr.write(t + '\n'),
};

const STEP_PROMPT = '  [Enter] step, c continue, q quit> ';

function stepper(io: DrillCliIo): (text: string) => Promise<StepAnswer> {
  return async (text) => {
    io.out(text);
    const line = await io.ask!(STEP_PROMPT);
    if (line === undefined) return 'continue'; // end of input: run to the end
    const a = line.trim().toLowerCase();
    return a === 'q' ? 'quit' : a === 'c' ? 'continue' : 'step';
  };
}

/** Run the drill subcommand with its own arguments (after "drill"); resolves to the exit code. */
export async function runDrillCli(args: string[], io: DrillCliIo = stdio): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        trace: { type: 'boolean', default: false },
        ladder: { type: 'boolean', default: false },
        pcap: { type: 'string' },
        'tolerance-ms': { type: 'string' },
        step: { type: 'boolean', default: false },
        'break-on': { type: 'string' },
        profile: { type: 'string', default: 'default' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    io.out(`usage: ${DRILL_USAGE}`);
    return 0;
  }
  if (parsed.positionals.length === 0) throw new UsageError('drill takes one or more script files');
  let toleranceMs: number | undefined;
  if (v['tolerance-ms'] !== undefined) {
    toleranceMs = Number(v['tolerance-ms']);
    if (!(toleranceMs >= 0 && toleranceMs <= 60_000)) throw new UsageError(`--tolerance-ms must be 0..60000, got ${JSON.stringify(v['tolerance-ms'])}`);
  }
  const breakOn: BreakSpec | undefined = v['break-on'] === undefined ? undefined : parseBreakOn(v['break-on']);
  const profile = v.profile ?? 'default';
  if (!isProfileName(profile)) throw new UsageError(`--profile must be ${PROFILE_NAMES.join(' or ')}, got ${JSON.stringify(profile)}`);
  let pcap: PcapWriter | undefined;
  if (v.pcap !== undefined) {
    try {
      pcap = PcapWriter.open(v.pcap, { flushIntervalMs: 0 });
    } catch (err) {
      throw new UsageError(`--pcap ${v.pcap}: ${(err as Error).message}`);
    }
  }
  let closeStdin: (() => void) | undefined;
  if (v.step && io.ask === undefined) {
    const a = stdinAsker();
    io = { ...io, ask: a.ask };
    closeStdin = a.close;
  }
  let code = 0;
  try {
    for (const file of parsed.positionals) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        io.err(`${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read'}: ${(err as Error).message}`);
        code = 2;
        continue;
      }
      let result: DrillResult;
      try {
        const script = parseScript(text, file);
        result = await runScript(script, {
          ...(toleranceMs !== undefined ? { toleranceMs } : {}),
          ...(v.trace ? { trace: (line: string) => io.out(`  ${line}`) } : {}),
          ...(pcap !== undefined ? { pcap } : {}),
          ladder: v.ladder === true,
          stack: PROFILES[profile],
          ...(v.step ? { step: stepper(io) } : {}),
          ...(breakOn !== undefined ? { breakOn: { spec: breakOn, print: (line: string) => io.out(`  ${line}`) } } : {}),
        });
      } catch (err) {
        if (!(err instanceof DrillSyntaxError)) throw err;
        io.err(err.message);
        code = 2;
        continue;
      }
      io.out(formatResult(result));
      if (result.status === 'quit') {
        code = 1;
        break;
      }
      if (result.status === 'fail' && code === 0) code = 1;
    }
  } finally {
    closeStdin?.();
    await pcap?.close();
  }
  return code;
}
