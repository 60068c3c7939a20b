/**
 * The few primitives bittrrt needs, behind one interface so the native binding and the pure-JS
 * fallback are interchangeable and can be checked against each other byte for byte.
 *
 * Conventions (as libsodium's): outputs are caller-supplied buffers of exactly the right size, so
 * the hot path allocates nothing; lengths are validated by the callers in this package
 * (X25519KeyPair, CommEncryptor, AeadKey), and a backend may assume them.
 */
export interface CryptoBackend {
  /** 'native' (libsodium via sodium-native) or 'js' (@noble). */
  readonly name: 'native' | 'js';

  /** Writes the X25519 public key of `secretKey` (32 bytes) into `publicKey` (32 bytes). */
  x25519Base(publicKey: Uint8Array, secretKey: Uint8Array): void;

  /**
   * Writes X25519(secretKey, peerPublicKey) into `shared`. Returns false, leaving `shared`
   * zeroed, when the peer key is of low order (the result would be all zeros).
   */
  x25519(shared: Uint8Array, secretKey: Uint8Array, peerPublicKey: Uint8Array): boolean;

  /** ChaCha20-Poly1305 IETF: writes ciphertext || tag (plaintext.length + 16 bytes) into `out`. */
  aeadSeal(out: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;

  /**
   * Opens ciphertext || tag into `out` (ciphertext.length - 16 bytes). Returns false if the tag
   * does not verify; `out` then holds no plaintext.
   */
  aeadOpen(out: Uint8Array, sealed: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean;

  /** Fills `buf` with cryptographically secure random bytes. */
  randomFill(buf: Uint8Array): void;

  /** Overwrites `buf` with zeros in a way the optimiser cannot drop (best effort in JS). */
  wipe(buf: Uint8Array): void;
}
