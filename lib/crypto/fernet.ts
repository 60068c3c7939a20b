import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import {
  FERNET_BLOCK_BYTES, FERNET_HEADER_BYTES, FERNET_HMAC_BYTES, FERNET_IV_BYTES, FERNET_MAX_CLOCK_SKEW, FERNET_MIN_BYTES,
  FERNET_VERSION,
} from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { InvalidInputError, InvalidTokenError } from '../errors.js';
import { nodeRandom } from './random-pool.js';

export interface FernetEncryptOptions {
  /** Token timestamp in seconds since the epoch (default: now). */
  now?: number;
  /** The 16-byte IV (default: random). Only vectors should pass one. */
  iv?: Uint8Array;
}

export interface FernetDecryptOptions {
  /** Reject tokens older than this many seconds (and more than 60 s in the future). */
  ttlSeconds?: number;
  /** The current time in seconds since the epoch (default: now). */
  now?: number;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A token that authenticates but whose timestamp is outside the accepted age (checked only with a TTL). */
export class TokenAgeError extends InvalidTokenError {}

/**
 * Fernet (https://github.com/fernet/spec) on node:crypto: AES-128-CBC with PKCS#7 padding, then
 * HMAC-SHA256 over version || timestamp || iv || ciphertext, in URL-safe base64 with padding.
 * Decryption checks shape and the MAC (in constant time) before it decrypts anything.
 */
export class Fernet {
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;

  /** `key` is the 32-byte Fernet key, raw or as its URL-safe base64 text. */
  constructor(key: string | Uint8Array) {
    const raw = typeof key === 'string' ? fromBase64Url(key) : Buffer.from(key);
    if (raw === null || raw.length !== 32) throw new InvalidInputError('a Fernet key is 32 bytes in URL-safe base64');
    this.#signingKey = raw.subarray(0, 16);
    this.#encryptionKey = raw.subarray(16, 32);
  }

  encrypt(plaintext: Uint8Array, options: FernetEncryptOptions = {}): string {
    let iv = options.iv;
    if (iv === undefined) {
      iv = new Uint8Array(FERNET_IV_BYTES);
      nodeRandom.fill(iv);
    }
    if (iv.length !== FERNET_IV_BYTES) throw new InvalidInputError('a Fernet IV is 16 bytes');
    const cipher = createCipheriv('aes-128-cbc', this.#encryptionKey, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const token = Buffer.allocUnsafe(FERNET_HEADER_BYTES + ciphertext.length + FERNET_HMAC_BYTES);
    token[0] = FERNET_VERSION;
    token.writeBigUInt64BE(BigInt(options.now ?? nowSeconds()), 1);
    token.set(iv, 9);
    token.set(ciphertext, FERNET_HEADER_BYTES);
    const signed = token.subarray(0, token.length - FERNET_HMAC_BYTES);
    createHmac('sha256', this.#signingKey).update(signed).digest().copy(token, signed.length);
    return toBase64Url(token);
  }

  /** Verifies and decrypts a token given as text or as the raw ASCII bytes of a datagram. */
  decrypt(token: string | Uint8Array, options: FernetDecryptOptions = {}): Buffer {
    const data = fromBase64Url(token);
    if (data === null) throw new InvalidTokenError('not URL-safe base64 with padding');
    if (data.length < FERNET_MIN_BYTES) throw new InvalidTokenError('token too short');
    if ((data.length - FERNET_HEADER_BYTES - FERNET_HMAC_BYTES) % FERNET_BLOCK_BYTES !== 0) {
      throw new InvalidTokenError('ciphertext is not a whole number of blocks');
    }
    if (data[0] !== FERNET_VERSION) throw new InvalidTokenError('unknown token version');
    const macAt = data.length - FERNET_HMAC_BYTES;
    const expected = createHmac('sha256', this.#signingKey).update(data.subarray(0, macAt)).digest();
    if (!timingSafeEqual(expected, data.subarray(macAt))) throw new InvalidTokenError('bad MAC');
    if (options.ttlSeconds !== undefined) {
      const timestamp = Number(data.readBigUInt64BE(1));
      const now = options.now ?? nowSeconds();
      if (timestamp + options.ttlSeconds < now) throw new TokenAgeError('token expired');
      if (timestamp > now + FERNET_MAX_CLOCK_SKEW) throw new TokenAgeError('token timestamp is in the future');
    }
    try {
      const decipher = createDecipheriv('aes-128-cbc', this.#encryptionKey, data.subarray(9, FERNET_HEADER_BYTES));
      return Buffer.concat([decipher.update(data.subarray(FERNET_HEADER_BYTES, macAt)), decipher.final()]);
    } catch {
      throw new InvalidTokenError('bad padding');
    }
  }
}
