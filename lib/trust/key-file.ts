import { closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { BittrrtError } from '../errors.js';

/** A key file is missing, malformed, a link, another user's, or open to others. */
export class KeyFileError extends BittrrtError {
  constructor(message: string) {
    super('ERR_KEY_FILE', message);
  }
}

// Not following a link: whoever controls the link's directory could point it at a file of theirs.
// Non-blocking: a FIFO in the key's place must not hang the open; it is refused as not a file.
const OPEN_KEY_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0);

/**
 * The text of a file of keys we trust, refused unless it is a regular file reached without a
 * symbolic link, owned by the user who runs bittrrt (or by root, with `rootMayOwn`: ssh accepts a
 * root-owned authorized_keys), and whose mode passes `checkMode`.
 */
export function readOwnKeyFile(path: string, what: string, checkMode: (mode: number) => void, rootMayOwn = false): string {
  let fd: number;
  try {
    fd = openSync(path, OPEN_KEY_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // O_NOFOLLOW on a link fails with ELOOP (Linux, macOS) or EMLINK (FreeBSD).
    if (code === 'ELOOP' || code === 'EMLINK') throw new KeyFileError(`${what} ${path} is a symbolic link, which is refused; give the path of the key file itself`);
    throw new KeyFileError(`cannot read ${what} ${path}: ${code ?? (err as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new KeyFileError(`cannot read ${what} ${path}: not a regular file`);
    const me = process.getuid?.();
    if (me !== undefined && stat.uid !== me && !(rootMayOwn && stat.uid === 0)) {
      throw new KeyFileError(`${what} ${path} belongs to uid ${stat.uid}, not to you (uid ${me}); use a key file of your own, or run: chown ${me} ${path}`);
    }
    checkMode(stat.mode);
    return readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a 32-byte secret stored as URL-safe base64 (one line; `#` comments allowed). Refuses, as
 * ssh does, a file its group or others can read (a leaked key is no key), a file another user
 * owns (they could replace it, or read it), and a symbolic link.
 */
export function readSecretKeyFile(path: string, what: string): Uint8Array {
  const text = readOwnKeyFile(path, what, (mode) => {
    if ((mode & 0o077) !== 0) throw new KeyFileError(`${what} ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  });
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const key = lines.length === 1 ? fromBase64Url(lines[0] as string) : null;
  if (key === null || key.length !== X25519_KEY_BYTES) throw new KeyFileError(`${what} ${path} does not hold one 32-byte URL-safe base64 key`);
  return key;
}

/** Refuses a file of trusted keys that its group or others can write: whoever can write it can make us trust their key (ssh's StrictModes rule). */
export function refuseWritableByOthers(mode: number, path: string, what: string): void {
  if ((mode & 0o022) !== 0) {
    throw new KeyFileError(`${what} ${path} is writable by others (mode ${(mode & 0o777).toString(8)}); run: chmod go-w ${path}`);
  }
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
