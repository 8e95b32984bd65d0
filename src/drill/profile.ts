/**
 * Drill profiles: the stack options a script is played with, where RFCs leave a choice.
 *
 * `default` is the stack as `serve` runs it. `linux` moves the options we have to Linux's defaults
 * (net/ipv4 sysctls and constants of a 6.x kernel), so that scripts written against Linux need fewer
 * changes. docs/drill.md, "Profiles", lists every difference and why ours is the default.
 */
import type { TcpOptions } from './sysctl.ts';

export type ProfileName = 'default' | 'linux';

export const PROFILE_NAMES: readonly ProfileName[] = ['default', 'linux'];

export const PROFILES: Readonly<Record<ProfileName, Readonly<Partial<TcpOptions>>>> = {
  default: {},
  linux: {
    // tcp_rmem's default (the middle value): 131072 bytes, where ours is 256 KiB.
    receiveBufferSize: 131_072,
    // tcp_wmem's default 16384, autotuned up to 4 MiB: the 4 MiB a bulk sender reaches.
    sendBufferSize: 4 * 1024 * 1024,
    // Linux offers the shift that covers tcp_rmem's maximum (6 MiB): 7.
    windowScaleShift: 7,
    // Quick-ACK mode at a connection's start: up to TCP_MAX_QUICKACKS (16) segments ACKed at once.
    quickAckSegments: 16,
  },
};

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}
