/**
 * The lab exercises written as drill scripts (scripts/lab/drill-*.pkt, see scripts/lab/README.md)
 * are played like the corpus and must PASS, so that what the lab text shows stays true.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript } from '../../src/drill/run.ts';
import { formatResult } from '../../src/drill/report.ts';

const dir = join(import.meta.dirname, '../../scripts/lab');
const scripts = readdirSync(dir).filter((f) => /^drill-.*\.pkt$/.test(f)).sort();

describe('lab drill scripts pass', () => {
  it('there are the three of them, each citing RFC sections', () => {
    expect(scripts).toEqual(['drill-01-handshake.pkt', 'drill-02-fast-retransmit.pkt', 'drill-03-zero-window.pkt']);
    for (const f of scripts) expect(readFileSync(join(dir, f), 'utf8'), f).toMatch(/RFC \d+ §[\d.]+/);
  });
  for (const f of scripts) {
    it(f, async () => {
      const r = await runScript(parseScript(readFileSync(join(dir, f), 'utf8'), `scripts/lab/${f}`));
      expect(formatResult(r)).toBe(`PASS scripts/lab/${f}`);
    });
  }
});
