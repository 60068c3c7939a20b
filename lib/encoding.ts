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

/**
 * Characters text from a peer (a file name, a reason) must not carry, as it must not steer a
 * terminal, forge a log line or pass for other text: C0 and C1 controls; line and paragraph
 * separators (U+2028/2029: a line break to many viewers); bidirectional embeddings, overrides,
 * isolates and marks (U+202A-202E, U+2066-2069, U+200E/200F, U+061C), which reorder what is
 * shown; and invisible ones that make two names look alike: soft hyphen, Mongolian vowel
 * separator, zero-width space, non-joiner and joiner (U+200B-200D), word joiner and invisible
 * operators (U+2060-206F), the byte order mark U+FEFF, interlinear annotation (U+FFF9-FFFB).
 */
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/;
