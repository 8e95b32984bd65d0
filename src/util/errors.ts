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

/**
 * A packet, header or capture file that failed validation; `code` says which rule (ERR_IPV4_CHECKSUM,
 * ERR_TCP_DATA_OFFSET, ERR_PCAP_TRUNCATED, ...).
 *
 * Codecs (src/wire/, link/virtio-net.ts, trace/pcap-writer.ts, trace/pcapng.ts) keep one convention:
 *   - a decoder of bytes from outside never throws: `parseX` returns its value or a WireError
 *     (parseIpv4, parseIcmp, parseTcp, parseTcpOptions, parseVirtioNetHdr, readPcap, readPcapng), so that the
 *     type system makes every caller handle the bad case and a hostile packet cannot become an
 *     uncaught exception;
 *   - where a hot path validates without allocating, `checkX` returns only the code, or undefined
 *     when the bytes are acceptable (checkIpv4, checkIcmp, checkTcp, acceptRxOffload's VNET_ERR_* numbers);
 *   - an encoder (`serializeX`, `writeX`) throws a WireError: asked to write what the format cannot
 *     hold, the mistake is the caller's. So does the parsing of text the program is given (addresses,
 *     impairment specs), for the same reason.
 * A function that serves a command from a file (trace/ladder.ts ipPacketsFromPcap) throws the
 * WireError on, for the command to report.
 */
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
