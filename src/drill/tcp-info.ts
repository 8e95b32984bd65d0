/**
 * `%{ }%` blocks: packetdrill runs Python there with the fields of Linux's `struct tcp_info`
 * (getsockopt TCP_INFO) as variables. We model one form, a line per check:
 *
 *   assert tcpi_snd_cwnd == 10            (==, !=, <, <=, >, >=; an integer; `, message` ignored)
 *
 * for the fields our TcpInfo has, in Linux's units (below). Any other line, or another field, makes
 * the script SKIP with the reason. The socket checked is the one of the highest descriptor that has
 * a connection (in a script: the accepted or connected socket).
 */
import type { TcpInfo, TcpStateName } from '../tcp/api.ts';

export type Op = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface TcpInfoAssert {
  readonly field: string;
  readonly op: Op;
  readonly value: number;
  readonly text: string;
}

/** Linux's TCP_ESTABLISHED ... TCP_CLOSING (include/net/tcp_states.h). */
const LINUX_STATE: Readonly<Record<TcpStateName, number>> = {
  ESTABLISHED: 1,
  'SYN-SENT': 2,
  'SYN-RECEIVED': 3,
  'FIN-WAIT-1': 4,
  'FIN-WAIT-2': 5,
  'TIME-WAIT': 6,
  CLOSED: 7,
  'CLOSE-WAIT': 8,
  'LAST-ACK': 9,
  LISTEN: 10,
  CLOSING: 11,
};

/** Linux's "no ssthresh yet" (TCP_INFINITE_SSTHRESH). */
const INFINITE_SSTHRESH = 0x7fffffff;

/** The tcp_info fields we can give, in Linux's units: segments for cwnd/ssthresh, microseconds for times. */
const FIELDS: ReadonlyMap<string, (i: TcpInfo) => number> = new Map<string, (i: TcpInfo) => number>([
  ['tcpi_state', (i) => LINUX_STATE[i.state]],
  ['tcpi_snd_mss', (i) => i.mss],
  ['tcpi_snd_cwnd', (i) => Math.floor(i.cwnd / i.mss)],
  ['tcpi_snd_ssthresh', (i) => (i.ssthresh >= INFINITE_SSTHRESH ? INFINITE_SSTHRESH : Math.floor(i.ssthresh / i.mss))],
  ['tcpi_rto', (i) => Math.round(i.rtoMs * 1000)],
  ['tcpi_rtt', (i) => Math.round((i.srttMs ?? 0) * 1000)],
  ['tcpi_rttvar', (i) => Math.round((i.rttvarMs ?? 0) * 1000)],
  ['tcpi_snd_wscale', (i) => i.sndWindowScale],
  ['tcpi_rcv_wscale', (i) => i.rcvWindowScale],
  ['tcpi_total_retrans', (i) => i.retransmits],
]);

export const TCP_INFO_FIELDS: readonly string[] = [...FIELDS.keys()];

const ASSERT = /^assert\s+(tcpi_\w+)\s*(==|!=|<=|>=|<|>)\s*(-?\d+)\s*(?:,.*)?$/;

/** The checks of one block, or a string saying why it cannot be modelled. */
export function parseTcpInfoBlock(code: string): TcpInfoAssert[] | string {
  const out: TcpInfoAssert[] = [];
  for (const raw of code.split('\n')) {
    const text = raw.trim();
    if (text === '' || text.startsWith('#')) continue;
    const m = ASSERT.exec(text);
    if (m === null) return `only \`assert tcpi_<field> <op> <integer>\` lines are modelled in %{ }% (\`${text.slice(0, 60)}\`)`;
    if (!FIELDS.has(m[1]!)) return `${m[1]} is not a field we expose (we have ${TCP_INFO_FIELDS.join(', ')})`;
    out.push({ field: m[1]!, op: m[2] as Op, value: Number(m[3]), text: text.replace(/\s*,.*$/, '') });
  }
  return out;
}

function holds(a: number, op: Op, b: number): boolean {
  switch (op) {
    case '==': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}

/** The first check that does not hold, as a message, or undefined when all hold. */
export function checkTcpInfo(checks: readonly TcpInfoAssert[], info: TcpInfo): string | undefined {
  for (const c of checks) {
    const v = FIELDS.get(c.field)!(info);
    if (!holds(v, c.op, c.value)) return `${c.text} failed: ${c.field} is ${v}`;
  }
  return undefined;
}
