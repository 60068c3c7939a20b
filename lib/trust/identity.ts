import { createHash, randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { X25519_KEY_BYTES } from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { X25519KeyPair } from '../crypto/x25519-key-pair.js';
import { toBase64Url } from '../encoding.js';
import { readSecretKeyFile, writeSecretKeyFile } from './key-file.js';

/** ~/.bittrrt, where the CLI keeps keys, known hosts and config. */
export function bittrrtDir(): string {
  return join(homedir(), '.bittrrt');
}

export const defaultServerKeyPath = (): string => join(bittrrtDir(), 'server.key');
export const defaultClientKeyPath = (): string => join(bittrrtDir(), 'client.key');

/** A short, stable name for a public key: SHA-256, first 16 bytes, base64 (as ssh's SHA256:...). */
export function fingerprint(publicKey: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(publicKey).digest('base64').replace(/=+$/, '').slice(0, 22)}`;
}

/** Reads a long-term X25519 identity from `path`. */
export function loadIdentity(path: string, what: string, backend?: CryptoBackend): X25519KeyPair {
  return X25519KeyPair.fromSecretKey(readSecretKeyFile(path, what), { backend });
}

/** Reads the identity at `path`, or creates one there (mode 0600) on first run. */
export function loadOrCreateIdentity(path: string, what: string, backend?: CryptoBackend): { identity: X25519KeyPair; created: boolean } {
  if (existsSync(path)) return { identity: loadIdentity(path, what, backend), created: false };
  const secret = randomFillSync(new Uint8Array(X25519_KEY_BYTES));
  const identity = X25519KeyPair.fromSecretKey(secret, { backend });
  writeSecretKeyFile(path, secret, `bittrrt ${what}; public key ${toBase64Url(identity.publicKey)}`);
  secret.fill(0);
  return { identity, created: true };
}
