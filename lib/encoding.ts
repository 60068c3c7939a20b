/** URL-safe base64 *with* `=` padding, the form Python's Fernet and the original's pubkeys use. */

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

// 1 for the 64 URL-safe alphabet characters, by char code.
const ALPHABET = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') ALPHABET[c.charCodeAt(0)] = 1;
const PAD = 0x3d; // '='

/**
 * Strict decoding of padded URL-safe base64, from a string or raw datagram bytes. Returns null
 * for anything else (wrong alphabet, missing or misplaced padding, bad length) rather than
 * guessing, so hostile input never reaches a lenient decoder.
 */
export function fromBase64Url(input: string | Uint8Array): Buffer | null {
  const length = input.length;
  if (length === 0 || length % 4 !== 0) return null;
  const at = typeof input === 'string' ? (i: number) => input.charCodeAt(i) : (i: number) => input[i] as number;
  let pad = 0;
  if (at(length - 1) === PAD) pad = at(length - 2) === PAD ? 2 : 1;
  for (let i = 0; i < length - pad; i++) {
    const c = at(i);
    if (c >= 128 || ALPHABET[c] === 0) return null;
  }
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, length).toString('latin1');
  return Buffer.from(text, 'base64url');
}

/** C0 and C1 controls and bidirectional overrides: text from a peer must not steer a terminal or forge a log line. */
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
