/**
 * The backtick sysctl mapping (src/drill/sysctl.ts): modelled sysctls become stack options, anything
 * else is a reason to SKIP, and a script using an unmodelled one SKIPs instead of passing.
 */
import { describe, expect, it } from 'vitest';
import { parseScript } from '../../src/drill/parse.ts';
import { runScript } from '../../src/drill/run.ts';
import { sysctlOptions } from '../../src/drill/sysctl.ts';

describe('drill sysctl mapping', () => {
  it('maps the modelled sysctls onto stack options', () => {
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_sack=0')).toEqual({ sack: false });
    expect(sysctlOptions('sysctl -w net.ipv4.tcp_timestamps=1 && sysctl -q net.ipv4.tcp_window_scaling=0')).toEqual({ timestamps: true, windowScaling: false });
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_rmem="4096 8000 6291456"')).toEqual({ receiveBufferSize: 8000 });
    expect(sysctlOptions("/sbin/sysctl -q net.ipv4.tcp_fin_timeout=5; sysctl -q net.ipv4.tcp_synack_retries=2")).toEqual({ finWait2TimeoutMs: 5000, synAckRetries: 2 });
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_syncookies=0')).toEqual({ synCookies: false });
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_max_syn_backlog=0')).toEqual({ synBacklog: 0 });
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_syn_retries=0')).toBe('sysctl net.ipv4.tcp_syn_retries: must be 1..127, got 0');
  });
  it('gives a reason for anything else', () => {
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_ecn=1')).toBe('sysctl net.ipv4.tcp_ecn is not modelled');
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_syncookies=2')).toBe('sysctl net.ipv4.tcp_syncookies: only 0 and 1 are modelled, got 2');
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_sack=yes')).toBe('sysctl net.ipv4.tcp_sack: must be 0 or 1 here, got yes');
    expect(sysctlOptions('ip link set dev tun0 mtu 1200')).toBe('not a sysctl we model (`ip link set dev tun0 mtu 1200`)');
    expect(sysctlOptions('sysctl -q net.ipv4.tcp_sack=0; rm -rf x')).toBe('not a sysctl we model (`rm -rf x`)');
  });
  it('a script with an unmodelled shell line, or a sysctl after the play began, SKIPs with the reason', async () => {
    const head = '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n';
    const a = await runScript(parseScript('0 `sysctl -q net.ipv4.tcp_ecn=1`\n' + head, 'a.pkt'));
    expect(a).toEqual({ status: 'skip', file: 'a.pkt', reason: 'line 1: sysctl net.ipv4.tcp_ecn is not modelled' });
    const b = await runScript(parseScript(head + '+0 `sysctl -q net.ipv4.tcp_sack=0`\n', 'b.pkt'));
    expect(b.status).toBe('skip');
    if (b.status === 'skip') expect(b.reason).toContain('line 2: a sysctl after the first packet or system call is not modelled');
  });
});
