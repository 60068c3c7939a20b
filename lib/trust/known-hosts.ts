import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { BittrrtError } from '../errors.js';
import { bittrrtDir } from './identity.js';

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
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
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
    appendFileSync(this.path, `${host} ${toBase64Url(publicKey)}\n`, { mode: 0o600 });
  }
}
