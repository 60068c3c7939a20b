import type { HandshakeRejection } from '../protocol/handshake.js';

/** Why a datagram was dropped without an answer. */
export type DropReason =
  | HandshakeRejection
  | 'oversized'
  | 'low-order'
  /** Answering this `connect` failed unexpectedly (in a thread and then inline): dropped, not a crash. */
  | 'handshake-failed'
  | 'unknown-session'
  | 'bad-auth'
  | 'replay'
  /** Under a network key: a `connect` whose Fernet timestamp is too old (or too far ahead), e.g. a captured one replayed. */
  | 'stale-connect'
  | 'bad-frame'
  | 'session-limit'
  /** The source's host (IPv4 /32, IPv6 /64) already holds its most sessions (max_sessions_per_host). */
  | 'host-session-limit'
  | 'rate-limit'
  | 'unauthorized'
  | 'seed-refused'
  | 'amplification'
  | 'bad-transfer'
  /** An acknowledgement of a packet number or bytes never sent: the transfer is stopped. */
  | 'optimistic-ack'
  /** A key-rotation request while one is pending or sooner than REKEY_MIN_INTERVAL_MS after the last. */
  | 'rekey-limit'
  /** A path response that answers no challenge we have open. */
  | 'bad-path-response'
  /** A packet under keys past their age limit (rejectAfterMs): the session is closing. */
  | 'expired-keys';

/** Traffic counters of one endpoint; every dropped datagram is counted under exactly one reason. */
export class Counters {
  packetsIn = 0;
  packetsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  handshakes = 0;
  retransmittedConnects = 0;
  rekeys = 0;
  cookiesSent = 0;
  /** Path challenges sent to a peer's new, not yet validated address. */
  pathChallenges = 0;
  socketErrors = 0;
  /** Bytes received in, and sent in answer to, handshakes from addresses not yet validated. */
  unvalidatedBytesIn = 0;
  unvalidatedBytesOut = 0;
  readonly drops = new Map<DropReason, number>();

  drop(reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  dropsOf(reason: DropReason): number {
    return this.drops.get(reason) ?? 0;
  }

  get dropped(): number {
    let total = 0;
    for (const n of this.drops.values()) total += n;
    return total;
  }

  toJSON(): CountersSnapshot {
    return {
      packetsIn: this.packetsIn,
      packetsOut: this.packetsOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      handshakes: this.handshakes,
      retransmittedConnects: this.retransmittedConnects,
      rekeys: this.rekeys,
      cookiesSent: this.cookiesSent,
      pathChallenges: this.pathChallenges,
      socketErrors: this.socketErrors,
      unvalidatedBytesIn: this.unvalidatedBytesIn,
      unvalidatedBytesOut: this.unvalidatedBytesOut,
      dropped: this.dropped,
      drops: Object.fromEntries(this.drops) as Partial<Record<DropReason, number>>,
    };
  }
}

export interface CountersSnapshot {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  handshakes: number;
  retransmittedConnects: number;
  pathChallenges: number;
  rekeys: number;
  cookiesSent: number;
  socketErrors: number;
  unvalidatedBytesIn: number;
  unvalidatedBytesOut: number;
  dropped: number;
  drops: Partial<Record<DropReason, number>>;
}
