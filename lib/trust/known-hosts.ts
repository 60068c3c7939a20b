import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { BittrrtError } from '../errors.js';
import { bittrrtDir, fingerprint } from './identity.js';
import { KeyFileError, refuseWritableByOthers } from './key-file.js';
import { ACCEPT, type ServerVerifier } from './server-verifier.js';

export const defaultKnownHostsPath = (): string => join(bittrrtDir(), 'known_hosts');

/** The server's identity differs from the one recorded for it: possibly a man in the middle. */
export class HostKeyMismatchError extends BittrrtError {
  /** `presented`: the key the server showed this time, when known. */
  constructor(readonly host: string, readonly path: string, readonly line: number, readonly presented?: Uint8Array) {
    super('ERR_HOST_KEY_MISMATCH', [
      `WARNING: the identity of ${host} has CHANGED since it was recorded in ${path}:${line}.`,
      ...(presented ? [`The server now presents ${fingerprint(presented)}.`] : []),
      'Someone may be intercepting this connection (a man-in-the-middle attack), or the server key was replaced.',
      `If you know the server key was replaced, delete line ${line} of ${path} and connect again.`,
    ].join(' '));
  }
}

/**
 * The form under which a `host:port` is recorded and looked up: DNS names are case-insensitive
 * and `example.org.` is `example.org`, so a name is lower-cased and loses a trailing dot; an IPv6
 * address takes its canonical text (`[0:0::1]` is `[::1]`). Otherwise one server could be a
 * fresh first contact under each spelling. A name and the addresses it resolves to stay separate
 * entries, as with ssh's CheckHostIP off (its default): a name may resolve to several addresses
 * and an address serve several names, so a shared entry would raise false alarms.
 */
export function knownHostName(label: string): string {
  const split = /^(.*)(:\d+)$/.exec(label);
  const host = split ? split[1] as string : label;
  const port = split ? split[2] as string : '';
  if (host.startsWith('[')) {
    try {
      return `${new URL(`http://${host}/`).hostname}${port}`;
    } catch {
      // not an address URL can read (a zone index, say): case is all we can fold
    }
  }
  return `${host.toLowerCase().replace(/\.$/, '')}${port}`;
}

export type HostKeyCheck = { status: 'known' } | { status: 'new' } | { status: 'changed'; line: number };

/**
 * Trust on first use, as ssh's known_hosts: one `host:port base64key` line per server. The
 * first contact records the key; a later different key is refused.
 */
export class KnownHosts {
  constructor(readonly path: string) {}

  /** The key recorded for `host` (any spelling of it, see knownHostName) and its line number, if any. */
  find(host: string): { key: Buffer | null; line: number } | undefined {
    const text = this.read();
    if (text === undefined) return undefined;
    const wanted = knownHostName(host);
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const [name, key] = (lines[i] as string).trim().split(/\s+/);
      if (name === undefined || key === undefined || knownHostName(name) !== wanted) continue;
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

  /** Appends `host`'s entry, on a line of its own even after a hand edit that left no final newline. */
  record(host: string, publicKey: Uint8Array): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const fd = openSync(this.path, 'a+', 0o600);
    try {
      const { mode, size } = fstatSync(fd);
      refuseWritableByOthers(mode, this.path, 'known hosts');
      const last = Buffer.alloc(1);
      const glued = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
      writeSync(fd, `${glued ? '\n' : ''}${knownHostName(host)} ${toBase64Url(publicKey)}\n`);
    } finally {
      closeSync(fd);
    }
  }

  /** Every entry, in file order (comments and malformed lines left out). */
  list(): Array<{ host: string; key: string; line: number }> {
    const entries: Array<{ host: string; key: string; line: number }> = [];
    const lines = (this.read() ?? '').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const [host, key] = (lines[i] as string).trim().split(/\s+/);
      if (host === undefined || key === undefined || host.startsWith('#')) continue;
      entries.push({ host, key, line: i + 1 });
    }
    return entries;
  }

  /**
   * Forgets every entry for `host` (any spelling of it); returns how many there were. The file is
   * rewritten whole under a temporary name and renamed over, so a crash leaves the old or the new.
   */
  remove(host: string): number {
    const text = this.read();
    if (text === undefined) return 0;
    const wanted = knownHostName(host);
    const lines = text.split('\n');
    const kept = lines.filter((line) => {
      const [name, key] = line.trim().split(/\s+/);
      return name === undefined || key === undefined || knownHostName(name) !== wanted;
    });
    const removed = lines.length - kept.length;
    if (removed === 0) return 0;
    const temporary = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    writeFileSync(temporary, kept.join('\n'), { mode: 0o600, flag: 'wx' });
    renameSync(temporary, this.path);
    return removed;
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

/**
 * Trust on first use as a ServerVerifier for connect(): a host not in `knownHosts` is recorded
 * (and `onNewHost` told), a recorded one must show the same key, and a changed key fails the
 * connection with HostKeyMismatchError. Only a recorded host must prove an identity.
 */
export function trustOnFirstUse(knownHosts: KnownHosts, onNewHost?: (host: string, serverKey: Uint8Array) => void): ServerVerifier {
  return {
    expectsIdentity: (host) => knownHosts.find(host) !== undefined,
    verify(host, serverKey) {
      const known = knownHosts.check(host, serverKey);
      if (known.status === 'changed') return { kind: 'fail', error: new HostKeyMismatchError(host, knownHosts.path, known.line, serverKey) };
      if (known.status === 'new') {
        knownHosts.record(host, serverKey);
        onNewHost?.(host, serverKey);
      }
      return ACCEPT;
    },
  };
}
