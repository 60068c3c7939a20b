import { createRequire, Module } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Sodium from 'sodium-native';
import type { CryptoBackend } from './backend.js';
import { RandomPool } from './random-pool.js';

/**
 * Loads sodium-native. It is CommonJS and loads a prebuilt addon at require time, so it is required
 * lazily: a missing or broken binary surfaces here as an exception the selector can handle.
 */
export function loadSodiumBackend(): CryptoBackend {
  const require = createRequire(import.meta.url);
  preloadPrebuiltAddon(require);
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

/**
 * sodium-native's binding.js finds its addon through require-addon, whose resolver (with
 * bare-addon-resolve, bare-module-resolve and bare-semver) took 15–20 ms of the 31–40 ms that
 * loading sodium-native took at each start here; opening the addon itself takes 2. So where the
 * package ships a prebuilt addon for this platform, it is opened directly and put in the module
 * cache as binding.js's exports (Node documents adding entries to `require.cache`), and
 * binding.js never runs. Anything else (no such file, an addon that does not load, a build from
 * source) leaves the cache alone, and the package finds its addon its own way.
 */
function preloadPrebuiltAddon(require: NodeJS.Require): void {
  try {
    const bindingPath = require.resolve('sodium-native/binding.js');
    if (require.cache[bindingPath] !== undefined) return;
    const addonPath = join(dirname(bindingPath), 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node');
    const addon = require(addonPath) as unknown;
    const binding = new Module(bindingPath);
    binding.filename = bindingPath;
    binding.exports = addon;
    binding.loaded = true;
    require.cache[bindingPath] = binding;
  } catch {
    // The package's own loader decides, and reports what it cannot load.
  }
}
