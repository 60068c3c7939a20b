import { X25519_KEY_BYTES } from '../constants.js';
import { InvalidInputError, LowOrderKeyError, NoSharedKeyError } from '../errors.js';
import type { CryptoBackend } from './backend.js';
import { sessionKeySchedule, type SessionKeyContext, type SessionKeys } from './key-schedule.js';
import { getDefaultBackend } from './select.js';

/** Thrown for any use after destroy(): a wiped secret would give keys anyone can compute. */
export const DESTROYED = 'the key was destroyed; create a new one';

export interface X25519KeyPairOptions {
  /** Crypto implementation; the process default (BITTRRT_CRYPTO) when omitted. */
  backend?: CryptoBackend;
  /** A known 32-byte X25519 secret key; a fresh random one when omitted. */
  secretKey?: Uint8Array;
}

/**
 * An X25519 key pair and the Diffie-Hellman work done with it: a long-term identity (a server's
 * or a client's, trust/identity.ts) or a handshake's ephemeral key. It holds no channel key;
 * the seed's CommEncryptor adds one on top.
 */
export class X25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly backend: CryptoBackend;
  readonly #secretKey: Uint8Array;
  #destroyed = false;

  /** Generates a fresh key pair (or uses `options.secretKey`). */
  constructor(options: X25519KeyPairOptions = {}) {
    this.backend = options.backend ?? getDefaultBackend();
    this.#secretKey = new Uint8Array(X25519_KEY_BYTES);
    if (options.secretKey === undefined) {
      this.backend.randomFill(this.#secretKey);
    } else {
      checkLength('secret key', options.secretKey, X25519_KEY_BYTES);
      this.#secretKey.set(options.secretKey);
    }
    this.publicKey = new Uint8Array(X25519_KEY_BYTES);
    this.backend.x25519Base(this.publicKey, this.#secretKey);
  }

  /** The key pair of a known 32-byte secret key (a key file, test vectors). */
  static fromSecretKey(secretKey: Uint8Array, options: Omit<X25519KeyPairOptions, 'secretKey'> = {}): X25519KeyPair {
    return new X25519KeyPair({ ...options, secretKey });
  }

  /** True once destroy() has wiped the secret key. */
  protected get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Version-2 session keys from X25519 with the peer's ephemeral key (see key-schedule.ts):
   * per-direction keys bound to both public keys and `context`. The caller owns (and should
   * wipe) the returned keys.
   */
  deriveSessionKeys(peerPublicKey: Uint8Array, role: 'initiator' | 'responder', context: SessionKeyContext = {}): SessionKeys {
    return this.withSharedSecret(peerPublicKey, (shared) => role === 'initiator'
      ? sessionKeySchedule(shared, this.publicKey, peerPublicKey, role, context)
      : sessionKeySchedule(shared, peerPublicKey, this.publicKey, role, context));
  }

  /** Raw X25519 with `peerPublicKey` (identity DHs); throws LowOrderKeyError. The caller wipes it. */
  agree(peerPublicKey: Uint8Array): Uint8Array {
    return this.withSharedSecret(peerPublicKey, (shared) => Uint8Array.from(shared));
  }

  /** Runs `use` on X25519(secret, peer), wiped afterwards; throws LowOrderKeyError for a low-order peer key. */
  protected withSharedSecret<T>(peerPublicKey: Uint8Array, use: (shared: Uint8Array) => T): T {
    if (this.#destroyed) throw new NoSharedKeyError(DESTROYED);
    checkLength('peer public key', peerPublicKey, X25519_KEY_BYTES);
    const shared = new Uint8Array(X25519_KEY_BYTES);
    try {
      if (!this.backend.x25519(shared, this.#secretKey, peerPublicKey)) throw new LowOrderKeyError();
      return use(shared);
    } finally {
      this.backend.wipe(shared);
    }
  }

  /**
   * A copy of the secret key, for a handshake thread that must act as this identity. The
   * caller wipes the copy once it has been handed over.
   */
  exportSecretKey(): Uint8Array<ArrayBuffer> {
    if (this.#destroyed) throw new NoSharedKeyError(DESTROYED);
    return Uint8Array.from(this.#secretKey);
  }

  /** Wipes the secret key; the key pair cannot be used afterwards. */
  destroy(): void {
    this.#destroyed = true;
    this.backend.wipe(this.#secretKey);
  }
}

export function checkLength(what: string, bytes: Uint8Array, expected: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== expected) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes;
    throw new InvalidInputError(`${what} must be ${expected} bytes, got ${got}`);
  }
}
