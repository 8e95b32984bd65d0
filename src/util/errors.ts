/**
 * Typed errors with stable codes. Callers switch on `code`, never on message text.
 * Socket-level codes follow Node's (ECONNRESET, ECONNREFUSED, ETIMEDOUT, ...), so code written for
 * node:net keeps working; our own codes are ERR_* names.
 */

export class TunstackError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TunstackError';
    this.code = code;
  }
}

/** A packet or segment that failed validation. `code` says which rule (ERR_IPV4_BAD_CHECKSUM, ...). */
export class WireError extends TunstackError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'WireError';
  }
}

/** An error from the TUN device or the native addon; `errno` is the symbolic name (EPERM, EBUSY, ...). */
export class DeviceError extends TunstackError {
  readonly errno: string | undefined;
  readonly hint: string | undefined;

  constructor(code: string, message: string, errno?: string, hint?: string) {
    super(code, hint ? `${message} (${hint})` : message);
    this.name = 'DeviceError';
    this.errno = errno;
    this.hint = hint;
  }
}

/** A connection-level error, with Node's errno-style code (ECONNRESET, ECONNREFUSED, ETIMEDOUT, ...). */
export class SocketError extends TunstackError {
  readonly syscall: string | undefined;

  constructor(code: string, message: string, syscall?: string) {
    super(code, message);
    this.name = 'SocketError';
    this.syscall = syscall;
  }
}

/** A bad command-line flag or option value. */
export class UsageError extends TunstackError {
  constructor(message: string) {
    super('ERR_USAGE', message);
    this.name = 'UsageError';
  }
}
