/**
 * Byte helpers shared by every layer: big-endian integers read and written in place, and the one
 * empty array. Plain Uint8Array in and out (a Buffer is one); callers check lengths first, as the
 * parsers do, so nothing here throws.
 */

/** An empty byte array, for default associated data and empty bodies. Never write into it. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/** 2^32: a 64-bit field's high half is worth this much. */
export const TWO_32 = 2 ** 32;

/** Largest high half of a 64-bit field whose value is still exact as a number (below 2^53). */
const MAX_SAFE_HIGH = 2 ** 21 - 1;

/** Big-endian u24 at `at`. */
export function readU24(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
}

/** Big-endian u32 at `at`. */
export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Writes `value` (0 to 2^32 - 1) big-endian at `at`. */
export function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** The big-endian u64 at `at` as a number, or -1 if it is 2^53 or more (not exact as a number). */
export function readSafeU64(bytes: Uint8Array, at: number): number {
  const high = readU32(bytes, at);
  return high > MAX_SAFE_HIGH ? -1 : high * TWO_32 + readU32(bytes, at + 4);
}

/** Writes a safe integer `value` (0 to 2^53 - 1) as a big-endian u64 at `at`. */
export function writeSafeU64(out: Uint8Array, at: number, value: number): void {
  writeU32(out, at, Math.floor(value / TWO_32));
  writeU32(out, at + 4, value >>> 0);
}
