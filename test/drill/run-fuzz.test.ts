/**
 * The runner never crashes on a script that parses: corpus scripts with lines dropped, duplicated,
 * swapped or re-timed are played, and each ends as PASS, FAIL or SKIP (a thrown exception, a hang or
 * a runaway timer loop would fail this test).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript } from '../../src/drill/run.ts';
import { DrillSyntaxError } from '../../src/drill/script.ts';

const corpus = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.pkt'))
  .map((f) => readFileSync(join(import.meta.dirname, f), 'utf8').split('\n'));

const TIMES = ['0', '+0', '+.1', '+1', '+30', '*', '+0...0.5', '+.2~+.4'];

describe('drill runner: fuzz', () => {
  it('mutated corpus scripts end as PASS, FAIL or SKIP', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(corpus.length - 1),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(), fc.nat(), fc.constantFrom(...TIMES)), { minLength: 1, maxLength: 4 }),
        async (k, edits) => {
          const lines = [...corpus[k]!];
          for (const [kind, a, b, time] of edits) {
            const i = a % lines.length;
            const j = b % lines.length;
            if (kind === 0) lines.splice(i, 1);
            else if (kind === 1) lines.splice(i, 0, lines[j]!);
            else if (kind === 2) [lines[i], lines[j]] = [lines[j]!, lines[i]!];
            else lines[i] = lines[i]!.replace(/^\s*[+*.0-9~]+(\.\.\.[0-9.]+)?/, time);
          }
          let script;
          try {
            script = parseScript(lines.join('\n'), 'fuzz.pkt');
          } catch (err) {
            expect(err).toBeInstanceOf(DrillSyntaxError);
            return;
          }
          const r = await runScript(script);
          expect(['pass', 'fail', 'skip']).toContain(r.status);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);
});
