/**
 * Server-Sent Events on a ServerResponse (HTML Living Standard, §9.2 "Server-sent events": the
 * text/event-stream format). A stream is a sequence of events, each a few lines ending in a blank
 * line:
 *
 *     event: seg            (the event type; absent means "message")
 *     data: {"seq":1}       (one data: line per line of the payload)
 *                           (blank line: dispatch)
 *
 * and comment lines (": ...") that the browser ignores: the heartbeat, which keeps proxies and the
 * peer from thinking the connection dead when nothing happens. The body is chunked under HTTP/1.1
 * and close-delimited under HTTP/1.0 (ServerResponse decides: the length is never known).
 *
 * Memory stays bounded for a slow reader: `send` writes only while the response takes bytes
 * (write() true); once it refuses, further events are not queued but counted (`dropped`), and
 * `congested` stays true until 'drain'. The owner decides what to do with a congested stream
 * (the live feed coalesces, and ends a stream congested too long). The keep-alive idle timeout
 * never fires on an open stream: the response is in progress (http/connection.ts updateTimer).
 */
import type { ServerResponse } from './server-response.ts';

/** One event in the wire format. Lines of `data` become data: lines; CR and LF in `event` are removed. */
export function formatSseEvent(event: string | undefined, data: string, id?: string): string {
  let s = '';
  if (id !== undefined) s += `id: ${id.replace(/[\r\n]/g, '')}\n`;
  if (event !== undefined) s += `event: ${event.replace(/[\r\n]/g, '')}\n`;
  for (const line of data.split(/\r\n|\r|\n/)) s += `data: ${line}\n`;
  return s + '\n';
}

/** A comment line: ignored by the browser, keeps the connection visibly alive. */
export function formatSseComment(text: string): string {
  return `: ${text.replace(/[\r\n]/g, ' ')}\n\n`;
}

export interface EventStreamOptions {
  /** ms between heartbeats when nothing else was sent (default 15 000). */
  heartbeatMs?: number;
  /** The browser's reconnection delay, sent once at the start (retry:, ms; default 2000). */
  retryMs?: number;
}

export class EventStream {
  /** Events not written because the response was congested. */
  dropped = 0;
  /** The response refused the last write: wait for 'drain' before sending more. */
  congested = false;
  /** When it became congested (Date.now()), for the owner's "too slow" rule. */
  congestedSince = 0;
  closed = false;
  private lastWrite = Date.now();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeListeners: (() => void)[] = [];
  private readonly drainListeners: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    opts: EventStreamOptions = {},
  ) {
    const heartbeatMs = opts.heartbeatMs ?? 15_000;
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    // The head and the retry hint go out at once: the browser's EventSource opens on the head.
    this.write(`retry: ${opts.retryMs ?? 2000}\n\n`);
    this.heartbeat = setInterval(() => {
      if (!this.congested && Date.now() - this.lastWrite >= heartbeatMs) this.write(formatSseComment('heartbeat'));
    }, Math.max(10, Math.floor(heartbeatMs / 2)));
    this.heartbeat.unref();
    res.on('drain', () => {
      this.congested = false;
      for (const f of this.drainListeners) f();
    });
    res.on('close', () => this.onClosed());
  }

  /** Send one event; false when it was dropped (congested or closed). */
  send(event: string | undefined, data: string): boolean {
    if (this.closed || this.congested) {
      this.dropped++;
      return false;
    }
    this.write(formatSseEvent(event, data));
    return true;
  }

  /** Called once the response takes bytes again after congestion. */
  onDrain(f: () => void): void {
    this.drainListeners.push(f);
  }

  /** Called once when the stream ends (client gone, or end()). */
  onClose(f: () => void): void {
    if (this.closed) f();
    else this.closeListeners.push(f);
  }

  /** End the stream (the last chunk; the connection stays for further requests). */
  end(): void {
    if (this.closed) return;
    this.res.end();
    this.onClosed();
  }

  /** Drop the connection (a client too slow to keep up). */
  destroy(): void {
    if (this.closed) return;
    this.res.destroy();
    this.onClosed();
  }

  private write(text: string): void {
    this.lastWrite = Date.now();
    if (!this.res.write(text)) {
      this.congested = true;
      this.congestedSince = this.lastWrite;
    }
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const f of this.closeListeners.splice(0)) f();
  }
}
