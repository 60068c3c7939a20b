import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { NET_OBS_KEY } from '../../lib/constants.js';
import { AeadKey } from '../../lib/crypto/aead-key.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { Fernet } from '../../lib/crypto/fernet.js';
import { getDefaultBackend, parseBackendPreference } from '../../lib/crypto/select.js';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';
import { fromBase64Url } from '../../lib/encoding.js';
import { DecryptError, InvalidInputError, InvalidTokenError, NoSharedKeyError } from '../../lib/errors.js';
import { SlotPool } from '../../lib/slot-pool.js';

/**
 * What the crypto tests left open, found by mutation testing (npm run mutate): the reason each
 * refusal gives (a token refused for the wrong reason hides which check ran), and wipes.
 */
describe('crypto: refusals say why, wipes and defaults', () => {
  const backend = getDefaultBackend();

  describe('AeadKey', () => {
    it('refuses a wrong key, a short output or a wrong nonce, naming the sizes', () => {
      expect(() => new AeadKey(backend, new Uint8Array(31))).to.throw(InvalidInputError, 'key must be 32 bytes, got 31');
      const key = new AeadKey(backend, randomBytes(32));
      expect(() => key.sealInto(new Uint8Array(10), new Uint8Array(5))).to.throw(InvalidInputError, 'output buffer too small: need 33 bytes, got 10');
      expect(() => key.sealInto(new Uint8Array(33), new Uint8Array(5), undefined, new Uint8Array(8))).to.throw(InvalidInputError, 'nonce must be 12 bytes, got 8');
      const sealed = new Uint8Array(33);
      key.sealInto(sealed, new Uint8Array(5));
      expect(() => key.openInto(new Uint8Array(4), sealed)).to.throw(InvalidInputError, 'output buffer too small: need 5 bytes, got 4');
    });

    it('a wiped pooled key gives its slot back for the next key', () => {
      const pool = new SlotPool<Uint8Array>(32, 2, (slab, at) => new Uint8Array(slab, at, 32));
      const first = pool.take();
      const key = new AeadKey(backend, randomBytes(32), pool);
      key.wipe();
      key.wipe();
      const next = pool.take();
      expect(next.buffer).to.equal(first.buffer);
      expect(next.byteOffset).to.equal(32);
      expect(next.every((b) => b === 0)).to.equal(true);
    });
  });

  describe('CommEncryptor', () => {
    it('refuses wrong lengths naming what and how long, and a short message as too short', () => {
      expect(() => CommEncryptor.fromSecretKey(new Uint8Array(31))).to.throw(InvalidInputError, 'secret key must be 32 bytes, got 31 bytes');
      expect(() => CommEncryptor.fromSecretKey('x'.repeat(32) as unknown as Uint8Array)).to.throw(InvalidInputError, 'got string');
      const c = new CommEncryptor();
      expect(() => c.setKey(new Uint8Array(16))).to.throw(InvalidInputError, /^key must be 32 bytes, got 16 bytes/);
      c.setKey(randomBytes(32));
      expect(() => c.decryptInto(new Uint8Array(64), new Uint8Array(10))).to.throw(DecryptError, 'message too short: 10 bytes, need at least 28');
    });

    it('exports its secret key until destroyed; a destroyed one takes no key; destroy needs no key', () => {
      const secret = randomBytes(32);
      const c = CommEncryptor.fromSecretKey(secret);
      expect(Buffer.from(c.exportSecretKey()).equals(secret)).to.equal(true);
      c.destroy();
      expect(() => c.exportSecretKey()).to.throw(NoSharedKeyError);
      expect(() => c.setKey(randomBytes(32))).to.throw(NoSharedKeyError);
      expect(() => new CommEncryptor().destroy()).to.not.throw();
    });

    it('a destroyed encryptor agrees on nothing and derives no session keys (its wiped secret would give keys anyone can compute)', () => {
      const c = new CommEncryptor();
      const peer = new CommEncryptor().publicKey;
      expect(c.agree(peer)).to.have.length(32); // positive control, before destroy()
      c.destroy();
      expect(() => c.agree(peer)).to.throw(NoSharedKeyError, /destroyed/);
      expect(() => c.deriveSessionKeys(peer, 'initiator')).to.throw(NoSharedKeyError, /destroyed/);
    });

    it('a peer public key of the wrong length is refused by name', () => {
      expect(() => new CommEncryptor().agree(new Uint8Array(31))).to.throw(InvalidInputError, /^peer public key must be 32 bytes, got 31 bytes/);
    });
  });

  describe('Fernet', () => {
    const key = randomBytes(32);
    const fernet = new Fernet(key);
    /** A token made by hand: any version byte, and a valid MAC over whatever it holds. */
    const toToken = (bytes: Buffer): string => bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const raw = (token: string): Buffer => Buffer.from(fromBase64Url(token)!);
    const aes = (plaintext: Buffer, iv: Buffer, pad: boolean): Buffer => {
      const cipher = createCipheriv('aes-128-cbc', key.subarray(16), iv);
      cipher.setAutoPadding(pad);
      return Buffer.concat([cipher.update(plaintext), cipher.final()]);
    };
    const signed = (version: number, ciphertext: Buffer, iv: Buffer): string => {
      const head = Buffer.alloc(9);
      head[0] = version;
      head.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)), 1);
      const body = Buffer.concat([head, iv, ciphertext]);
      return toToken(Buffer.concat([body, createHmac('sha256', key.subarray(0, 16)).update(body).digest()]));
    };

    it('refuses a bad key and a bad IV, saying so', () => {
      expect(() => new Fernet('short')).to.throw(InvalidInputError, 'a Fernet key is 32 bytes');
      expect(() => fernet.encrypt(Buffer.from('x'), { iv: new Uint8Array(8) })).to.throw(InvalidInputError, 'a Fernet IV is 16 bytes');
    });

    it('stamps tokens with the current time in seconds', () => {
      const before = Math.floor(Date.now() / 1000);
      const token = raw(fernet.encrypt(Buffer.from('x')));
      const stamp = Number(token.readBigUInt64BE(1));
      expect(stamp).to.be.within(before, Math.floor(Date.now() / 1000));
      expect(fernet.decrypt(fernet.encrypt(Buffer.from('x')), { ttlSeconds: 60 }).toString()).to.equal('x');
    });

    it('each malformed token is refused for its own reason', () => {
      expect(() => fernet.decrypt('!!!!')).to.throw(InvalidTokenError, 'not URL-safe base64');
      expect(() => fernet.decrypt(toToken(Buffer.alloc(40)))).to.throw(InvalidTokenError, 'token too short');
      const good = raw(fernet.encrypt(Buffer.from('hello')));
      expect(() => fernet.decrypt(toToken(Buffer.concat([good, Buffer.alloc(1)])))).to.throw(InvalidTokenError, 'not a whole number of blocks');
      const iv = randomBytes(16);
      expect(() => fernet.decrypt(signed(0x81, aes(Buffer.from('hello'), iv, true), iv))).to.throw(InvalidTokenError, 'unknown token version');
      const flipped = Buffer.from(good);
      flipped[20]! ^= 1;
      expect(() => fernet.decrypt(toToken(flipped))).to.throw(InvalidTokenError, 'bad MAC');
      // A valid MAC over a block whose padding is wrong (last byte 0).
      expect(() => fernet.decrypt(signed(0x80, aes(Buffer.alloc(16), iv, false), iv))).to.throw(InvalidTokenError, 'bad padding');
      expect(fernet.decrypt(signed(0x80, aes(Buffer.from('hello'), iv, true), iv)).toString()).to.equal('hello');
    });
  });

  describe('DoCrypt', () => {
    it('a salted token may hold nothing past its counter; a shorter one is refused as such', () => {
      const docrypt = new DoCrypt();
      expect(docrypt.fdecrypt(docrypt.fencrypt(new Uint8Array(0), { form: 'salted' }))).to.deep.include({ form: 'salted' });
      expect(docrypt.fdecrypt(docrypt.fencrypt(new Uint8Array(0), { form: 'salted' })).plaintext.length).to.equal(0);
      const short = new Fernet(NET_OBS_KEY).encrypt(Buffer.from([1, 2, 3]));
      expect(() => docrypt.fdecrypt(short)).to.throw(InvalidTokenError, 'salted token shorter than its counter');
    });
  });

  describe('backends', () => {
    it('BITTRRT_CRYPTO names what it may be; the default backend is chosen once', () => {
      expect(() => parseBackendPreference('fast')).to.throw(/must be "native", "js" or "auto", not "fast"/);
      expect(getDefaultBackend()).to.be.an('object').that.equals(getDefaultBackend());
    });

    it('the native backend\'s random bytes are random', () => {
      const native = loadSodiumBackend();
      const a = new Uint8Array(32);
      const b = new Uint8Array(32);
      native.randomFill(a);
      native.randomFill(b);
      expect(a.some((x) => x !== 0)).to.equal(true);
      expect(Buffer.from(a).equals(Buffer.from(b))).to.equal(false);
    });
  });
});
