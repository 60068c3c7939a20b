import { EventEmitter } from 'node:events';
import { BittrrtError } from '../errors.js';
import type { Counters } from './counters.js';
import type { SessionTimings } from './timings.js';
import type { DatagramIoStats } from './io/io-stats.js';

/**
 * Why a session ended. `exhausted`: the message counter of its keys ran out; `expired`: its keys
 * reached their age limit (rejectAfterMs) because no rotation completed.
 */
export type CloseReason = 'local' | 'peer' | 'timeout' | 'evicted' | 'shutdown' | 'exhausted' | 'expired';

export interface SessionEvents {
  /** An authenticated application payload, with the frame channel it came on (0 for version 1). */
  message: [payload: Buffer, channel: number];
  /** A heartbeat round trip completed, in milliseconds. */
  rtt: [ms: number];
  /** The session's keys were rotated. */
  rekey: [];
  /** The peer moved: its new address answered a path challenge, and traffic goes there now. */
  roam: [remote: PeerAddress];
  /** The session ended; its keys are wiped. */
  close: [reason: CloseReason];
}

export interface PeerAddress {
  address: string;
  port: number;
}

/** Round-trip statistics from heartbeats, in milliseconds (NaN before the first sample). */
export interface RttStats {
  last: number;
  min: number;
  max: number;
  /** Smoothed RTT (RFC 6298, alpha 1/8). */
  smoothed: number;
  samples: number;
}

/**
 * The layer above a version-2 session that takes its UNLOSSY frames (lib/transfer plugs in here;
 * net/ knows nothing of it). The header comes as plain numbers (sequence and offset below 2^53:
 * the session drops larger ones), which spares the bulk path a bigint and an object per datagram.
 */
export interface FrameHandler {
  receiveFrame(flags: number, channel: number, sequence: number, offset: number, body: Buffer): void;
  /** The session closed (its keys are wiped, sends fail): called once, before the session's `close` event. */
  sessionClosed?(reason: CloseReason): void;
}

/** What every session needs from its owner (the server, or a client's socket); a version may need more. */
export interface SessionHost {
  readonly counters: Counters;
  /** What the socket under this session has done (its datagram path and batch sizes), if the host knows. */
  ioStats?(): DatagramIoStats | undefined;
  transmit(datagram: Buffer, to: PeerAddress): void;
  /** Called once when the session closes, before its `close` event. */
  sessionClosed(session: Session, reason: CloseReason): void;
  /** Called once when the first authenticated packet arrives: the peer has proven it holds the keys. */
  sessionConfirmed(session: Session): void;
}

/** The session was closed, or the peer speaks only protocol version 1, so it cannot do this. */
export class SessionStateError extends BittrrtError {
  constructor(message: string) {
    super('ERR_SESSION_STATE', message);
  }
}

/**
 * A secure channel with one peer; each protocol version is a subclass. The common part: where the
 * peer is, when we last heard from it, liveness and closing.
 */
export abstract class Session extends EventEmitter<SessionEvents> {
  abstract readonly version: 1 | 2;
  readonly role: 'client' | 'server';
  /** When the handshake completed, on the monotonic clock (lib/time.ts): compare it with clock(), not Date.now(). */
  readonly establishedAt: number;
  /** Where the peer is: where we send (a version-2 peer's new address once it is validated). */
  remote: PeerAddress;
  /** When the last authenticated packet arrived (monotonic milliseconds, lib/time.ts). */
  lastReceived: number;
  /**
   * True once the peer has proven it holds the keys (an authenticated packet arrived). Until
   * then the session is half-open: first to be evicted, and (version 2) freed if it stays so.
   */
  confirmed = false;
  protected readonly host: SessionHost;
  protected readonly timings: SessionTimings;
  #closed = false;

  constructor(host: SessionHost, role: 'client' | 'server', remote: PeerAddress, timings: SessionTimings, now: number) {
    super();
    // EventEmitter makes its listener table at once: a dictionary-mode object of about 184 B,
    // which most of a server's sessions never use. Node's EventEmitter makes the table on the
    // first listener when it is undefined (as on an emitter whose constructor never ran).
    (this as unknown as { _events: undefined })._events = undefined;
    this.host = host;
    this.role = role;
    this.remote = remote;
    this.timings = timings;
    this.establishedAt = now;
    this.lastReceived = now;
  }

  /** The traffic counters of the socket this session lives on. */
  /** The socket's datagram path and counters: which path, and how many datagrams per system call. */
  ioStats(): DatagramIoStats | undefined {
    return this.host.ioStats?.();
  }

  get counters(): Counters {
    return this.host.counters;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one payload (at most MAX_PAYLOAD bytes) on `channel`. */
  abstract send(payload: Uint8Array, channel?: number): void;

  /** Handles a datagram the host routed to this session. */
  abstract receive(datagram: Buffer, from: PeerAddress, now: number): void;

  /** Sends a heartbeat and resolves with its round-trip time in milliseconds. */
  abstract ping(timeoutMs?: number): Promise<number>;

  abstract get rtt(): RttStats;

  /** Runs the session's timers; the host calls it periodically. A peer silent for too long times out. */
  tick(now: number): void {
    if (now - this.lastReceived >= this.timings.heartbeatRate * this.timings.staleHeartbeats) this.end('timeout');
  }

  /** Records an authenticated packet. */
  protected heard(now: number): void {
    this.lastReceived = now;
    if (this.confirmed) return;
    this.confirmed = true;
    this.host.sessionConfirmed(this);
  }

  /** Closes the session, telling the peer where the protocol can (version 2). */
  close(reason: CloseReason = 'local'): void {
    if (this.#closed) return;
    this.notifyClose();
    this.end(reason);
  }

  protected abstract notifyClose(): void;
  protected abstract wipe(): void;

  /** Frees the session without telling the peer. */
  protected end(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.wipe();
    this.host.sessionClosed(this, reason);
    this.ended(reason);
    this.emit('close', reason);
  }

  /** Tells the layers above that the session ended, before its `close` event (none by default). */
  protected ended(_reason: CloseReason): void {
    // Nothing above the session by default.
  }
}
