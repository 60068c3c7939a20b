import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { toBase64Url } from '../../lib/encoding.js';
import { readAuthorizedKeys } from '../../lib/trust/authorized-keys.js';
import { fingerprint, loadIdentity, loadOrCreateIdentity } from '../../lib/trust/identity.js';
import { KeyFileError, readSecretKeyFile, writeSecretKeyFile } from '../../lib/trust/key-file.js';
import { HostKeyMismatchError, knownHostName, KnownHosts } from '../../lib/trust/known-hosts.js';
import { hex } from '../helpers/fixtures.js';

const mode = (path: string): number => statSync(path).mode & 0o777;

/** A uid that is not the test's own (the tests run as root, who may give a file away). */
const OTHER_UID = 4242;

function expectThrows(fn: () => unknown, type: new (...args: never[]) => Error, ...fragments: string[]): Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an error').to.be.instanceOf(type);
  const err = caught as Error;
  for (const f of fragments) expect(err.message).to.include(f);
  return err;
}

describe('trust files', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bittrrt-trust-test-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('writeSecretKeyFile / readSecretKeyFile', () => {
    it('creates a mode 0600 file in a new 0700 directory', () => {
      const keyDir = join(dir, 'nested', 'keys');
      const path = join(keyDir, 'server.key');
      writeSecretKeyFile(path, randomBytes(32), 'test key');
      expect(existsSync(path)).to.equal(true);
      expect(mode(path).toString(8)).to.equal('600');
      expect(mode(keyDir).toString(8)).to.equal('700');
      expect(mode(join(dir, 'nested')).toString(8)).to.equal('700');
    });

    it('writes the comment as a # line and the key as URL-safe base64', () => {
      const path = join(dir, 'k');
      const secret = randomBytes(32);
      writeSecretKeyFile(path, secret, 'hello there');
      expect(readFileSync(path, 'utf8')).to.equal(`# hello there\n${toBase64Url(secret)}\n`);
    });

    it('refuses to overwrite an existing file (KeyFileError) and leaves it unchanged', () => {
      const path = join(dir, 'k');
      const first = randomBytes(32);
      writeSecretKeyFile(path, first, 'first');
      expectThrows(() => writeSecretKeyFile(path, randomBytes(32), 'second'), KeyFileError, path, 'already exists');
      expect(hex(readSecretKeyFile(path, 'key'))).to.equal(hex(first));
    });

    it('refuses to overwrite a file it did not write either', () => {
      const path = join(dir, 'other');
      writeFileSync(path, 'precious', { mode: 0o600 });
      expectThrows(() => writeSecretKeyFile(path, randomBytes(32), 'x'), KeyFileError);
      expect(readFileSync(path, 'utf8')).to.equal('precious');
    });

    it('round trips', () => {
      for (let i = 0; i < 10; i++) {
        const path = join(dir, `k${i}`);
        const secret = randomBytes(32);
        writeSecretKeyFile(path, secret, `key ${i}`);
        const back = readSecretKeyFile(path, 'key');
        expect(back.length).to.equal(32);
        expect(hex(back)).to.equal(hex(secret));
      }
    });

    it('ignores # comment lines, blank lines, surrounding whitespace and CRLF', () => {
      const path = join(dir, 'k');
      const secret = randomBytes(32);
      writeFileSync(path, `# one\n\n   # two\r\n  ${toBase64Url(secret)}  \r\n\n# three\n`, { mode: 0o600 });
      chmodSync(path, 0o600);
      expect(hex(readSecretKeyFile(path, 'key'))).to.equal(hex(secret));
    });

    for (const bad of [0o644, 0o640, 0o604, 0o660, 0o606, 0o601, 0o610]) {
      it(`rejects a file with mode ${bad.toString(8)} with a "chmod 600" hint`, () => {
        const path = join(dir, 'k');
        writeSecretKeyFile(path, randomBytes(32), 'x');
        chmodSync(path, bad);
        const err = expectThrows(() => readSecretKeyFile(path, 'network key'), KeyFileError, 'chmod 600', path);
        expect((err as KeyFileError).code).to.equal('ERR_KEY_FILE');
      });
    }

    it('accepts mode 0400 (owner read only)', () => {
      const path = join(dir, 'k');
      const secret = randomBytes(32);
      writeSecretKeyFile(path, secret, 'x');
      chmodSync(path, 0o400);
      expect(hex(readSecretKeyFile(path, 'key'))).to.equal(hex(secret));
    });

    const malformed: Array<[string, string]> = [
      ['empty', ''],
      ['only comments', '# nothing here\n# or here\n'],
      ['short key', `${toBase64Url(randomBytes(31))}\n`],
      ['long key', `${toBase64Url(randomBytes(33))}\n`],
      ['two keys', `${toBase64Url(randomBytes(32))}\n${toBase64Url(randomBytes(32))}\n`],
      ['unpadded base64', `${randomBytes(32).toString('base64url')}\n`],
      ['standard alphabet', `${Buffer.alloc(32, 0xfb).toString('base64')}\n`],
      ['hex', `${randomBytes(32).toString('hex')}\n`],
      ['trailing junk', `${toBase64Url(randomBytes(32))} junk\n`],
    ];
    for (const [name, content] of malformed) {
      it(`rejects malformed content (${name}) with KeyFileError`, () => {
        const path = join(dir, 'k');
        writeFileSync(path, content, { mode: 0o600 });
        chmodSync(path, 0o600);
        expectThrows(() => readSecretKeyFile(path, 'identity'), KeyFileError, path);
      });
    }

    it('refuses a key file owned by another user, naming the owner and the fix', () => {
      const path = join(dir, 'k');
      const secret = randomBytes(32);
      writeSecretKeyFile(path, secret, 'x');
      const me = process.getuid!();
      const other = me === OTHER_UID ? OTHER_UID + 1 : OTHER_UID;
      chownSync(path, other, other);
      const err = expectThrows(() => readSecretKeyFile(path, 'network key'), KeyFileError,
        `network key ${path} belongs to uid ${other}, not to you (uid ${me})`, `chown ${me} ${path}`);
      expect(err.message).to.not.include('\n');
      expectThrows(() => loadIdentity(path, 'server identity'), KeyFileError, `belongs to uid ${other}`);
      // the same file, given back, is read: the owner was the only problem
      chownSync(path, me, me);
      expect(hex(readSecretKeyFile(path, 'network key'))).to.equal(hex(secret));
    });

    it('refuses a key file reached through a symbolic link, even a link to a good key', () => {
      const real = join(dir, 'real.key');
      const secret = randomBytes(32);
      writeSecretKeyFile(real, secret, 'x');
      const link = join(dir, 'link.key');
      symlinkSync(real, link);
      expectThrows(() => readSecretKeyFile(link, 'identity'), KeyFileError, `identity ${link} is a symbolic link`, 'path of the key file itself');
      expectThrows(() => loadOrCreateIdentity(link, 'server identity'), KeyFileError, 'symbolic link');
      // a dangling link is neither read nor written through
      const dangling = join(dir, 'dangling.key');
      symlinkSync(join(dir, 'nowhere.key'), dangling);
      expectThrows(() => loadOrCreateIdentity(dangling, 'server identity'), KeyFileError, 'already exists');
      expect(existsSync(join(dir, 'nowhere.key'))).to.equal(false);
      expect(hex(readSecretKeyFile(real, 'identity'))).to.equal(hex(secret));
    });

    it('refuses a directory or a FIFO in the key\'s place without blocking', () => {
      const fifo = join(dir, 'fifo.key');
      execFileSync('mkfifo', ['-m', '600', fifo]);
      expectThrows(() => readSecretKeyFile(fifo, 'identity'), KeyFileError, 'not a regular file');
      mkdirSync(join(dir, 'sub'), { mode: 0o700 });
      expectThrows(() => readSecretKeyFile(join(dir, 'sub'), 'identity'), KeyFileError, 'not a regular file');
    });

    it('rejects a missing file with KeyFileError naming it', () => {
      const path = join(dir, 'does-not-exist.key');
      expectThrows(() => readSecretKeyFile(path, 'identity'), KeyFileError, path, 'ENOENT');
    });
  });

  describe('identity', () => {
    it('loadOrCreateIdentity creates the key once, then loads the same one', () => {
      const path = join(dir, 'id', 'server.key');
      const first = loadOrCreateIdentity(path, 'server identity');
      expect(first.created).to.equal(true);
      expect(mode(path).toString(8)).to.equal('600');
      const text = readFileSync(path, 'utf8');
      expect(text).to.include(toBase64Url(first.identity.publicKey));
      const second = loadOrCreateIdentity(path, 'server identity');
      expect(second.created).to.equal(false);
      expect(hex(second.identity.publicKey)).to.equal(hex(first.identity.publicKey));
      expect(readFileSync(path, 'utf8')).to.equal(text);
      expect(hex(loadIdentity(path, 'server identity').publicKey)).to.equal(hex(first.identity.publicKey));
      // and the loaded identity really holds the secret: both agree with a third party
      const peer = new CommEncryptor();
      expect(hex(second.identity.agree(peer.publicKey))).to.equal(hex(peer.agree(first.identity.publicKey)));
    });

    it('two identities created in different files differ', () => {
      const a = loadOrCreateIdentity(join(dir, 'a.key'), 'x').identity;
      const b = loadOrCreateIdentity(join(dir, 'b.key'), 'x').identity;
      expect(hex(a.publicKey)).to.not.equal(hex(b.publicKey));
    });

    it('loadOrCreateIdentity refuses a group-readable existing identity', () => {
      const path = join(dir, 'server.key');
      loadOrCreateIdentity(path, 'server identity');
      chmodSync(path, 0o644);
      expectThrows(() => loadOrCreateIdentity(path, 'server identity'), KeyFileError, 'chmod 600');
    });

    it('fingerprint is stable, starts with SHA256:, and differs between keys', () => {
      const key = randomBytes(32);
      const f = fingerprint(key);
      expect(f).to.match(/^SHA256:[A-Za-z0-9+/]{22}$/);
      expect(fingerprint(Buffer.from(key))).to.equal(f);
      expect(fingerprint(new Uint8Array(key))).to.equal(f);
      const seen = new Set<string>([f]);
      for (let i = 0; i < 50; i++) {
        const other = fingerprint(randomBytes(32));
        expect(other.startsWith('SHA256:')).to.equal(true);
        seen.add(other);
      }
      expect(seen.size).to.equal(51);
      const flipped = Buffer.from(key);
      flipped[0] = (flipped[0] as number) ^ 1;
      expect(fingerprint(flipped)).to.not.equal(f);
    });
  });

  describe('KnownHosts', () => {
    it('a missing file means every host is new', () => {
      const hosts = new KnownHosts(join(dir, 'no', 'known_hosts'));
      expect(hosts.check('example.org:6711', randomBytes(32))).to.deep.equal({ status: 'new' });
      expect(hosts.find('example.org:6711')).to.equal(undefined);
    });

    it('record then check: known; a different key: changed at line 1', () => {
      const path = join(dir, 'sub', 'known_hosts');
      const hosts = new KnownHosts(path);
      const key = randomBytes(32);
      hosts.record('10.0.0.1:6711', key);
      expect(existsSync(path)).to.equal(true);
      expect(mode(path).toString(8)).to.equal('600');
      expect(hosts.check('10.0.0.1:6711', key)).to.deep.equal({ status: 'known' });
      expect(hosts.check('10.0.0.1:6711', Buffer.from(key))).to.deep.equal({ status: 'known' });
      expect(hosts.check('10.0.0.1:6711', randomBytes(32))).to.deep.equal({ status: 'changed', line: 1 });
      // the same address on another port is another host
      expect(hosts.check('10.0.0.1:6712', key)).to.deep.equal({ status: 'new' });
      expect(hosts.check('10.0.0.1', key)).to.deep.equal({ status: 'new' });
    });

    it('with several hosts, reports the right 1-based line of the changed one', () => {
      const path = join(dir, 'known_hosts');
      const hosts = new KnownHosts(path);
      const names = ['a.example:1', 'b.example:2', 'c.example:3', '[::1]:6711', 'e.example:5'];
      const keys = names.map(() => randomBytes(32));
      names.forEach((name, i) => hosts.record(name, keys[i]!));
      expect(readFileSync(path, 'utf8').split('\n')).to.have.length(names.length + 1);
      names.forEach((name, i) => {
        expect(hosts.check(name, keys[i]!), name).to.deep.equal({ status: 'known' });
        expect(hosts.check(name, keys[(i + 1) % names.length]!), name).to.deep.equal({ status: 'changed', line: i + 1 });
        const found = hosts.find(name);
        expect(found?.line, name).to.equal(i + 1);
        expect(hex(found!.key!), name).to.equal(hex(keys[i]!));
      });
      expect(hosts.find('z.example:9')).to.equal(undefined);
    });

    it('counts comment and blank lines in the line number', () => {
      const path = join(dir, 'known_hosts');
      const key = randomBytes(32);
      writeFileSync(path, `# my hosts\n\nother:1 ${toBase64Url(randomBytes(32))}\n\nhost:2 ${toBase64Url(key)}\n`);
      const hosts = new KnownHosts(path);
      expect(hosts.check('host:2', key)).to.deep.equal({ status: 'known' });
      expect(hosts.check('host:2', randomBytes(32))).to.deep.equal({ status: 'changed', line: 5 });
      expect(hosts.find('host:2')?.line).to.equal(5);
    });

    it('a recorded line with a malformed key counts as changed, not known', () => {
      const path = join(dir, 'known_hosts');
      writeFileSync(path, 'host:1 not-a-key\n');
      const hosts = new KnownHosts(path);
      const found = hosts.find('host:1');
      expect(found).to.deep.equal({ key: null, line: 1 });
      expect(hosts.check('host:1', randomBytes(32))).to.deep.equal({ status: 'changed', line: 1 });
    });

    it('one server is one entry under any spelling of its name: case, a trailing dot, IPv6 text', () => {
      const path = join(dir, 'known_hosts');
      const hosts = new KnownHosts(path);
      const key = randomBytes(32);
      hosts.record('localhost:6711', key);
      for (const spelling of ['localhost:6711', 'LOCALHOST:6711', 'LocalHost.:6711', 'localhost.:6711']) {
        expect(hosts.check(spelling, key), spelling).to.deep.equal({ status: 'known' });
        expect(hosts.check(spelling, randomBytes(32)), spelling).to.deep.equal({ status: 'changed', line: 1 });
      }
      hosts.record('[0:0:0:0:0:0:0:1]:6711', key);
      expect(hosts.check('[::1]:6711', randomBytes(32))).to.deep.equal({ status: 'changed', line: 2 });
      hosts.record('EXAMPLE.org.:7000', key);
      expect(readFileSync(path, 'utf8')).to.equal(['localhost:6711', '[::1]:6711', 'example.org:7000'].map((h) => `${h} ${toBase64Url(key)}\n`).join(''));
      // a hand-written entry in any case is found too
      writeFileSync(path, `Mixed.Example:1 ${toBase64Url(key)}\n`);
      expect(hosts.check('mixed.example.:1', randomBytes(32))).to.deep.equal({ status: 'changed', line: 1 });
      // another port, or the address a name resolves to, is another entry (see knownHostName)
      expect(hosts.check('mixed.example:2', key)).to.deep.equal({ status: 'new' });
      expect(knownHostName('LOCALHOST:6711')).to.equal('localhost:6711');
      expect(knownHostName('127.0.0.1:6711')).to.not.equal(knownHostName('localhost:6711'));
    });

    it('records a new host on a line of its own after a hand edit that left no final newline', () => {
      const path = join(dir, 'known_hosts');
      const old = randomBytes(32);
      const fresh = randomBytes(32);
      writeFileSync(path, `# edited by hand\nold.example:1 ${toBase64Url(old)}`, { mode: 0o600 });
      const hosts = new KnownHosts(path);
      hosts.record('new.example:2', fresh);
      expect(readFileSync(path, 'utf8')).to.equal(`# edited by hand\nold.example:1 ${toBase64Url(old)}\nnew.example:2 ${toBase64Url(fresh)}\n`);
      expect(hosts.check('old.example:1', old), 'the old host still matches').to.deep.equal({ status: 'known' });
      expect(hosts.check('new.example:2', fresh), 'the new host is pinned').to.deep.equal({ status: 'known' });
      expect(hosts.check('new.example:2', old)).to.deep.equal({ status: 'changed', line: 3 });
      // an empty file gets no blank first line
      const empty = join(dir, 'empty_known_hosts');
      writeFileSync(empty, '', { mode: 0o600 });
      new KnownHosts(empty).record('a:1', fresh);
      expect(readFileSync(empty, 'utf8')).to.equal(`a:1 ${toBase64Url(fresh)}\n`);
    });

    it('refuses a known_hosts file that its group or others can write, saying how to fix it', () => {
      const path = join(dir, 'known_hosts');
      const hosts = new KnownHosts(path);
      const key = randomBytes(32);
      hosts.record('host:1', key);
      for (const bad of [0o666, 0o620, 0o602]) {
        chmodSync(path, bad);
        const fix = `known hosts ${path} is writable by others (mode ${bad.toString(8)}); run: chmod go-w ${path}`;
        expectThrows(() => hosts.check('host:1', key), KeyFileError, fix);
        expectThrows(() => hosts.find('other:2'), KeyFileError, fix);
        expectThrows(() => hosts.record('other:2', randomBytes(32)), KeyFileError, fix);
      }
      expect(readFileSync(path, 'utf8').split('\n'), 'nothing was added while refused').to.have.length(2);
      chmodSync(path, 0o644);
      expect(hosts.check('host:1', key)).to.deep.equal({ status: 'known' });
    });

    it('HostKeyMismatchError names the host, the file and the line and says to delete it', () => {
      const path = join(dir, 'known_hosts');
      const err = new HostKeyMismatchError('server.example:6711', path, 3);
      expect(err).to.be.instanceOf(Error);
      expect(err.code).to.equal('ERR_HOST_KEY_MISMATCH');
      expect(err.name).to.equal('HostKeyMismatchError');
      expect(err.host).to.equal('server.example:6711');
      expect(err.path).to.equal(path);
      expect(err.line).to.equal(3);
      expect(err.message).to.include('server.example:6711');
      expect(err.message).to.include(`${path}:3`);
      expect(err.message).to.include(`delete line 3 of ${path}`);
      expect(err.message).to.include('CHANGED');
    });
  });

  describe('readAuthorizedKeys', () => {
    it('reads keys, skipping comments and blank lines, allowing a trailing comment after a key', () => {
      const path = join(dir, 'authorized_keys');
      const keys = [randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32)];
      writeFileSync(path, [
        '# authorized clients',
        '',
        toBase64Url(keys[0]!),
        `${toBase64Url(keys[1]!)} alice@laptop`,
        `   ${toBase64Url(keys[2]!)}\tbob # phone  `,
        '   ',
        '   # indented comment',
        `${toBase64Url(keys[3]!)}\r`,
        '',
      ].join('\n'));
      const read = readAuthorizedKeys(path);
      expect(read.size).to.equal(4);
      for (const k of keys) expect(read.has(toBase64Url(k)), toBase64Url(k)).to.equal(true);
      expect(read.has(toBase64Url(randomBytes(32)))).to.equal(false);
    });

    it('an empty file gives no keys', () => {
      const path = join(dir, 'authorized_keys');
      writeFileSync(path, '');
      expect(readAuthorizedKeys(path).size).to.equal(0);
    });

    it('duplicates are collapsed', () => {
      const path = join(dir, 'authorized_keys');
      const k = toBase64Url(randomBytes(32));
      writeFileSync(path, `${k}\n${k} again\n`);
      expect([...readAuthorizedKeys(path)]).to.deep.equal([k]);
    });

    const badLines = ['not a key', toBase64Url(randomBytes(31)), toBase64Url(randomBytes(33)), randomBytes(32).toString('base64url'),
      randomBytes(32).toString('hex')];
    for (const bad of badLines) {
      it(`a bad line (${bad.slice(0, 12)}...) throws KeyFileError naming path:line`, () => {
        const path = join(dir, 'authorized_keys');
        writeFileSync(path, `# header\n${toBase64Url(randomBytes(32))}\n\n${bad}\n${toBase64Url(randomBytes(32))}\n`);
        expectThrows(() => readAuthorizedKeys(path), KeyFileError, `${path}:4`);
      });
    }

    it('a missing file throws KeyFileError naming it', () => {
      const path = join(dir, 'missing');
      expectThrows(() => readAuthorizedKeys(path), KeyFileError, path);
    });

    it('refuses a list owned by another user or reached through a symbolic link; one owned by root is read (as ssh)', () => {
      const path = join(dir, 'authorized_keys');
      const key = toBase64Url(randomBytes(32));
      writeFileSync(path, `${key}\n`, { mode: 0o644 });
      const me = process.getuid!();
      const other = me === OTHER_UID ? OTHER_UID + 1 : OTHER_UID;
      chownSync(path, other, other);
      expectThrows(() => readAuthorizedKeys(path), KeyFileError, `authorized keys ${path} belongs to uid ${other}`, `chown ${me} ${path}`);
      chownSync(path, 0, 0);
      expect([...readAuthorizedKeys(path)]).to.deep.equal([key]);
      chownSync(path, me, me);
      const link = join(dir, 'authorized_keys.link');
      symlinkSync(path, link);
      expectThrows(() => readAuthorizedKeys(link), KeyFileError, `authorized keys ${link} is a symbolic link`);
    });
  });
});
