import { EMPTY, readSafeU64, readU24, writeSafeU64, writeU32 } from '../bytes.js';
import { FRAME_CONTROL_BIT, FRAME_FLAG_BITS, FRAME_HEADER_BYTES, MAX_CHANNEL } from '../constants.js';

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
  /** Path validation (RFC 9000 §8.2): 8 random bytes sent to a peer's new address... */
  PATH_CHALLENGE: 4,
  /** ...and echoed back, proving the peer receives there. */
  PATH_RESPONSE: 5,
} as const;

/**
 * A header to write. Sequence and offset may be plain numbers (exact below 2^53), which the
 * transfer hot path uses to spare a BigInt per datagram.
 */
export interface FrameHeaderInput {
  flags: number;
  channel: number;
  sequence: bigint | number;
  offset: bigint | number;
}

const MAX_U64 = (1n << 64n) - 1n;
/** Where each field starts in the header. */
const FLAGS_AT = 0;
const CHANNEL_AT = 1;
const SEQUENCE_AT = 4;
const OFFSET_AT = 12;

/**
 * Writes `header` into the 20 bytes of `out` from `at` (a datagram's frame starts after its
 * nonce). Values out of range throw RangeError, before any byte is written.
 */
export function writeFrameHeader(out: Uint8Array, header: FrameHeaderInput, at = 0): void {
  const { flags, channel, sequence, offset } = header;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`frame flags out of range: ${flags}`);
  if (!Number.isInteger(channel) || channel < 0 || channel > MAX_CHANNEL) throw new RangeError(`frame channel out of range: ${channel}`);
  checkU64(sequence, 'sequence');
  checkU64(offset, 'offset');
  out[at + FLAGS_AT] = flags;
  out[at + CHANNEL_AT] = channel >>> 16;
  out[at + CHANNEL_AT + 1] = (channel >>> 8) & 0xff;
  out[at + CHANNEL_AT + 2] = channel & 0xff;
  writeU64(out, at + SEQUENCE_AT, sequence);
  writeU64(out, at + OFFSET_AT, offset);
}

function checkU64(value: bigint | number, what: string): void {
  const ok = typeof value === 'number' ? Number.isSafeInteger(value) && value >= 0 : value >= 0n && value <= MAX_U64;
  if (!ok) throw new RangeError(`frame ${what} out of range`);
}

/** A checked u64; numbers (the transfer hot path) without a BigInt. */
function writeU64(out: Uint8Array, at: number, value: bigint | number): void {
  if (typeof value === 'number') return writeSafeU64(out, at, value);
  writeU32(out, at, Number(value >> 32n));
  writeU32(out, at + 4, Number(value & 0xffff_ffffn));
}

/** Reads the header of a frame; null if `frame` is shorter than a header. */
export function readFrameHeader(frame: Uint8Array): FrameHeader | null {
  if (frame.length < FRAME_HEADER_BYTES) return null;
  const view = new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES);
  return {
    flags: view.getUint8(FLAGS_AT),
    channel: (view.getUint8(CHANNEL_AT) << 16) | view.getUint16(CHANNEL_AT + 1),
    sequence: view.getBigUint64(SEQUENCE_AT),
    offset: view.getBigUint64(OFFSET_AT),
  };
}

/*
 * Single fields of a frame at least FRAME_HEADER_BYTES long, without the bigints of
 * readFrameHeader: the transfer hot path reads these per datagram.
 */

export function frameFlags(frame: Uint8Array): number {
  return frame[FLAGS_AT]!;
}

export function frameChannel(frame: Uint8Array): number {
  return readU24(frame, CHANNEL_AT);
}

/** The sequence as a number, or -1 if it is 2^53 or more. */
export function frameSafeSequence(frame: Uint8Array): number {
  return readSafeU64(frame, SEQUENCE_AT);
}

/** The offset as a number, or -1 if it is 2^53 or more. */
export function frameSafeOffset(frame: Uint8Array): number {
  return readSafeU64(frame, OFFSET_AT);
}

/** header || payload as one new buffer. */
export function encodeFrame(header: FrameHeaderInput, payload: Uint8Array = EMPTY): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(frame, header);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}
