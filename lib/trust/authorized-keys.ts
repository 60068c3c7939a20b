import { readFileSync, statSync } from 'node:fs';
import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { KeyFileError, refuseWritableByOthers } from './key-file.js';

/**
 * Reads a list of client public keys, one URL-safe base64 key per line, optionally followed by
 * a comment (`key name`); `#` lines are comments. Returns the keys as base64 strings.
 */
export function readAuthorizedKeys(path: string): Set<string> {
  let text: string;
  try {
    // Whoever can write this file can let themselves in.
    refuseWritableByOthers(statSync(path).mode, path, 'authorized keys');
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`cannot read authorized keys ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
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
