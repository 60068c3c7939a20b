import { mkdirSync, openSync, closeSync, writeSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { BittrrtError } from '../errors.js';

/** A key file is missing, malformed, or readable by others. */
export class KeyFileError extends BittrrtError {
  constructor(message: string) {
    super('ERR_KEY_FILE', message);
  }
}

/**
 * Reads a 32-byte secret stored as URL-safe base64 (one line; `#` comments allowed). Refuses a
 * file that its group or others can read, as ssh does: a leaked key is no key.
 */
export function readSecretKeyFile(path: string, what: string): Uint8Array {
  let mode: number;
  let text: string;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'not a regular file' });
    mode = stat.mode;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyFileError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new KeyFileError(`${what} ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const key = lines.length === 1 ? fromBase64Url(lines[0] as string) : null;
  if (key === null || key.length !== X25519_KEY_BYTES) throw new KeyFileError(`${what} ${path} does not hold one 32-byte URL-safe base64 key`);
  return key;
}

/** Writes a secret as URL-safe base64 with mode 0600, creating the directory (0700); never overwrites. */
export function writeSecretKeyFile(path: string, secret: Uint8Array, comment: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(code === 'EEXIST' ? `${path} already exists; not overwriting it` : `cannot write ${path}: ${code ?? (err as Error).message}`);
  }
  try {
    writeSync(fd, `# ${comment}\n${toBase64Url(secret)}\n`);
  } finally {
    closeSync(fd);
  }
}
