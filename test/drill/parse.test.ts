/**
 * The drill script parser: what each construct parses to, the file:line:col of errors, and a fuzz:
 * any text (random, or a corpus script with bytes changed) gives a script or a DrillSyntaxError,
 * never another exception and never a hang.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/drill/parse.ts';
import { DrillSyntaxError, type PacketEvent, type SyscallEvent } from '../../src/drill/script.ts';
import { ACK, FIN, PSH, RST, SYN } from '../../src/wire/tcp.ts';

function only<T>(text: string): T {
  const s = parseScript(text, 't.pkt');
  expect(s.events).toHaveLength(1);
  return s.events[0] as T;
}

function syntaxError(text: string): DrillSyntaxError {
  try {
    parseScript(text, 't.pkt');
  } catch (err) {
    expect(err).toBeInstanceOf(DrillSyntaxError);
    return err as DrillSyntaxError;
  }
  throw new Error(`parsed: ${text}`);
}

describe('drill parser: packets', () => {
  it('an inbound SYN with options, in script order', () => {
    const e = only<PacketEvent>('0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>');
    expect(e).toMatchObject({ type: 'packet', dir: '<', flags: SYN, start: 0, end: 0, len: 0, ack: undefined, win: 65535, line: 1, col: 1 });
    expect(e.time).toEqual({ kind: 'abs', start: 0 });
    expect(e.options).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'sackOK' },
      { kind: 'TS', val: 100, ecr: 0 },
      { kind: 'nop' },
      { kind: 'wscale', value: 7 },
    ]);
  });

  it('an outbound SYN-ACK with <...>, flags combined, relative time', () => {
    const e = only<PacketEvent>('+0.25 > S. 0:0(0) ack 1 <...>');
    expect(e).toMatchObject({ dir: '>', flags: SYN | ACK, ack: 1, options: 'any', text: '> S. 0:0(0) ack 1 <...>' });
    expect(e.time).toEqual({ kind: 'rel', start: 250 });
  });

  it('flags F P R and -, data ranges, SACK blocks, ranges of time and *', () => {
    expect(only<PacketEvent>('.1 < FP. 1:1001(1000) ack 1 win 257').flags).toBe(FIN | PSH | ACK);
    expect(only<PacketEvent>('0 < R 5:5(0)').flags).toBe(RST);
    expect(only<PacketEvent>('0 < - 1:1(0)').flags).toBe(0);
    const s = only<PacketEvent>('* > . 1:1(0) ack 1 <nop,nop,sack 1001:2001 3001:4001>');
    expect(s.time.kind).toBe('any');
    expect(s.options).toEqual([{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1001, 2001], [3001, 4001]] }]);
    expect(only<PacketEvent>('+.1~+.3 > . 1:1(0) ack 1').time).toEqual({ kind: 'rel', start: 100, end: 300 });
    expect(only<PacketEvent>('0 < . 4294967295:9(10) ack 4294967295').len).toBe(10);
  });

  it('comments and header flags', () => {
    const s = parseScript('--tolerance_usecs=10000 --mss=1000\n// a comment\n/* block\n comment */ 0 < S 0:0(0) // trailing\n', 'x');
    expect([...s.flags]).toEqual([['tolerance_usecs', '10000'], ['mss', '1000']]);
    expect(s.events[0]!.line).toBe(4);
  });
});

describe('drill parser: injected ICMP errors', () => {
  it('type, code, next-hop MTU and the quoted segment, by name or number', () => {
    const e = only<PacketEvent>('0.01 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]');
    expect(e).toMatchObject({ dir: '<', start: 1, end: 1461, len: 1460, icmp: { type: 3, code: 4, mtu: 1200 }, text: '< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]' });
    expect(only<PacketEvent>('0 < icmp 11 0 [5:5(0)]').icmp).toEqual({ type: 11, code: 0, mtu: 0 });
    expect(only<PacketEvent>('0 < icmp unreachable port_unreachable [0:0(0)]').icmp).toEqual({ type: 3, code: 3, mtu: 0 });
  });
  const bad: [string, string][] = [
    ['0 > icmp unreachable port_unreachable [0:0(0)]', 'for injected packets only'],
    ['0 < icmp redirect host [0:0(0)]', 'unknown ICMP type "redirect"'],
    ['0 < icmp unreachable frag_wanted [0:0(0)]', 'unknown ICMP code "frag_wanted"'],
    ['0 < icmp unreachable frag_needed mtu 1200 1:1461(1460)', 'expected "[" before the quoted segment'],
    ['0 < icmp unreachable frag_needed [1:1461(1000)]', 'payload length 1000 does not match 1:1461'],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(syntaxError(text).detail).toContain(message);
    });
  }
});

describe('drill parser: system calls and others', () => {
  it('arguments: ellipsis, numbers, constants OR-ed, lists, structs, strings; errno and its text', () => {
    const e = only<SyscallEvent>('+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0');
    expect(e.args).toEqual([
      { kind: 'num', value: 3 },
      { kind: 'sym', names: ['SOL_SOCKET'] },
      { kind: 'sym', names: ['SO_LINGER'] },
      { kind: 'struct', fields: [{ name: 'onoff', value: { kind: 'num', value: 1 } }, { name: 'linger', value: { kind: 'num', value: 0 } }] },
      { kind: 'num', value: 8 },
    ]);
    const c = only<SyscallEvent>('0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)');
    expect(c).toMatchObject({ name: 'connect', ret: -1, errno: 'EINPROGRESS' });
    expect(c.args[1]).toEqual({ kind: 'ellipsis' });
    expect(only<SyscallEvent>('0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0').args[2]).toEqual({ kind: 'sym', names: ['O_RDWR', 'O_NONBLOCK'] });
    expect(only<SyscallEvent>('0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0').args[3]).toEqual({ kind: 'list', items: [{ kind: 'sym', names: ['ECONNREFUSED'] }] });
    expect(only<SyscallEvent>('0 write(4, "abc", 3) = ...').ret).toBeUndefined();
  });

  it('blocking calls: +a...b', () => {
    expect(only<SyscallEvent>('+.1...0.200 read(4, ..., 2000) = 2000').time).toEqual({ kind: 'rel', start: 100, blockEnd: 200 });
  });

  it('shell lines and %{ }% blocks (played as SKIP)', () => {
    const s = parseScript('0 `sysctl -q net.ipv4.tcp_sack=0`\n+0 %{\nassert tcpi_snd_cwnd == 10\n}%\n', 'x');
    expect(s.events.map((e) => e.type)).toEqual(['shell', 'code']);
  });
});

describe('drill parser: errors say file:line:col', () => {
  const cases: [string, number, number, string][] = [
    ['0 < S 0:0(0)\n+0 > S. 0:0(0) ack 1 <mss 1460,bogus 3>', 2, 32, 'unknown TCP option "bogus'],
    ['0 < S 0:10(9)', 1, 12, 'payload length 9 does not match 0:10'],
    ['0 < X 0:0(0)', 1, 5, 'expected TCP flags'],
    ['* < S 0:0(0)', 1, 1, '"*" is for outbound packets only'],
    ['0 < S 0:0(0) <...>', 1, 14, '<...> is for outbound packets only'],
    ['0 < S 0:0(0) ack 1', 1, 19, '"ack N" on a packet without the ACK flag'],
    ['0 < . 0:0(0) win 70000', 1, 18, 'a window 70000 is out of range'],
    ['0 accept(3, ..., ...) = -1', 1, 27, 'a return value of -1 needs an errno name'],
    ['\n\n  0 foo(3 = 0', 3, 11, 'expected ")" to close the argument list'],
    ['0 < S 0:0(0) extra', 1, 14, 'unexpected "extra" after the event'],
    ['+0...0.1 < S 0:0(0)', 1, 1, 'only system calls can block'],
    ['0 /* never closed', 1, 3, 'unterminated /* comment'],
    ['0.2~0.1 > S 0:0(0)', 1, 8, 'a time range must not end before it starts'],
  ];
  for (const [text, line, col, message] of cases) {
    it(JSON.stringify(text), () => {
      const e = syntaxError(text);
      expect(e.message.startsWith(`t.pkt:${line}:${col}: `), e.message).toBe(true);
      expect(e.detail).toContain(message);
    });
  }
});

describe('drill parser: fuzz', () => {
  const corpus = readdirSync(import.meta.dirname)
    .filter((f) => f.endsWith('.pkt'))
    .map((f) => readFileSync(join(import.meta.dirname, f), 'utf8'));

  function parsesOrSyntaxError(text: string): void {
    try {
      parseScript(text, 'f.pkt');
    } catch (err) {
      if (!(err instanceof DrillSyntaxError)) throw err;
      expect(err.line).toBeGreaterThanOrEqual(1);
      expect(err.col).toBeGreaterThanOrEqual(1);
    }
  }

  it('every corpus script parses', () => {
    for (const text of corpus) expect(parseScript(text, 'c').events.length).toBeGreaterThan(0);
  });

  it('random text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), parsesOrSyntaxError), { numRuns: 2000 });
  });

  it('text made of the language pieces', () => {
    const piece = fc.constantFrom('0', '+', '.1', '...', '~', '*', '<', '>', 'S', '.', 'P', 'F', 'R', '-', ' ', '\n', ':', '(', ')', '1', 'ack', 'win', ',', 'mss', 'nop', 'sack', 'TS', 'val', 'ecr', 'wscale', 'sackOK', '[', ']', '{', '}', '=', '"', '`', '%{', '}%', '//', '/*', '*/', 'read', 'EAGAIN', '--x=1', '|');
    fc.assert(fc.property(fc.array(piece, { maxLength: 60 }), (ps) => parsesOrSyntaxError(ps.join(''))), { numRuns: 3000 });
  });

  it('corpus scripts with bytes changed, cut or inserted', () => {
    fc.assert(
      fc.property(
        fc.nat(corpus.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 }), fc.string({ minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 5 }),
        (k, edits) => {
          let t = corpus[k]!;
          for (const [at, kind, s] of edits) {
            const i = at % (t.length + 1);
            t = kind === 0 ? t.slice(0, i) + s + t.slice(i + 1) : kind === 1 ? t.slice(0, i) : t.slice(0, i) + s + t.slice(i);
          }
          parsesOrSyntaxError(t);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
