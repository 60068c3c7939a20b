import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { X25519KeyPair } from '../../lib/crypto/x25519-key-pair.js';
import { LowOrderKeyError, NoSharedKeyError } from '../../lib/errors.js';
import { loadIdentity, loadOrCreateIdentity } from '../../lib/trust/identity.js';

describe('X25519KeyPair: identities and ephemeral keys', () => {
  it('from one secret key has the public key a CommEncryptor has, and agrees with a peer both ways', () => {
    const secret = new Uint8Array(32).fill(7);
    const pair = X25519KeyPair.fromSecretKey(secret);
    expect(Buffer.from(pair.publicKey).equals(Buffer.from(CommEncryptor.fromSecretKey(secret).publicKey))).to.equal(true);
    const peer = new X25519KeyPair();
    expect(Buffer.from(pair.agree(peer.publicKey)).equals(Buffer.from(peer.agree(pair.publicKey)))).to.equal(true);
    const mine = pair.deriveSessionKeys(peer.publicKey, 'initiator');
    const theirs = peer.deriveSessionKeys(pair.publicKey, 'responder');
    expect(Buffer.from(mine.send).equals(Buffer.from(theirs.receive))).to.equal(true);
    expect(Buffer.from(mine.send).equals(Buffer.from(mine.receive))).to.equal(false);
  });

  it('holds no channel: an identity has no encrypt or decrypt', () => {
    const pair = new X25519KeyPair();
    expect(pair).not.to.be.instanceOf(CommEncryptor);
    expect('encrypt' in pair).to.equal(false);
    expect(new CommEncryptor()).to.be.instanceOf(X25519KeyPair);
  });

  it('refuses a low-order peer key, and any use after destroy', () => {
    const pair = new X25519KeyPair();
    expect(() => pair.agree(new Uint8Array(32))).to.throw(LowOrderKeyError);
    pair.destroy();
    expect(() => pair.agree(new X25519KeyPair().publicKey)).to.throw(NoSharedKeyError, /destroyed/);
    expect(() => pair.exportSecretKey()).to.throw(NoSharedKeyError);
  });

  it('is what an identity file loads as, the same key when read back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bittrrt-identity-'));
    try {
      const path = join(dir, 'server.key');
      const { identity, created } = loadOrCreateIdentity(path, 'server key');
      expect(created).to.equal(true);
      expect(identity).to.be.instanceOf(X25519KeyPair);
      expect(identity).not.to.be.instanceOf(CommEncryptor);
      const again = loadIdentity(path, 'server key');
      expect(Buffer.from(again.publicKey).equals(Buffer.from(identity.publicKey))).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
