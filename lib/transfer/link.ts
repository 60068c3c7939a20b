import type { Acknowledgement } from '../protocol/transfer.js';

/** How a stream sends frames: through its session, on its transfer's channel. */
export interface FrameLink {
  /** Most bytes of frame payload one datagram carries (the configured datagram size less overhead). */
  readonly maxBody: number;
  data(packet: number, offset: number, payload: Uint8Array): boolean;
  ack(largestPacket: number, cumulative: number, ack: Acknowledgement): boolean;
}
