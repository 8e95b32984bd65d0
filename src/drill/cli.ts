/**
 * `tunstack drill FILE.pkt... [--trace] [--ladder] [--pcap F] [--tolerance-ms N]`: parse and play
 * each script, print one result line per script, and return the exit code:
 *   0  every script passed (or was skipped), 1  a script failed, 2  a usage or script syntax error.
 * The scripts run outside any network namespace: they need no TUN device, only the memory link.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PcapWriter } from '../trace/pcap-writer.ts';
import { UsageError } from '../util/errors.ts';
import { parseScript } from './parse.ts';
import { formatResult } from './report.ts';
import { runScript, type DrillResult } from './run.ts';
import { DrillSyntaxError } from './script.ts';

export const DRILL_USAGE = 'tunstack drill  FILE.pkt... [--trace] [--ladder] [--pcap FILE] [--tolerance-ms N]';

export interface DrillCliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: DrillCliIo = {
  out: (t) => process.stdout.write(t + '\n'),
  err: (t) => process.stderr.write(t + '\n'),
};

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
  let pcap: PcapWriter | undefined;
  if (v.pcap !== undefined) {
    try {
      pcap = PcapWriter.open(v.pcap, { flushIntervalMs: 0 });
    } catch (err) {
      throw new UsageError(`--pcap ${v.pcap}: ${(err as Error).message}`);
    }
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
        });
      } catch (err) {
        if (!(err instanceof DrillSyntaxError)) throw err;
        io.err(err.message);
        code = 2;
        continue;
      }
      io.out(formatResult(result));
      if (result.status === 'fail' && code === 0) code = 1;
    }
  } finally {
    await pcap?.close();
  }
  return code;
}
