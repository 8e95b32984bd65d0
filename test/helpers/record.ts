/**
 * The events a socket emits, as a log of strings in the order they came: each of `events` by name,
 * `data:TEXT` when asked for (a 'data' listener puts the stream in flowing mode), `error:CODE`, and
 * `close:HAD_ERROR`. Used alike for node:net sockets and TcpSocket (test/socket/).
 */
import type { EventEmitter } from 'node:events';

export function record(sock: EventEmitter, events: readonly string[] = ['connect', 'end', 'finish'], opts: { data?: boolean } = {}): string[] {
  const log: string[] = [];
  for (const ev of events) sock.on(ev, () => log.push(ev));
  if (opts.data === true) sock.on('data', (d: Buffer) => log.push(`data:${d.toString()}`));
  sock.on('error', (e: Error & { code?: string }) => log.push(`error:${e.code}`));
  sock.on('close', (hadError: boolean) => log.push(`close:${hadError}`));
  return log;
}
