import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import type { CryptoBackend } from './backend.js';
import { nodeRandom } from './random-pool.js';

/** Pure-JS backend on the audited @noble packages: the fallback, and the benchmarks' baseline. */
export function loadNobleBackend(): CryptoBackend {
  return {
    name: 'js',
    x25519Base(publicKey, secretKey) {
      publicKey.set(x25519.getPublicKey(secretKey));
    },
    x25519(shared, secretKey, peerPublicKey) {
      try {
        // @noble rejects low-order points (before the ladder) by throwing; lengths are
        // checked by our callers, so a throw here means exactly "low order".
        shared.set(x25519.getSharedSecret(secretKey, peerPublicKey));
        return true;
      } catch {
        shared.fill(0);
        return false;
      }
    },
    aeadSeal(out, plaintext, ad, nonce, key) {
      chacha20poly1305(key, nonce, ad).encrypt(plaintext, out);
    },
    aeadOpen(out, sealed, ad, nonce, key) {
      try {
        chacha20poly1305(key, nonce, ad).decrypt(sealed, out);
        return true;
      } catch {
        return false;
      }
    },
    randomFill(buf) {
      nodeRandom.fill(buf);
    },
    wipe(buf) {
      buf.fill(0);
    },
  };
}
