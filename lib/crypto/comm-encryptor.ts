import { EMPTY } from '../bytes.js';
import { AEAD_KEY_BYTES, AEAD_OVERHEAD, HKDF_INFO, HKDF_KEY_BYTES } from '../constants.js';
import { DecryptError, NoSharedKeyError } from '../errors.js';
import { AeadKey } from './aead-key.js';
import { hkdfSha256 } from './hkdf.js';
import { checkLength, DESTROYED, X25519KeyPair, type X25519KeyPairOptions } from './x25519-key-pair.js';

export type CommEncryptorOptions = X25519KeyPairOptions;

/**
 * One side of the original's channel: an X25519 key pair, a key derived from the DH result with
 * HKDF-SHA256, and ChaCha20-Poly1305 messages laid out as nonce(12) || ciphertext || tag(16).
 *
 * The `*Into` methods are the hot path: they write into a caller-supplied buffer and allocate
 * nothing but the subarray views the binding needs.
 */
export class CommEncryptor extends X25519KeyPair {
  #key: AeadKey | null = null;

  /** Builds an encryptor from a known 32-byte secret key (test vectors). */
  static override fromSecretKey(secretKey: Uint8Array, options: Omit<CommEncryptorOptions, 'secretKey'> = {}): CommEncryptor {
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

  /** Installs a derived 32-byte key directly (replacing and wiping any previous one). */
  setKey(key: Uint8Array): void {
    if (this.destroyed) throw new NoSharedKeyError(DESTROYED);
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

  /** Wipes the secret key and the derived key; the encryptor cannot be used afterwards. */
  override destroy(): void {
    super.destroy();
    this.#key?.wipe();
    this.#key = null;
  }

  private requireKey(): AeadKey {
    if (this.#key === null) throw new NoSharedKeyError(this.destroyed ? DESTROYED : undefined);
    return this.#key;
  }
}

function shortMessage(length: number): DecryptError {
  return new DecryptError(`message too short: ${length} bytes, need at least ${AEAD_OVERHEAD}`);
}
