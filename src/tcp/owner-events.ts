/**
 * What a connection has to tell its owner (the socket, api.ts ConnectionEvents), queued while a
 * segment, a timer or a call is being processed and delivered once it is done, in the order it
 * happened. So an owner's reaction (write, end, destroy, consumed) never runs in the middle of a
 * segment: by the time it runs, the connection's state is whole again.
 *
 * The queue is one array reused for the connection's life (nothing is allocated per event), each
 * entry a data view or the kind of another event: a count says how much of it is in use, since
 * emptying an array with `length = 0` gives its storage back to V8 and the next push allocates it
 * again (a few hundred bytes per segment). One array, not one for kinds and one for data: an idle
 * connection keeps that storage (about 150 bytes).
 * Delivered data is what the receiver handed over: views into the packet of this tick, still valid
 * when the queue is flushed at the end of the same processing. Before an owner attaches (a passive
 * open not yet accepted), data is copied into owned, coalesced storage (util/owned-bytes.ts), since
 * views would pin the device's receive chunks; FIN and close are remembered and told on attach.
 */
import type { SocketError } from '../util/errors.ts';
import { ByteQueue } from '../util/owned-bytes.ts';
import type { ConnectionEvents } from './api.ts';
import type { ConnectionHost, ConnectionRef } from './config.ts';

/** The connection whose events these are: its host hears of a completed passive open. */
export interface EventsConnection extends ConnectionRef {
  readonly host: Pick<ConnectionHost, 'passiveEstablished'>;
}

const enum Kind {
  /** A passive open completed: hand the connection to its listener (the layer's passiveEstablished). */
  Accepted,
  Established,
  Fin,
  Writable,
  Closed,
  /** An entry already delivered: what a view's place holds once it is let go. */
  Spent,
}

/** Queue entries kept between flushes; a longer queue (a burst) is let go after its flush. */
const MAX_KEPT = 16;

export class OwnerEvents {
  private target: ConnectionEvents | undefined;
  /** Data delivered (a view), or another event's kind; the first `count` entries are in use. */
  private readonly queue: (Uint8Array | Kind)[] = [];
  private count = 0;
  private flushing = false;
  /**
   * The owner ended the connection while hearing of earlier events (destroy() in onData, say): what
   * is still queued before the close is not told, as nothing would have been processed after it.
   */
  private abandoned = false;
  private closeError: SocketError | undefined;
  private closeQueued = false;
  // Held for an owner that has not attached yet.
  private pending: ByteQueue | undefined;
  private pendingFin = false;
  private pendingClose: { error: SocketError | undefined } | undefined;

  constructor(private readonly conn: EventsConnection) {}

  /** An owner is attached (it hears of established/writable only then, as before it nobody asked). */
  get attached(): boolean {
    return this.target !== undefined;
  }

  accepted(): void {
    this.push(Kind.Accepted);
  }
  established(): void {
    this.push(Kind.Established);
  }
  deliver(data: Uint8Array): void {
    this.push(data);
  }
  fin(): void {
    this.push(Kind.Fin);
  }
  writable(): void {
    this.push(Kind.Writable);
  }
  /** The connection is over for the owner (told once). */
  closed(error: SocketError | undefined): void {
    if (this.closeQueued) return;
    this.closeQueued = true;
    if (this.flushing) this.abandoned = true;
    this.closeError = error;
    this.push(Kind.Closed);
  }

  private push(e: Uint8Array | Kind): void {
    const i = this.count++;
    if (i < this.queue.length) this.queue[i] = e;
    else this.queue.push(e);
  }

  /** Deliver what is queued, in order. Calls made by the owner meanwhile queue more; those follow. */
  flush(): void {
    if (this.flushing || this.count === 0) return;
    this.flushing = true;
    try {
      const q = this.queue;
      for (let i = 0; i < this.count; i++) {
        const e = q[i]!;
        q[i] = Kind.Spent; // a view is let go as soon as it is told
        if (typeof e !== 'number') {
          if (!this.abandoned) this.onData(e);
        } else if (!this.abandoned || e === Kind.Closed) this.dispatch(e);
      }
    } finally {
      // Views not yet let go (an owner threw) must not pin their packets' memory.
      for (let i = 0; i < this.count; i++) this.queue[i] = Kind.Spent;
      this.count = 0;
      // A burst's long queue is not kept for the connection's life.
      if (this.queue.length > MAX_KEPT) this.queue.length = 0;
      this.flushing = false;
      this.abandoned = false;
    }
  }

  private onData(d: Uint8Array): void {
    const t = this.target;
    if (t !== undefined) t.onData(d);
    else (this.pending ??= new ByteQueue()).push(d);
  }

  private dispatch(kind: Kind): void {
    const t = this.target;
    switch (kind) {
      case Kind.Accepted:
        this.conn.host.passiveEstablished(this.conn);
        return;
      case Kind.Established:
        t?.onEstablished();
        return;
      case Kind.Fin:
        if (t !== undefined) t.onPeerFin();
        else this.pendingFin = true;
        return;
      case Kind.Writable:
        t?.onWritable();
        return;
      case Kind.Closed:
        if (t !== undefined) t.onClosed(this.closeError);
        else this.pendingClose = { error: this.closeError };
        return;
    }
  }

  /** The owner attaches (once): what arrived before is told now. */
  attach(events: ConnectionEvents): void {
    this.target = events;
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) for (const d of pending.drain()) events.onData(d);
    if (this.pendingFin) {
      this.pendingFin = false;
      events.onPeerFin();
    }
    if (this.pendingClose !== undefined) {
      const e = this.pendingClose.error;
      this.pendingClose = undefined;
      events.onClosed(e);
    }
  }

  /** Let go of the owner and anything held for it (the connection became a TIME-WAIT record). */
  detach(): void {
    this.target = undefined;
    this.pending = undefined;
    this.pendingClose = undefined;
    this.count = 0;
    this.queue.length = 0;
  }
}
