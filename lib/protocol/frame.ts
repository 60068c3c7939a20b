import { EMPTY, readSafeU64, readU24, readU32, writeSafeU64, writeU32 } from '../bytes.js';
import { FRAME_CONTROL_BIT, FRAME_FLAG_BITS, FRAME_HEADER_BYTES, MAX_CHANNEL, SHORT_FRAME_HEADER_BYTES } from '../constants.js';

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

/**
 * The flags of a short data frame (ours): a transfer's data frame, UNLOSSY | DATA, without BINARY,
 * which every other data frame sets. Its header is SHORT_FRAME_HEADER_BYTES: flags, channel, the
 * packet number's low 32 bits, a 48-bit offset. Sent only to a peer that said it reads them.
 */
export const SHORT_DATA_FLAGS = Flag.UNLOSSY | Flag.DATA;

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

/** Where a short data frame's offset starts; its packet number is at SEQUENCE_AT. */
const SHORT_OFFSET_AT = 8;
const TWO_32 = 2 ** 32;
/** Offsets a short data frame can carry: below 2^48 (256 TiB). */
export const SHORT_OFFSET_LIMIT = 2 ** 48;

/** Bytes of the header a frame with these flags has. */
export function frameHeaderBytes(flags: number): number {
  return flags === SHORT_DATA_FLAGS ? SHORT_FRAME_HEADER_BYTES : FRAME_HEADER_BYTES;
}

/**
 * Writes `header` into `out` from `at` (a datagram's frame starts after its nonce): the original's
 * 20 bytes, or a short data frame's 14 when its flags say so (the sequence's low 32 bits; its offset
 * must be below SHORT_OFFSET_LIMIT). Values out of range throw RangeError, before any byte is
 * written. Returns the header's length.
 */
export function writeFrameHeader(out: Uint8Array, header: FrameHeaderInput, at = 0): number {
  const { flags, channel, sequence, offset } = header;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`frame flags out of range: ${flags}`);
  if (!Number.isInteger(channel) || channel < 0 || channel > MAX_CHANNEL) throw new RangeError(`frame channel out of range: ${channel}`);
  checkU64(sequence, 'sequence');
  checkU64(offset, 'offset');
  const short = flags === SHORT_DATA_FLAGS;
  if (short && Number(offset) >= SHORT_OFFSET_LIMIT) throw new RangeError('a short data frame\'s offset must be below 2^48');
  out[at + FLAGS_AT] = flags;
  out[at + CHANNEL_AT] = channel >>> 16;
  out[at + CHANNEL_AT + 1] = (channel >>> 8) & 0xff;
  out[at + CHANNEL_AT + 2] = channel & 0xff;
  if (!short) {
    writeU64(out, at + SEQUENCE_AT, sequence);
    writeU64(out, at + OFFSET_AT, offset);
    return FRAME_HEADER_BYTES;
  }
  writeU32(out, at + SEQUENCE_AT, typeof sequence === 'number' ? sequence % TWO_32 : Number(sequence & 0xffff_ffffn));
  const low48 = Number(offset);
  const high = Math.floor(low48 / TWO_32);
  out[at + SHORT_OFFSET_AT] = high >>> 8;
  out[at + SHORT_OFFSET_AT + 1] = high & 0xff;
  writeU32(out, at + SHORT_OFFSET_AT + 2, low48 % TWO_32);
  return SHORT_FRAME_HEADER_BYTES;
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

/** A short data frame's packet number: the low 32 bits of the sender's (the receiver expands it, expandPacketNumber). */
export function shortFramePacket(frame: Uint8Array): number {
  return readU32(frame, SEQUENCE_AT);
}

/** A short data frame's offset (48 bits, always exact). */
export function shortFrameOffset(frame: Uint8Array): number {
  return ((frame[SHORT_OFFSET_AT]! << 8) | frame[SHORT_OFFSET_AT + 1]!) * TWO_32 + readU32(frame, SHORT_OFFSET_AT + 2);
}

/**
 * Packet numbers a short data frame may stand for: below 2^52. No sender counts that far (10^15
 * datagrams), and it keeps the arithmetic below exact, and every number a receiver echoes below
 * 2^53, whatever low bits a hostile peer picks to push its largest up.
 */
export const SHORT_PACKET_LIMIT = 2 ** 52;

/**
 * The full packet number nearest to the one expected next (`largest` + 1) whose low 32 bits are
 * `low` (RFC 9000, Appendix A.3): packets that arrive within 2^31 of the largest are placed right,
 * and a sender never has that many in flight. -1 at or past SHORT_PACKET_LIMIT.
 */
export function expandPacketNumber(low: number, largest: number): number {
  if (largest >= SHORT_PACKET_LIMIT) return -1;
  const expected = largest + 1;
  const candidate = Math.floor(expected / TWO_32) * TWO_32 + low;
  let packet = candidate;
  if (candidate + TWO_32 / 2 <= expected) packet = candidate + TWO_32;
  else if (candidate > expected + TWO_32 / 2 && candidate >= TWO_32) packet = candidate - TWO_32;
  return packet < SHORT_PACKET_LIMIT ? packet : -1;
}

/** header || payload as one new buffer. */
export function encodeFrame(header: FrameHeaderInput, payload: Uint8Array = EMPTY): Buffer {
  const headerBytes = frameHeaderBytes(header.flags);
  const frame = Buffer.allocUnsafe(headerBytes + payload.length);
  writeFrameHeader(frame, header);
  frame.set(payload, headerBytes);
  return frame;
}
