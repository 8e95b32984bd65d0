/**
 * pino, configured once. Library code takes a Logger from its caller (default: silent), so that
 * embedding tunstack costs nothing and prints nothing unless asked. Hot paths check
 * `logger.isLevelEnabled('debug')` before building any message.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A logger that discards everything (the default for library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Is pino-pretty installed? It is a development dependency, not a runtime one: an installed package
 * logs JSON lines unless its user adds pino-pretty (`npm install pino-pretty`).
 */
export function hasPinoPretty(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * The CLI's logger: pretty lines on a terminal when pino-pretty is installed, JSON lines otherwise,
 * on stderr so that stdout stays for the ready line and trace output.
 */
export function createLogger(level: LogLevel, pretty = process.stderr.isTTY === true): Logger {
  if (pretty && hasPinoPretty()) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'HH:MM:ss.l' } },
    });
  }
  return pino({ level }, pino.destination({ fd: 2, sync: true }));
}
