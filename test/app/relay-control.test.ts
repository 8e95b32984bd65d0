/**
 * `tunstack relay --control`: the commands read from stdin, against a stand-in relay that records
 * what it was told (the real relay, over TUN devices, is test/e2e/relay.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { controlCommand, MAX_CONTROL_LINE } from '../../src/app/relay.ts';
import { LineSplitter } from '../../src/util/lines.ts';
import type { RelayImpairment, RelayStats } from '../../src/relay/relay.ts';

function standIn() {
  const told: RelayImpairment[] = [];
  const stats: RelayStats = {
    aToB: { fault: { packets: 3 } as RelayStats['aToB']['fault'], txDropped: 0, bytes: 120 },
    bToA: { fault: { packets: 1 } as RelayStats['bToA']['fault'], txDropped: 0, bytes: 40 },
  };
  return { told, relay: { setImpairment: (imp: RelayImpairment) => void told.push(imp), stats: () => stats } };
}

describe('relay --control commands', () => {
  it('impair: the flags of the command line, both directions, a direction over them, the seed', () => {
    const { told, relay } = standIn();
    const answer = controlCommand(relay, 'impair --impair delay=10ms,loss=5%,seed=7 --impair-ab corrupt=1%');
    expect(told).toEqual([{ aToB: { delayMs: 10, loss: 0.05, corrupt: 0.01 }, bToA: { delayMs: 10, loss: 0.05 }, seed: 7 }]);
    expect(answer).toBe('relay: a->b loss=5%,corrupt=1%,delay=10ms; b->a loss=5%,delay=10ms; seed 7\n');
  });

  it('impair alone makes the link clean, seed 1', () => {
    const { told, relay } = standIn();
    expect(controlCommand(relay, '  impair  ')).toBe('relay: a->b none; b->a none; seed 1\n');
    expect(told).toEqual([{ aToB: {}, bToA: {}, seed: 1 }]);
  });

  it('stats: the counters as one JSON line', () => {
    const { relay } = standIn();
    expect(JSON.parse(controlCommand(relay, 'stats'))).toEqual({ relay: relay.stats() });
  });

  it('blank lines and comments are ignored', () => {
    const { told, relay } = standIn();
    expect(controlCommand(relay, '')).toBe('');
    expect(controlCommand(relay, '# the next profile')).toBe('');
    expect(told).toEqual([]);
  });

  it('answers a bad command, flag or spec with an error line and changes nothing', () => {
    const { told, relay } = standIn();
    const cases: [string, RegExp][] = [
      ['reboot', /^relay: error: unknown command "reboot"/],
      ['impair --loss 5%', /^relay: error: .*--loss/],
      ['impair --impair loss=500%', /^relay: error: --impair loss: probability must be within \[0, 1\], got 500%/],
      ['impair --impair-ab seed=3', /^relay: error: seed= goes in --impair/],
      ['impair --impair dir=in', /^relay: error: --impair: dir= is not for the relay/],
      ['impair extra', /^relay: error: .*extra/],
      ['stats now', /^relay: error: stats takes no arguments/],
    ];
    for (const [line, want] of cases) {
      const answer = controlCommand(relay, line);
      expect(answer, line).toMatch(want);
      expect(answer.endsWith('\n')).toBe(true);
    }
    expect(told).toEqual([]);
  });

  it('a rate the relay refuses is answered as an error', () => {
    const relay = {
      setImpairment: () => {
        throw new RangeError('fault limitPackets must be an integer >= 1, got 0');
      },
      stats: standIn().relay.stats,
    };
    expect(controlCommand(relay, 'impair --impair rate=1mbit')).toBe('relay: error: fault limitPackets must be an integer >= 1, got 0\n');
  });
});

describe('relay --control input lines', () => {
  function split(chunks: string[]) {
    const got: string[] = [];
    const lines = new LineSplitter((l) => got.push(l), MAX_CONTROL_LINE, () => got.push('<too long>'));
    for (const c of chunks) lines.push(c);
    return got;
  }

  it('joins lines split across reads and drops the CR of CRLF', () => {
    expect(split(['imp', 'air --impair delay=1', '0ms\nstats\r\n', '\nimpair\n', 'stat'])).toEqual(['impair --impair delay=10ms', 'stats', '', 'impair']);
  });

  it('refuses a line longer than the limit once, drops it to its newline, and goes on', () => {
    const long = 'x'.repeat(MAX_CONTROL_LINE + 1);
    expect(split([long.slice(0, 3000), long.slice(3000), 'yyyy', '\nstats\n'])).toEqual(['<too long>', 'stats']);
    expect(split([long + '\nstats\n'])).toEqual(['<too long>', 'stats']);
    expect(split(['x'.repeat(MAX_CONTROL_LINE) + '\n'])).toEqual(['x'.repeat(MAX_CONTROL_LINE)]);
  });

  it('without a limit (the bench harness, the e2e helpers), a long line is kept whole', () => {
    const got: string[] = [];
    const lines = new LineSplitter((l) => got.push(l));
    lines.push('a'.repeat(6000));
    lines.push('b\nc\r\n');
    expect(got).toEqual(['a'.repeat(6000) + 'b', 'c']);
  });

  it('holds at most the limit of a line with no end', () => {
    const got: string[] = [];
    const lines = new LineSplitter((l) => got.push(l), MAX_CONTROL_LINE, () => got.push('<too long>'));
    for (let i = 0; i < 1000; i++) lines.push('z'.repeat(1000)); // 1 MB, no newline: nothing kept of it
    expect(got).toEqual(['<too long>']);
    lines.push('\nstats\n');
    expect(got).toEqual(['<too long>', 'stats']);
  });
});
