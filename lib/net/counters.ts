import type { HandshakeRejection } from '../protocol/handshake.js';

/** Why the server dropped a datagram without answering it. */
export type DropReason = HandshakeRejection | 'oversized' | 'low-order';

/** Traffic counters of a server; every dropped datagram is counted under exactly one reason. */
export class ServerCounters {
  packetsIn = 0;
  packetsOut = 0;
  handshakes = 0;
  retransmittedConnects = 0;
  readonly drops = new Map<DropReason, number>();

  drop(reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  get dropped(): number {
    let total = 0;
    for (const n of this.drops.values()) total += n;
    return total;
  }

  toJSON(): Record<string, number | Record<string, number>> {
    return {
      packetsIn: this.packetsIn,
      packetsOut: this.packetsOut,
      handshakes: this.handshakes,
      retransmittedConnects: this.retransmittedConnects,
      drops: Object.fromEntries(this.drops),
    };
  }
}
