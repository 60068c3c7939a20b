import { FRAME_CONTROL_BIT, FRAME_FLAG_BITS, FRAME_HEADER_BYTES } from '../constants.js';

/**
 * The original's frame header, the first 20 bytes of every version-2 AEAD plaintext:
 *   flags (1) || channel (3, big-endian) || sequence (8, BE) || offset (8, BE) || payload
 * Sequence and offset are exact unsigned 64-bit values (bigint).
 */
export interface FrameHeader {
  flags: number;
  channel: number;
  sequence: bigint;
  offset: bigint;
}

/** Flag masks from the original's bit positions, plus CONTROL (bit 7), which the original never sets. */
export const Flag = {
  URGENT: 1 << FRAME_FLAG_BITS.URGENT,
  HEARTBEAT: 1 << FRAME_FLAG_BITS.HEARTBEAT,
  FLOW_CONTROL: 1 << FRAME_FLAG_BITS.FLOW_CONTROL,
  UNLOSSY: 1 << FRAME_FLAG_BITS.UNLOSSY,
  BINARY: 1 << FRAME_FLAG_BITS.BINARY,
  DATA: 1 << FRAME_FLAG_BITS.DATA,
  ACK: 1 << FRAME_FLAG_BITS.ACK,
  CONTROL: 1 << FRAME_CONTROL_BIT,
} as const;

/** In a CONTROL frame the channel field says which control message it is. */
export const Control = {
  CLOSE: 1,
  REKEY_INIT: 2,
  REKEY_RESPONSE: 3,
} as const;

export const MAX_CHANNEL = 0xff_ffff;
const MAX_U64 = (1n << 64n) - 1n;

/** Writes `header` into the first 20 bytes of `out`. Values out of range throw RangeError. */
export function writeFrameHeader(out: Uint8Array, header: FrameHeader): void {
  const { flags, channel, sequence, offset } = header;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`frame flags out of range: ${flags}`);
  if (!Number.isInteger(channel) || channel < 0 || channel > MAX_CHANNEL) throw new RangeError(`frame channel out of range: ${channel}`);
  if (sequence < 0n || sequence > MAX_U64) throw new RangeError('frame sequence out of range');
  if (offset < 0n || offset > MAX_U64) throw new RangeError('frame offset out of range');
  const view = new DataView(out.buffer, out.byteOffset, FRAME_HEADER_BYTES);
  view.setUint8(0, flags);
  view.setUint8(1, channel >>> 16);
  view.setUint16(2, channel & 0xffff);
  view.setBigUint64(4, sequence);
  view.setBigUint64(12, offset);
}

/** Reads the header of a frame; null if `frame` is shorter than a header. */
export function readFrameHeader(frame: Uint8Array): FrameHeader | null {
  if (frame.length < FRAME_HEADER_BYTES) return null;
  const view = new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES);
  return {
    flags: view.getUint8(0),
    channel: (view.getUint8(1) << 16) | view.getUint16(2),
    sequence: view.getBigUint64(4),
    offset: view.getBigUint64(12),
  };
}

/** header || payload as one new buffer. */
export function encodeFrame(header: FrameHeader, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(frame, header);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}
