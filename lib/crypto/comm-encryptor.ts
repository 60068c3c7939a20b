import { EMPTY } from '../bytes.js';
import { AEAD_KEY_BYTES, AEAD_OVERHEAD, HKDF_INFO, HKDF_KEY_BYTES, X25519_KEY_BYTES } from '../constants.js';
import { DecryptError, InvalidInputError, LowOrderKeyError, NoSharedKeyError } from '../errors.js';
import { AeadKey } from './aead-key.js';
import type { CryptoBackend } from './backend.js';
import { hkdfSha256 } from './hkdf.js';
import { sessionKeySchedule, type SessionKeyContext, type SessionKeys } from './key-schedule.js';
import { getDefaultBackend } from './select.js';

const DESTROYED = 'encryptor was destroyed; create a new one';

export interface CommEncryptorOptions {
  /** Crypto implementation; the process default (BITTRRT_CRYPTO) when omitted. */
  backend?: CryptoBackend;
  /** A known 32-byte X25519 secret key; a fresh random one when omitted. */
  secretKey?: Uint8Array;
}

/**
 * One side of the original's channel: an X25519 key pair, a key derived from the DH result with
 * HKDF-SHA256, and ChaCha20-Poly1305 messages laid out as nonce(12) || ciphertext || tag(16).
 *
 * The `*Into` methods are the hot path: they write into a caller-supplied buffer and allocate
 * nothing but the subarray views the binding needs.
 */
export class CommEncryptor {
  readonly publicKey: Uint8Array;
  readonly backend: CryptoBackend;
  readonly #secretKey: Uint8Array;
  #key: AeadKey | null = null;
  #destroyed = false;

  /** Generates a fresh ephemeral key pair (or uses `options.secretKey`). */
  constructor(options: CommEncryptorOptions = {}) {
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

  /** Builds an encryptor from a known 32-byte secret key (test vectors, long-term identities). */
  static fromSecretKey(secretKey: Uint8Array, options: Omit<CommEncryptorOptions, 'secretKey'> = {}): CommEncryptor {
    return new CommEncryptor({ ...options, secretKey });
  }

  getPublicKey(): Uint8Array {
    return this.publicKey;
  }

  /** True once deriveSharedSecret has succeeded (and destroy has not been called). */
  get hasSharedKey(): boolean {
    return this.#key !== null;
  }

  /**
   * X25519 with the peer's public key, then HKDF-SHA256 (no salt, info `bittrrt-chacha20poly1305`,
   * 32 bytes), exactly as the original. Throws LowOrderKeyError for a low-order peer key.
   */
  deriveSharedSecret(peerPublicKey: Uint8Array): void {
    this.withSharedSecret(peerPublicKey, (shared) => {
      const key = hkdfSha256(shared, HKDF_INFO, HKDF_KEY_BYTES);
      this.setKey(key);
      this.backend.wipe(key);
    });
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

  private withSharedSecret<T>(peerPublicKey: Uint8Array, use: (shared: Uint8Array) => T): T {
    // After destroy() the secret key is all zeros: deriving from it would give a key anyone can compute.
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

  /** Installs a derived 32-byte key directly (replacing and wiping any previous one). */
  setKey(key: Uint8Array): void {
    if (this.#destroyed) throw new NoSharedKeyError(DESTROYED);
    checkLength('key', key, AEAD_KEY_BYTES);
    this.#key?.wipe();
    this.#key = new AeadKey(this.backend, key);
  }

  /** Seals `plaintext` with a fresh random nonce: nonce(12) || ciphertext || tag(16). */
  encrypt(plaintext: Uint8Array, associatedData: Uint8Array = EMPTY): Buffer {
    const out = Buffer.allocUnsafe(plaintext.length + AEAD_OVERHEAD);
    this.encryptInto(out, plaintext, associatedData);
    return out;
  }

  /**
   * Seals into `out` (at least plaintext.length + 28 bytes) and returns the bytes written.
   * `nonce` is for callers that manage nonces themselves (vectors); it must never repeat under
   * one key. Without it a random nonce is drawn, as the original does.
   */
  encryptInto(out: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array = EMPTY, nonce?: Uint8Array): number {
    return this.requireKey().sealInto(out, plaintext, associatedData, nonce);
  }

  /** Opens nonce || ciphertext || tag; throws DecryptError if it is short or fails authentication. */
  decrypt(data: Uint8Array, associatedData: Uint8Array = EMPTY): Buffer {
    if (data.length < AEAD_OVERHEAD) throw shortMessage(data.length);
    const out = Buffer.allocUnsafe(data.length - AEAD_OVERHEAD);
    this.decryptInto(out, data, associatedData);
    return out;
  }

  /** Opens into `out` (at least data.length - 28 bytes) and returns the plaintext length. */
  decryptInto(out: Uint8Array, data: Uint8Array, associatedData: Uint8Array = EMPTY): number {
    const key = this.requireKey();
    if (data.length < AEAD_OVERHEAD) throw shortMessage(data.length);
    const length = key.openInto(out, data, associatedData);
    if (length < 0) throw new DecryptError();
    return length;
  }

  /**
   * A copy of the secret key, for a handshake thread that must act as this identity. The
   * caller wipes the copy once it has been handed over.
   */
  exportSecretKey(): Uint8Array<ArrayBuffer> {
    if (this.#destroyed) throw new NoSharedKeyError(DESTROYED);
    return Uint8Array.from(this.#secretKey);
  }

  /** Wipes the secret key and the derived key; the encryptor cannot be used afterwards. */
  destroy(): void {
    this.#destroyed = true;
    this.backend.wipe(this.#secretKey);
    this.#key?.wipe();
    this.#key = null;
  }

  private requireKey(): AeadKey {
    if (this.#key === null) throw new NoSharedKeyError(this.#destroyed ? DESTROYED : undefined);
    return this.#key;
  }
}

function checkLength(what: string, bytes: Uint8Array, expected: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== expected) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes;
    throw new InvalidInputError(`${what} must be ${expected} bytes, got ${got}`);
  }
}

function shortMessage(length: number): DecryptError {
  return new DecryptError(`message too short: ${length} bytes, need at least ${AEAD_OVERHEAD}`);
}
