import { MIN_V2_PACKET, TOKEN_FIRST_BYTE } from '../constants.js';
import type { DatagramOpen } from '../crypto/aead-key.js';
import type { SealingSend } from './io/datagram-socket.js';
import type { DatagramIoStats } from './io/io-stats.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { hostKey } from './address.js';
import type { Counters } from './counters.js';
import { readU32 } from '../bytes.js';
import type { TrafficKeys } from './traffic-keys.js';
import type { SecureSession, SecureSessionHost } from './secure-session.js';
import type { CloseReason, FrameHandler, PeerAddress, Session } from './session.js';
import type { SessionTimings } from './timings.js';
import { clock } from '../time.js';

/**
 * The sessions of one socket (a server's many, or a client's one): the receiver-index table
 * that routes version-2 datagrams, the timer that drives every session, and the counters.
 */
export interface SessionTableOptions {
  backend: CryptoBackend;
  counters: Counters;
  psk?: Uint8Array;
  send(datagram: Buffer, to: PeerAddress): void;
  /** The socket's deferred, batched seal-and-send (see SecureSessionHost.transmitSealing), if it has one. */
  sealing?: SealingSend;
  closed(session: Session, reason: CloseReason): void;
  /** The socket's counters (see Session.ioStats). */
  ioStats?(): DatagramIoStats | undefined;
  confirmed?(session: Session): void;
  rekeyed?(session: Session): void;
  roamed?(session: Session, from: PeerAddress): void;
  frameHandlerFor?(session: SecureSession): FrameHandler | undefined;
}

export class SessionTable implements SecureSessionHost {
  readonly sessions = new Set<Session>();
  readonly backend: CryptoBackend;
  readonly counters: Counters;
  readonly psk: Uint8Array | undefined;
  /** Version-2 sessions by the receiver index of each of their live traffic keys. */
  readonly #byIndex = new Map<number, SecureSession>();
  readonly #options: SessionTableOptions;
  readonly #indexBytes = new Uint8Array(4);
  /**
   * Sessions per host they were opened from (hostKey), for the per-host cap; a session that
   * roams keeps counting against the host that opened it. Bounded by the sessions themselves.
   */
  readonly #hostOf = new Map<Session, string>();
  readonly #perHost = new Map<string, number>();
  /** Indices promised to handshakes still being computed (see reserveIndex). */
  readonly #reserved = new Set<number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SessionTableOptions) {
    this.backend = options.backend;
    this.counters = options.counters;
    this.psk = options.psk;
    this.#options = options;
    const { sealing } = options;
    this.openDatagram = sealing?.open;
    if (sealing) {
      this.transmitSealing = (datagram, key, to) => {
        this.#countOut(datagram);
        sealing.send(datagram, key, to);
      };
    }
  }

  /** Ticks every session every `intervalMs` until stop(); the timer does not hold the process open. */
  start(intervalMs: number, onTick?: (now: number) => void): void {
    this.#timer = setInterval(() => {
      const now = clock();
      for (const session of this.sessions) session.tick(now);
      onTick?.(now);
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  add(session: Session): void {
    if (this.sessions.has(session)) return;
    this.sessions.add(session);
    const host = hostKey(session.remote.address);
    this.#hostOf.set(session, host);
    this.#perHost.set(host, (this.#perHost.get(host) ?? 0) + 1);
  }

  /** Sessions opened from the host `address` belongs to (IPv4 /32, IPv6 /64). */
  sessionsOfHost(address: string): number {
    return this.#perHost.get(hostKey(address)) ?? 0;
  }

  transmit(datagram: Buffer, to: PeerAddress): void {
    this.#countOut(datagram);
    this.#options.send(datagram, to);
  }

  #countOut(datagram: Buffer): void {
    this.counters.packetsOut++;
    this.counters.bytesOut += datagram.length;
  }

  readonly transmitSealing: SecureSessionHost['transmitSealing'];
  readonly openDatagram: DatagramOpen | undefined;

  ioStats(): DatagramIoStats | undefined {
    return this.#options.ioStats?.();
  }

  flushSealing(): void {
    this.#options.sealing?.flush();
  }

  allocateIndex(): number {
    for (;;) {
      this.backend.randomFill(this.#indexBytes);
      // An index never starts with a Fernet token's first byte: that byte alone marks handshakes.
      if (this.#indexBytes[0] === TOKEN_FIRST_BYTE) continue;
      const index = readU32(this.#indexBytes, 0);
      if (!this.#byIndex.has(index) && !this.#reserved.has(index)) return index;
    }
  }

  /** An index no one else gets until register() takes it or releaseIndex() gives it back. */
  reserveIndex(): number {
    const index = this.allocateIndex();
    this.#reserved.add(index);
    return index;
  }

  releaseIndex(index: number): void {
    this.#reserved.delete(index);
  }

  register(trafficKeys: TrafficKeys, session: SecureSession): void {
    this.#reserved.delete(trafficKeys.localIndex);
    this.#byIndex.set(trafficKeys.localIndex, session);
  }

  unregister(trafficKeys: TrafficKeys, session: SecureSession): void {
    if (this.#byIndex.get(trafficKeys.localIndex) === session) this.#byIndex.delete(trafficKeys.localIndex);
  }

  sessionClosed(session: Session, reason: CloseReason): void {
    this.sessions.delete(session);
    const host = this.#hostOf.get(session);
    if (host !== undefined) {
      this.#hostOf.delete(session);
      const left = (this.#perHost.get(host) ?? 1) - 1;
      if (left === 0) this.#perHost.delete(host); else this.#perHost.set(host, left);
    }
    this.#options.closed(session, reason);
  }

  sessionConfirmed(session: Session): void {
    this.#options.confirmed?.(session);
  }

  sessionRoamed(session: Session, from: PeerAddress): void {
    this.#options.roamed?.(session, from);
  }

  sessionRekeyed(session: Session): void {
    this.#options.rekeyed?.(session);
  }

  frameHandlerFor(session: SecureSession): FrameHandler | undefined {
    return this.#options.frameHandlerFor?.(session);
  }

  /**
   * Hands a version-2 datagram to the session its receiver index names. Returns false when no
   * live traffic keys have that index (the caller decides what else it might be).
   */
  route(datagram: Buffer, from: PeerAddress, now: number): boolean {
    if (datagram.length < MIN_V2_PACKET || datagram[0] === TOKEN_FIRST_BYTE) return false;
    const index = readU32(datagram, 0);
    const session = this.#byIndex.get(index);
    if (!session) return false;
    session.receive(datagram, from, now, index);
    return true;
  }

  /**
   * The session a newcomer may push out of a full table: the oldest half-open one, else the one
   * heard from least recently if it has missed two heartbeats (probably dead). A session that
   * works is never evicted, so a flood of handshakes cannot take it down; the newcomer is refused.
   */
  evictionCandidate(now: number, idleAfterMs: number): Session | undefined {
    let candidate: Session | undefined;
    for (const session of this.sessions) {
      if (!candidate || (candidate.confirmed && !session.confirmed)
        || (candidate.confirmed === session.confirmed && session.lastReceived < candidate.lastReceived)) candidate = session;
    }
    if (candidate?.confirmed && now - candidate.lastReceived < idleAfterMs) return undefined;
    return candidate;
  }

  closeAll(reason: CloseReason): void {
    for (const session of [...this.sessions]) session.close(reason);
  }
}

/** How often sessions are ticked: often enough for the shortest timer, at most every 250 ms. */
export function tickInterval(timings: SessionTimings): number {
  return Math.max(10, Math.min(250, Math.floor(Math.min(timings.heartbeatRate, timings.rekeyAfterMs, timings.rekeyRetryMs) / 2)));
}
