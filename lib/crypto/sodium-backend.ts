import { createRequire } from 'node:module';
import type * as Sodium from 'sodium-native';
import type { CryptoBackend } from './backend.js';
import { RandomPool } from './random-pool.js';

/**
 * Loads sodium-native. It is CommonJS and loads a prebuilt addon at require time, so it is required
 * lazily: a missing or broken binary surfaces here as an exception the selector can handle.
 */
export function loadSodiumBackend(): CryptoBackend {
  const require = createRequire(import.meta.url);
  const sodium = require('sodium-native') as typeof Sodium;
  const random = new RandomPool((buf) => {
    sodium.randombytes_buf(buf);
  });
  return {
    name: 'native',
    x25519Base(publicKey, secretKey) {
      sodium.crypto_scalarmult_base(publicKey, secretKey);
    },
    x25519(shared, secretKey, peerPublicKey) {
      try {
        // libsodium returns -1 (sodium-native throws) exactly when the result is all zeros.
        sodium.crypto_scalarmult(shared, secretKey, peerPublicKey);
        return true;
      } catch {
        sodium.sodium_memzero(shared);
        return false;
      }
    },
    aeadSeal(out, plaintext, ad, nonce, key) {
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad.length > 0 ? ad : null, null, nonce, key);
    },
    aeadOpen(out, sealed, ad, nonce, key) {
      try {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, sealed, ad.length > 0 ? ad : null, nonce, key);
        return true;
      } catch {
        return false;
      }
    },
    randomFill(buf) {
      random.fill(buf);
    },
    wipe(buf) {
      sodium.sodium_memzero(buf);
    },
  };
}
