import { DOCRYPT_SALT_BYTES, NET_OBS_KEY } from '../constants.js';
import { InvalidTokenError } from '../errors.js';
import { Fernet, type FernetDecryptOptions, type FernetEncryptOptions } from './fernet.js';

/**
 * Which form a DoCrypt token had. 'seed': the token encrypts the text itself (the seed's
 * version). 'salted': an 8-byte big-endian counter precedes the text (later versions).
 */
export type DoCryptForm = 'seed' | 'salted';

export interface DoCryptOptions {
  /** Fernet key (URL-safe base64 or 32 raw bytes); the original's public NET_OBS_KEY by default. */
  key?: string | Uint8Array;
  /** Reject tokens older than this many seconds. No limit by default, as the original. */
  ttlSeconds?: number;
}

export interface DoCryptEncryptOptions extends FernetEncryptOptions {
  /** 'seed' (default) or 'salted'. */
  form?: DoCryptForm;
  /** The counter to use for a salted token (default: this instance's next one). */
  salt?: bigint;
}

export interface DoCryptDecrypted {
  plaintext: Buffer;
  form: DoCryptForm;
}

const JSON_OPEN_BRACE = 0x7b;
const COUNTER_MODULUS = 1n << 64n;

/** The original's handshake obfuscation: Fernet under a shared key, in either of its two forms. */
export class DoCrypt {
  readonly #fernet: Fernet;
  readonly #ttlSeconds: number | undefined;
  #counter = 0n;

  constructor(options: DoCryptOptions = {}) {
    this.#fernet = new Fernet(options.key ?? NET_OBS_KEY);
    this.#ttlSeconds = options.ttlSeconds;
  }

  /** Encrypts UTF-8 text or bytes; the seed's form unless `options.form` is 'salted'. */
  fencrypt(text: string | Uint8Array, options: DoCryptEncryptOptions = {}): string {
    const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    if (options.form !== 'salted') return this.#fernet.encrypt(body, options);
    const salted = Buffer.allocUnsafe(DOCRYPT_SALT_BYTES + body.length);
    salted.writeBigUInt64BE(options.salt ?? this.nextSalt());
    salted.set(body, DOCRYPT_SALT_BYTES);
    return this.#fernet.encrypt(salted, options);
  }

  /**
   * Verifies and decrypts a token in either form and says which it was. Handshake text is JSON
   * and so starts with `{`; a salted token starts with its counter, whose first byte is `{` only
   * past 0x7b << 56 encryptions.
   */
  fdecrypt(token: string | Uint8Array, options: FernetDecryptOptions = {}): DoCryptDecrypted {
    const plaintext = this.#fernet.decrypt(token, { ttlSeconds: this.#ttlSeconds, ...options });
    if (plaintext[0] === JSON_OPEN_BRACE) return { plaintext, form: 'seed' };
    if (plaintext.length < DOCRYPT_SALT_BYTES) throw new InvalidTokenError('salted token shorter than its counter');
    return { plaintext: plaintext.subarray(DOCRYPT_SALT_BYTES), form: 'salted' };
  }

  private nextSalt(): bigint {
    const salt = this.#counter;
    this.#counter = (this.#counter + 1n) % COUNTER_MODULUS;
    return salt;
  }
}
