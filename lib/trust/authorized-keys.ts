import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { KeyFileError, readOwnKeyFile, refuseWritableByOthers } from './key-file.js';

/**
 * Reads a list of client public keys, one URL-safe base64 key per line, optionally followed by
 * a comment (`key name`); `#` lines are comments. Returns the keys as base64 strings.
 */
export function readAuthorizedKeys(path: string): Set<string> {
  // Whoever can write this file, or swap it through a link or as its owner, can let themselves in.
  const text = readOwnKeyFile(path, 'authorized keys', (mode) => refuseWritableByOthers(mode, path, 'authorized keys'), true);
  const keys = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const key = fromBase64Url(line.split(/\s+/)[0] as string);
    if (key === null || key.length !== X25519_KEY_BYTES) throw new KeyFileError(`${path}:${i + 1}: not a 32-byte URL-safe base64 public key`);
    keys.add(toBase64Url(key));
  });
  return keys;
}
