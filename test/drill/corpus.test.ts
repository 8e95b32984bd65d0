/**
 * The drill corpus: every test/drill/*.pkt script is played against a real Stack in virtual time and
 * must PASS; every test/drill/must-fail/*.pkt must FAIL at the line and for the reason recorded here,
 * which proves that the runner can fail (a runner that passes everything would pass the corpus too).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript } from '../../src/drill/run.ts';
import { formatResult } from '../../src/drill/report.ts';
import { PROFILES } from '../../src/drill/profile.ts';

const dir = join(import.meta.dirname, '.');
const scripts = readdirSync(dir).filter((f) => f.endsWith('.pkt')).sort();

describe('drill corpus: every script passes', () => {
  it('has scripts, each citing the RFC section it shows', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(60);
    for (const f of scripts) expect(readFileSync(join(dir, f), 'utf8'), f).toMatch(/RFC \d+ §[\d.]+/);
  });
  for (const f of scripts) {
    it(f, async () => {
      const r = await runScript(parseScript(readFileSync(join(dir, f), 'utf8'), `test/drill/${f}`));
      expect(formatResult(r)).toBe(`PASS test/drill/${f}`);
    });
  }
});

/**
 * The 3 scripts that do not pass with --profile linux, and why: delayed-ack.pkt and window-scale.pkt
 * check our scaled window, 262144 >> 7 = 2048 from our 256 KiB starting receive buffer, where Linux's
 * is 131072 (tcp_rmem's default, 1024); so-rcvbuf.pkt expects a delayed ACK where Linux's quick-ACK
 * mode answers at once. Both profiles offer window scale 7 (the shift covering the largest receive
 * buffer). Every other script must pass in both profiles.
 */
const LINUX_DIFFERS = new Set(['delayed-ack.pkt', 'window-scale.pkt', 'so-rcvbuf.pkt']);

describe('drill corpus: the linux profile', () => {
  const both = scripts.filter((f) => !LINUX_DIFFERS.has(f));
  it('at least half the corpus runs in both profiles', () => {
    expect(both.length * 2).toBeGreaterThanOrEqual(scripts.length);
    for (const f of LINUX_DIFFERS) expect(scripts, f).toContain(f);
  });
  for (const f of both) {
    it(`${f} (linux)`, async () => {
      const r = await runScript(parseScript(readFileSync(join(dir, f), 'utf8'), `test/drill/${f}`), { stack: PROFILES.linux });
      expect(formatResult(r)).toBe(`PASS test/drill/${f}`);
    });
  }
  const linuxDir = join(dir, 'linux');
  const linuxOnly = readdirSync(linuxDir).filter((f) => f.endsWith('.pkt')).sort();
  it('the linux/ scripts cite their RFC sections, and with them the corpus has 60+ scripts', () => {
    expect(linuxOnly.length).toBeGreaterThanOrEqual(2);
    expect(scripts.length + linuxOnly.length).toBeGreaterThanOrEqual(60);
    for (const f of linuxOnly) expect(readFileSync(join(linuxDir, f), 'utf8'), f).toMatch(/RFC \d+ §[\d.]+/);
  });
  for (const f of linuxOnly) {
    it(`linux/${f} passes in the linux profile and fails in the default one`, async () => {
      const script = parseScript(readFileSync(join(linuxDir, f), 'utf8'), `test/drill/linux/${f}`);
      expect(formatResult(await runScript(script, { stack: PROFILES.linux }))).toBe(`PASS test/drill/linux/${f}`);
      expect((await runScript(script)).status).toBe('fail');
    });
  }
  it('a script that checks our scaled window fails in the linux profile, for that reason', async () => {
    const r = await runScript(parseScript(readFileSync(join(dir, 'window-scale.pkt'), 'utf8'), 'w'), { stack: PROFILES.linux });
    expect(r.status).toBe('fail');
    if (r.status === 'fail') expect(r.message).toContain('win 1024 at 0.100 (+0.000): window differs');
  });
});

/** file -> [line, words the message must contain]. */
const MUST_FAIL: Record<string, [number, string]> = {
  'wrong-ack.pkt': [6, 'got > S. 0:0(0) ack 1 win 65535 <mss 1460> at 0.000 (+0.000): ack differs'],
  'too-early.pkt': [7, 'got nothing by 0.563'],
  'unexpected.pkt': [7, 'got > S. 0:0(0) ack 1 win 65535 <mss 1460> at 0.000 (unexpected packet)'],
  'wrong-errno.pkt': [6, 'expected accept(3, ..., ...) = 4, got = -1 EAGAIN'],
  'never-returns.pkt': [9, 'to return at 0.300, still blocked at the end of the script'],
  'wrong-tcpinfo.pkt': [9, 'assert tcpi_snd_cwnd == 9 failed: tcpi_snd_cwnd is 10'],
};

describe('drill runner: scripts that must fail do, at the right line', () => {
  const failDir = join(dir, 'must-fail');
  const files = readdirSync(failDir).filter((f) => f.endsWith('.pkt')).sort();
  it('each one has an expectation', () => {
    expect(files).toEqual(Object.keys(MUST_FAIL).sort());
  });
  for (const f of files) {
    it(f, async () => {
      const r = await runScript(parseScript(readFileSync(join(failDir, f), 'utf8'), f));
      expect(r.status).toBe('fail');
      if (r.status !== 'fail') return;
      const [line, words] = MUST_FAIL[f]!;
      expect(r.line).toBe(line);
      expect(r.message).toContain(words);
      // The ladder of the last segments comes with it (none were sent before wrong-errno's line).
      if (f === 'wrong-errno.pkt') expect(r.ladder).toBe('(no TCP segments)');
      else expect(r.ladder).toMatch(/192\.0\.2\.1:\d+ +192\.168\.0\.1:8080/);
    });
  }
});
