import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { NET_OBS_KEY } from '../../lib/constants.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { Fernet } from '../../lib/crypto/fernet.js';
import { toBase64Url } from '../../lib/encoding.js';
import { InvalidTokenError } from '../../lib/errors.js';
import { loadPythonFixture, unhex } from '../helpers/fixtures.js';

const fixture = loadPythonFixture();
const JSON_TEXT = '{"cmd": "connect", "pubkey": "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}';

/** The counter a salted token carries, read straight from the Fernet plaintext. */
function saltOf(token: string): bigint {
  return new Fernet(NET_OBS_KEY).decrypt(token).readBigUInt64BE(0);
}

describe('DoCrypt', () => {
  it('the fixture net_obs_key equals NET_OBS_KEY', () => {
    expect(fixture.net_obs_key).to.equal(NET_OBS_KEY);
  });

  it('the fixture has seed and salted vectors', () => {
    expect(fixture.docrypt_seed.length).to.be.greaterThan(0);
    expect(fixture.docrypt_salted.length).to.be.greaterThan(0);
  });

  describe('python seed-form vectors', () => {
    fixture.docrypt_seed.forEach((v, i) => {
      it(`vector ${i}: fdecrypt gives form "seed" and the exact JSON`, () => {
        const { plaintext, form } = new DoCrypt().fdecrypt(v.token);
        expect(form).to.equal('seed');
        expect(plaintext.toString('utf8')).to.equal(v.json);
      });

      it(`vector ${i}: fdecrypt accepts the token as ASCII bytes`, () => {
        const { plaintext, form } = new DoCrypt().fdecrypt(Buffer.from(v.token, 'ascii'));
        expect(form).to.equal('seed');
        expect(plaintext.toString('utf8')).to.equal(v.json);
      });

      it(`vector ${i}: fencrypt with { now, iv } reproduces the token exactly`, () => {
        const d = new DoCrypt();
        expect(d.fencrypt(v.json, { now: v.time, iv: unhex(v.iv) })).to.equal(v.token);
        expect(d.fencrypt(Buffer.from(v.json, 'utf8'), { now: v.time, iv: unhex(v.iv) })).to.equal(v.token);
        expect(d.fencrypt(v.json, { form: 'seed', now: v.time, iv: unhex(v.iv) })).to.equal(v.token);
      });
    });
  });

  describe('python salted-form vectors', () => {
    it('include a salt above 2^32', () => {
      expect(fixture.docrypt_salted.some((v) => BigInt(v.salt) > 0xffffffffn)).to.equal(true);
    });

    fixture.docrypt_salted.forEach((v, i) => {
      it(`vector ${i} (salt ${v.salt}): fdecrypt gives form "salted" and the exact JSON`, () => {
        const { plaintext, form } = new DoCrypt().fdecrypt(v.token);
        expect(form).to.equal('salted');
        expect(plaintext.toString('utf8')).to.equal(v.json);
      });

      it(`vector ${i} (salt ${v.salt}): the token carries the salt as 8 bytes big-endian`, () => {
        expect(saltOf(v.token)).to.equal(BigInt(v.salt));
      });

      it(`vector ${i} (salt ${v.salt}): fencrypt with { form: "salted", salt, now, iv } reproduces the token exactly`, () => {
        const token = new DoCrypt().fencrypt(v.json, { form: 'salted', salt: BigInt(v.salt), now: v.time, iv: unhex(v.iv) });
        expect(token).to.equal(v.token);
      });
    });
  });

  describe('salted counter', () => {
    it('a DoCrypt instance counts 0, 1, 2', () => {
      const d = new DoCrypt();
      const salts = [0, 1, 2].map(() => saltOf(d.fencrypt(JSON_TEXT, { form: 'salted' })));
      expect(salts).to.deep.equal([0n, 1n, 2n]);
    });

    it('each instance has its own counter', () => {
      const first = new DoCrypt();
      first.fencrypt(JSON_TEXT, { form: 'salted' });
      first.fencrypt(JSON_TEXT, { form: 'salted' });
      const second = new DoCrypt();
      expect(saltOf(second.fencrypt(JSON_TEXT, { form: 'salted' }))).to.equal(0n);
      expect(saltOf(first.fencrypt(JSON_TEXT, { form: 'salted' }))).to.equal(2n);
    });

    it('salted tokens from the counter decrypt to the text', () => {
      const d = new DoCrypt();
      for (let i = 0; i < 3; i++) {
        const { plaintext, form } = new DoCrypt().fdecrypt(d.fencrypt(JSON_TEXT, { form: 'salted' }));
        expect(form).to.equal('salted');
        expect(plaintext.toString('utf8')).to.equal(JSON_TEXT);
      }
    });

    it('salts 128..255 (bytes >= 0x80) work', () => {
      const d = new DoCrypt();
      for (let salt = 128; salt <= 255; salt++) {
        const token = d.fencrypt(JSON_TEXT, { form: 'salted', salt: BigInt(salt) });
        expect(saltOf(token), `salt ${salt}`).to.equal(BigInt(salt));
        const { plaintext, form } = d.fdecrypt(token);
        expect(form, `salt ${salt}`).to.equal('salted');
        expect(plaintext.toString('utf8'), `salt ${salt}`).to.equal(JSON_TEXT);
      }
    });

    it('large salts (top byte >= 0x80, above 2^32) work', () => {
      const d = new DoCrypt();
      for (const salt of [0x80n << 56n, (1n << 64n) - 1n, 1099511627905n, 0xdeadbeefcafebaben]) {
        const token = d.fencrypt(JSON_TEXT, { form: 'salted', salt });
        expect(saltOf(token), `salt ${salt}`).to.equal(salt);
        const { plaintext, form } = d.fdecrypt(token);
        expect(form, `salt ${salt}`).to.equal('salted');
        expect(plaintext.toString('utf8'), `salt ${salt}`).to.equal(JSON_TEXT);
      }
    });

    it('a salted token whose plaintext is shorter than the counter is rejected', () => {
      const token = new Fernet(NET_OBS_KEY).encrypt(Buffer.from('abc'));
      expect(() => new DoCrypt().fdecrypt(token)).to.throw(InvalidTokenError);
    });
  });

  describe('keys and expiry', () => {
    it('a token made with another key throws InvalidTokenError', () => {
      const otherKey = toBase64Url(randomBytes(32));
      const seed = new DoCrypt({ key: otherKey }).fencrypt(JSON_TEXT);
      const salted = new DoCrypt({ key: otherKey }).fencrypt(JSON_TEXT, { form: 'salted' });
      expect(() => new DoCrypt().fdecrypt(seed)).to.throw(InvalidTokenError);
      expect(() => new DoCrypt().fdecrypt(salted)).to.throw(InvalidTokenError);
      // and the other key itself opens them
      expect(new DoCrypt({ key: otherKey }).fdecrypt(seed).plaintext.toString()).to.equal(JSON_TEXT);
    });

    it('a python vector fails under another key', () => {
      const v = fixture.docrypt_seed[0]!;
      expect(() => new DoCrypt({ key: randomBytes(32) }).fdecrypt(v.token)).to.throw(InvalidTokenError);
    });

    it('the ttlSeconds option rejects an old token', () => {
      const d = new DoCrypt({ ttlSeconds: 60 });
      const now = Math.floor(Date.now() / 1000);
      const old = d.fencrypt(JSON_TEXT, { now: now - 3600 });
      const fresh = d.fencrypt(JSON_TEXT);
      expect(() => d.fdecrypt(old)).to.throw(InvalidTokenError);
      expect(d.fdecrypt(fresh).plaintext.toString()).to.equal(JSON_TEXT);
      // without a TTL, as the original, the old token is fine
      expect(new DoCrypt().fdecrypt(old).plaintext.toString()).to.equal(JSON_TEXT);
    });

    it('the ttlSeconds option applies at its boundary, with an explicit now', () => {
      const v = fixture.docrypt_seed[0]!;
      const d = new DoCrypt({ ttlSeconds: 60 });
      expect(d.fdecrypt(v.token, { now: v.time + 60 }).plaintext.toString()).to.equal(v.json);
      expect(() => d.fdecrypt(v.token, { now: v.time + 61 })).to.throw(InvalidTokenError);
      const s = fixture.docrypt_salted[0]!;
      expect(() => d.fdecrypt(s.token, { now: s.time + 61 })).to.throw(InvalidTokenError);
    });
  });
});
