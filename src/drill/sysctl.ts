/**
 * The backtick shell lines of a drill script: the sysctls we model map onto stack options; anything
 * else makes the script SKIP with the reason (never a silent pass). packetdrill scripts set Linux's
 * TCP sysctls this way (`` `sysctl -q net.ipv4.tcp_sack=0` ``); each one here names the stack option
 * with the same meaning. Shell lines must come before the first packet or system call, because the
 * stack is built with its options before the play starts.
 */
import type { StackOptions } from '../stack.ts';

export type TcpOptions = NonNullable<StackOptions['tcp']>;

type Mapper = (value: string) => Partial<TcpOptions> | string;

function int(value: string, lo: number, hi: number): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= lo && n <= hi ? n : undefined;
}

function flag(option: 'sack' | 'timestamps' | 'windowScaling'): Mapper {
  return (v) => (v === '0' || v === '1' ? { [option]: v === '1' } : `must be 0 or 1 here, got ${v}`);
}

function count(option: 'synRetries' | 'synAckRetries' | 'maxRetries' | 'keepAliveProbes' | 'synBacklog', hi: number, lo = 1): Mapper {
  return (v) => {
    const n = int(v, lo, hi);
    return n === undefined ? `must be ${lo}..${hi}, got ${v}` : { [option]: n };
  };
}

function seconds(option: 'finWait2TimeoutMs' | 'keepAliveIntervalMs'): Mapper {
  return (v) => {
    const n = int(v, 1, 86_400);
    return n === undefined ? `must be 1..86400 seconds, got ${v}` : { [option]: n * 1000 };
  };
}

/** tcp_rmem / tcp_wmem: "min default max"; the default is the buffer a socket starts with. */
function buffer(option: 'receiveBufferSize' | 'sendBufferSize'): Mapper {
  return (v) => {
    const parts = v.trim().split(/\s+/);
    const n = parts.length === 3 ? int(parts[1]!, 1024, 64 * 1024 * 1024) : undefined;
    return n === undefined ? `must be "min default max" with a default of 1024..67108864, got ${v}` : { [option]: n };
  };
}

/** The sysctls we model (Linux's names, Documentation/networking/ip-sysctl.rst) and their options. */
const SYSCTLS: ReadonlyMap<string, Mapper> = new Map<string, Mapper>([
  ['net.ipv4.tcp_sack', flag('sack')],
  ['net.ipv4.tcp_timestamps', flag('timestamps')],
  ['net.ipv4.tcp_window_scaling', flag('windowScaling')],
  ['net.ipv4.tcp_syncookies', (v) => (v === '0' || v === '1' ? { synCookies: v === '1' } : `only 0 and 1 are modelled, got ${v}`)],
  // 0: every SYN finds the SYN queue full (a script has one remote port, so one connection at a time).
  ['net.ipv4.tcp_max_syn_backlog', count('synBacklog', 65_535, 0)],
  ['net.ipv4.tcp_syn_retries', count('synRetries', 127)],
  ['net.ipv4.tcp_synack_retries', count('synAckRetries', 255)],
  ['net.ipv4.tcp_retries2', count('maxRetries', 255)],
  ['net.ipv4.tcp_keepalive_probes', count('keepAliveProbes', 127)],
  ['net.ipv4.tcp_keepalive_intvl', seconds('keepAliveIntervalMs')],
  ['net.ipv4.tcp_fin_timeout', seconds('finWait2TimeoutMs')],
  ['net.ipv4.tcp_rmem', buffer('receiveBufferSize')],
  ['net.ipv4.tcp_wmem', buffer('sendBufferSize')],
  // Linux's names: reno (our NewReno) and cubic.
  ['net.ipv4.tcp_congestion_control', (v) => (v === 'reno' ? { cc: 'newreno' } : v === 'cubic' ? { cc: 'cubic' } : `only reno and cubic are modelled, got ${v}`)],
]);

/** The names we model, for the documentation and the error messages. */
export const MODELLED_SYSCTLS: readonly string[] = [...SYSCTLS.keys()];

/**
 * The stack options one backtick line sets, or a string saying why it cannot be modelled. Accepted:
 * one or more `sysctl [-q] [-w] name=value` commands separated by `;` or `&&`; a value may be quoted.
 */
export function sysctlOptions(command: string): Partial<TcpOptions> | string {
  const out: Partial<TcpOptions> = {};
  const parts = command.split(/;|&&/).map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return 'an empty shell command';
  for (const part of parts) {
    const m = /^(?:\/s?bin\/|\/usr\/s?bin\/)?sysctl((?:\s+-[qw]+)*)\s+([\w.]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))$/.exec(part);
    if (m === null) return `not a sysctl we model (\`${part.slice(0, 60)}\`)`;
    const name = m[2]!;
    const value = m[3] ?? m[4] ?? m[5]!;
    const mapper = SYSCTLS.get(name);
    if (mapper === undefined) return `sysctl ${name} is not modelled`;
    const r = mapper(value);
    if (typeof r === 'string') return `sysctl ${name}: ${r}`;
    Object.assign(out, r);
  }
  return out;
}
