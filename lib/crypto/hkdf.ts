import { hkdfSync } from 'node:crypto';
import { EMPTY } from '../bytes.js';

/**
 * HKDF-SHA256 (RFC 5869) on node:crypto. An empty salt is the same as Python's `salt=None`
 * (HMAC pads either to a block of zeros), which is what the original uses.
 */
export function hkdfSha256(ikm: Uint8Array, info: string | Uint8Array, length: number, salt: Uint8Array = EMPTY): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}
