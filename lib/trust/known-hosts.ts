import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { BittrrtError } from '../errors.js';
import { bittrrtDir } from './identity.js';
import { KeyFileError, refuseWritableByOthers } from './key-file.js';

export const defaultKnownHostsPath = (): string => join(bittrrtDir(), 'known_hosts');

/** The server's identity differs from the one recorded for it: possibly a man in the middle. */
export class HostKeyMismatchError extends BittrrtError {
  constructor(readonly host: string, readonly path: string, readonly line: number) {
    super('ERR_HOST_KEY_MISMATCH', [
      `WARNING: the identity of ${host} has CHANGED since it was recorded in ${path}:${line}.`,
      'Someone may be intercepting this connection (a man-in-the-middle attack), or the server key was replaced.',
      `If you know the server key was replaced, delete line ${line} of ${path} and connect again.`,
    ].join(' '));
  }
}

export type HostKeyCheck = { status: 'known' } | { status: 'new' } | { status: 'changed'; line: number };

/**
 * Trust on first use, as ssh's known_hosts: one `host:port base64key` line per server. The
 * first contact records the key; a later different key is refused.
 */
export class KnownHosts {
  constructor(readonly path: string) {}

  /** The key recorded for `host` and its line number, if any. */
  find(host: string): { key: Buffer | null; line: number } | undefined {
    const text = this.read();
    if (text === undefined) return undefined;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const [name, key] = (lines[i] as string).trim().split(/\s+/);
      if (name !== host || key === undefined) continue;
      const recorded = fromBase64Url(key);
      return { key: recorded?.length === X25519_KEY_BYTES ? recorded : null, line: i + 1 };
    }
    return undefined;
  }

  check(host: string, publicKey: Uint8Array): HostKeyCheck {
    const entry = this.find(host);
    if (!entry) return { status: 'new' };
    return entry.key?.equals(publicKey) ? { status: 'known' } : { status: 'changed', line: entry.line };
  }

  record(host: string, publicKey: Uint8Array): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const fd = openSync(this.path, 'a', 0o600);
    try {
      refuseWritableByOthers(fstatSync(fd).mode, this.path, 'known hosts');
      writeSync(fd, `${host} ${toBase64Url(publicKey)}\n`);
    } finally {
      closeSync(fd);
    }
  }

  /** The file's text, or undefined if there is none yet. A file others can write is refused: they could pin their own server. */
  private read(): string | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw new KeyFileError(`cannot read known hosts ${this.path}: ${code ?? (err as Error).message}`);
    }
    try {
      refuseWritableByOthers(fstatSync(fd).mode, this.path, 'known hosts');
      return readFileSync(fd, 'utf8');
    } catch (err) {
      if (err instanceof KeyFileError) throw err;
      throw new KeyFileError(`cannot read known hosts ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    } finally {
      closeSync(fd);
    }
  }
}
