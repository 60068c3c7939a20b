import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import fc from 'fast-check';
import { Fernet, TokenAgeError } from '../../lib/crypto/fernet.js';
import { fromBase64Url, toBase64Url } from '../../lib/encoding.js';
import { InvalidInputError, InvalidTokenError } from '../../lib/errors.js';
import {
  epochSeconds, type FernetGenerateVector, type FernetInvalidVector, type FernetVerifyVector, loadFixture,
} from '../helpers/fixtures.js';

/** The few parts of the untyped CommonJS `fernet` package (0.4.0) used here. */
interface FernetPkgSecret {
  readonly signingKeyHex: string;
  readonly encryptionKeyHex: string;
}
interface FernetPkgToken {
  encode(message: string): string;
  decode(token: string): string;
}
interface FernetPkg {
  Secret: new (base64Key: string) => FernetPkgSecret;
  Token: new (options: { secret: FernetPkgSecret; ttl?: number; time?: Date; iv?: number[]; token?: string }) => FernetPkgToken;
}
const fernetPkg = createRequire(import.meta.url)('fernet') as FernetPkg;

const generate = loadFixture<FernetGenerateVector[]>('fernet-spec/generate.json');
const verify = loadFixture<FernetVerifyVector[]>('fernet-spec/verify.json');
const invalid = loadFixture<FernetInvalidVector[]>('fernet-spec/invalid.json');

const URLSAFE_PADDED = /^[A-Za-z0-9_-]*={0,2}$/;

function expectInvalidToken(fn: () => unknown, context?: string): void {
  expect(fn, context).to.throw(InvalidTokenError);
}

describe('Fernet', () => {
  it('has spec vectors to run', () => {
    expect(generate.length).to.be.greaterThan(0);
    expect(verify.length).to.be.greaterThan(0);
    expect(invalid.length).to.be.greaterThan(0);
  });

  describe('spec vectors', () => {
    generate.forEach((v, i) => {
      it(`generate ${i}: encrypt with { now, iv } gives the spec token`, () => {
        const token = new Fernet(v.secret).encrypt(Buffer.from(v.src, 'utf8'), { now: epochSeconds(v.now), iv: Uint8Array.from(v.iv) });
        expect(token).to.equal(v.token);
      });
    });

    verify.forEach((v, i) => {
      it(`verify ${i}: decrypt with { ttlSeconds, now } gives the source`, () => {
        const fernet = new Fernet(v.secret);
        expect(fernet.decrypt(v.token, { ttlSeconds: v.ttl_sec, now: epochSeconds(v.now) }).toString('utf8')).to.equal(v.src);
        // no TTL: the timestamp is not checked at all
        expect(fernet.decrypt(v.token).toString('utf8')).to.equal(v.src);
      });
    });

    invalid.forEach((v) => {
      it(`invalid "${v.desc}" throws InvalidTokenError`, () => {
        const fernet = new Fernet(v.secret);
        expectInvalidToken(() => fernet.decrypt(v.token, { ttlSeconds: v.ttl_sec, now: epochSeconds(v.now) }), v.desc);
        expectInvalidToken(() => fernet.decrypt(Buffer.from(v.token, 'latin1'), { ttlSeconds: v.ttl_sec, now: epochSeconds(v.now) }),
          `${v.desc} (as bytes)`);
      });
    });

    it('the InvalidTokenError carries its code', () => {
      const v = invalid[0]!;
      try {
        new Fernet(v.secret).decrypt(v.token, { ttlSeconds: v.ttl_sec, now: epochSeconds(v.now) });
        expect.fail('no throw');
      } catch (err) {
        expect(err).to.be.instanceOf(InvalidTokenError);
        expect((err as InvalidTokenError).code).to.equal('ERR_INVALID_TOKEN');
      }
    });
  });

  describe('token format', () => {
    const key = toBase64Url(randomBytes(32));

    it('tokens are padded URL-safe base64 (length % 4 === 0) for every plaintext length 0..64', () => {
      const fernet = new Fernet(key);
      let padded = 0;
      for (let length = 0; length <= 64; length++) {
        const token = fernet.encrypt(randomBytes(length));
        expect(token.length % 4, `length ${length}`).to.equal(0);
        expect(token, `length ${length}`).to.match(URLSAFE_PADDED);
        if (token.endsWith('=')) padded++;
        expect(fernet.decrypt(token).length).to.equal(length);
      }
      // token byte lengths are 57 + 16k, so some need padding; make sure those were exercised
      expect(padded).to.be.greaterThan(0);
    });

    it('rejects an unpadded token', () => {
      const fernet = new Fernet(key);
      // 57 + 16 = 73 bytes: 73 % 3 = 1, so two '=' of padding
      const token = fernet.encrypt(Buffer.from('x'));
      expect(token.endsWith('==')).to.equal(true);
      expect(fernet.decrypt(token).toString()).to.equal('x');
      expectInvalidToken(() => fernet.decrypt(token.replace(/=+$/, '')));
      expectInvalidToken(() => fernet.decrypt(token.slice(0, -1)));
      // the spec vector without its padding too
      const v = generate[0]!;
      expect(v.token.endsWith('=')).to.equal(true);
      expectInvalidToken(() => new Fernet(v.secret).decrypt(v.token.replace(/=+$/, '')));
    });

    it('rejects standard (+/) base64 and surrounding whitespace', () => {
      const fernet = new Fernet(key);
      let token = '';
      // find a token that uses '-' or '_' so its standard-base64 spelling differs
      for (let i = 0; i < 50 && !/[-_]/.test(token); i++) token = fernet.encrypt(randomBytes(40));
      expect(token).to.match(/[-_]/);
      const standard = token.replace(/-/g, '+').replace(/_/g, '/');
      expectInvalidToken(() => fernet.decrypt(standard));
      expectInvalidToken(() => fernet.decrypt(` ${token}`));
      expectInvalidToken(() => fernet.decrypt(`${token}\n`));
      expect(fernet.decrypt(token).length).to.equal(40);
    });

    it('decrypt accepts a Buffer (and a Uint8Array view) of the token ASCII bytes', () => {
      const fernet = new Fernet(key);
      const token = fernet.encrypt(Buffer.from('datagram bytes'));
      expect(fernet.decrypt(Buffer.from(token, 'ascii')).toString()).to.equal('datagram bytes');
      const arena = Buffer.alloc(token.length + 20, 0x21);
      arena.write(token, 7, 'ascii');
      const view = new Uint8Array(arena.buffer, arena.byteOffset + 7, token.length);
      expect(fernet.decrypt(view).toString()).to.equal('datagram bytes');
    });

    it('the timestamp is written big-endian at bytes 1..8 and the IV at 9..24', () => {
      const fernet = new Fernet(key);
      const iv = randomBytes(16);
      const raw = fromBase64Url(fernet.encrypt(Buffer.from('t'), { now: 1_700_000_123, iv }));
      expect(raw).to.not.equal(null);
      expect(raw![0]).to.equal(0x80);
      expect(raw!.readBigUInt64BE(1)).to.equal(1_700_000_123n);
      expect(raw!.subarray(9, 25).equals(iv)).to.equal(true);
    });

    it('rejects a token under another key, or any changed character', () => {
      const fernet = new Fernet(key);
      const token = fernet.encrypt(Buffer.from('secret'));
      expectInvalidToken(() => new Fernet(toBase64Url(randomBytes(32))).decrypt(token));
      for (const at of [0, 5, 12, 30, 60, token.length - 5]) {
        const c = token[at] === 'A' ? 'B' : 'A';
        expectInvalidToken(() => fernet.decrypt(token.slice(0, at) + c + token.slice(at + 1)), `char ${at}`);
      }
    });

    it('every bit of every byte of a token is covered: the MAC is compared on all 32 bytes, and the MAC covers all the rest', () => {
      const fernet = new Fernet(key);
      const raw = fromBase64Url(fernet.encrypt(Buffer.from('secret')))!;
      for (let at = 0; at < raw.length; at++) {
        for (let bit = 0; bit < 8; bit++) {
          const bad = Buffer.from(raw);
          bad[at] = bad[at]! ^ (1 << bit);
          expectInvalidToken(() => fernet.decrypt(toBase64Url(bad)), `byte ${at} of ${raw.length}, bit ${bit}`);
        }
      }
      expect(fernet.decrypt(toBase64Url(raw)).toString(), 'the untouched token still opens').to.equal('secret');
    });

    it('property: a token whose MAC differs in any byte, by any non-zero mask, is refused (fast-check)', () => {
      const fernet = new Fernet(key);
      fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 1, max: 255 }),
        (plaintext, macByte, mask) => {
          const raw = fromBase64Url(fernet.encrypt(plaintext))!;
          const bad = Buffer.from(raw);
          const at = raw.length - 32 + macByte;
          bad[at] = bad[at]! ^ mask;
          expectInvalidToken(() => fernet.decrypt(toBase64Url(bad)), `MAC byte ${macByte} ^ ${mask}`);
          expect(fernet.decrypt(toBase64Url(raw)).equals(Buffer.from(plaintext))).to.equal(true);
        }), { numRuns: 500 });
    });

    it('TTL and clock-skew boundaries are those of Python cryptography', () => {
      const fernet = new Fernet(key);
      const t = 1_800_000_000;
      const token = fernet.encrypt(Buffer.from('ttl'), { now: t });
      expect(fernet.decrypt(token, { ttlSeconds: 60, now: t + 60 }).toString()).to.equal('ttl');
      expectInvalidToken(() => fernet.decrypt(token, { ttlSeconds: 60, now: t + 61 }));
      expect(fernet.decrypt(token, { ttlSeconds: 60, now: t - 60 }).toString()).to.equal('ttl');
      expectInvalidToken(() => fernet.decrypt(token, { ttlSeconds: 60, now: t - 61 }));
      // without a TTL neither age nor future timestamps matter
      expect(fernet.decrypt(token, { now: t + 10_000_000 }).toString()).to.equal('ttl');
      expect(fernet.decrypt(token, { now: 0 }).toString()).to.equal('ttl');
    });

    it('an age refusal is a TokenAgeError, and only for a token whose MAC checks out', () => {
      const fernet = new Fernet(key);
      const t = 1_800_000_000;
      const token = fernet.encrypt(Buffer.from('old'), { now: t });
      expect(() => fernet.decrypt(token, { ttlSeconds: 60, now: t + 61 })).to.throw(TokenAgeError, 'expired');
      expect(() => fernet.decrypt(token, { ttlSeconds: 60, now: t - 61 })).to.throw(TokenAgeError, 'future');
      const forged = new Fernet(randomBytes(32)).encrypt(Buffer.from('old'), { now: t });
      let err: unknown;
      try {
        fernet.decrypt(forged, { ttlSeconds: 60, now: t + 61 });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(InvalidTokenError).and.not.be.instanceOf(TokenAgeError);
    });

    it('a key is 32 bytes, raw or as padded URL-safe base64', () => {
      const raw = randomBytes(32);
      const token = new Fernet(raw).encrypt(Buffer.from('k'));
      expect(new Fernet(toBase64Url(raw)).decrypt(token).toString()).to.equal('k');
      expect(() => new Fernet(randomBytes(31))).to.throw(InvalidInputError);
      expect(() => new Fernet(randomBytes(33))).to.throw(InvalidInputError);
      expect(() => new Fernet(toBase64Url(randomBytes(16)))).to.throw(InvalidInputError);
      expect(() => new Fernet(toBase64Url(raw).replace(/=+$/, ''))).to.throw(InvalidInputError);
      expect(() => new Fernet('not a key')).to.throw(InvalidInputError);
    });

    it('rejects an IV that is not 16 bytes', () => {
      const fernet = new Fernet(key);
      expect(() => fernet.encrypt(Buffer.from('x'), { iv: new Uint8Array(15) })).to.throw(InvalidInputError);
      expect(() => fernet.encrypt(Buffer.from('x'), { iv: new Uint8Array(17) })).to.throw(InvalidInputError);
    });
  });

  describe('cross-check with the npm `fernet` package (0.4.0)', () => {
    it('the package reproduces the spec generate vector (sanity check of the reference)', () => {
      const v = generate[0]!;
      const secret = new fernetPkg.Secret(v.secret);
      const token = new fernetPkg.Token({ secret, time: new Date(Date.parse(v.now)), iv: v.iv }).encode(v.src);
      expect(token).to.equal(v.token);
      expect(new Fernet(v.secret).encrypt(Buffer.from(v.src), { now: epochSeconds(v.now), iv: Uint8Array.from(v.iv) })).to.equal(token);
    });

    it('our tokens decode with `fernet`, and its tokens decode with ours (random ASCII messages)', function () {
      this.timeout(20000);
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          // printable ASCII; the package encodes a falsy (empty) message as undefined, so at least 1 char
          fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 200 }),
          // (the package treats a time of 0 as "now", so start at 1)
          fc.integer({ min: 1, max: 4_000_000_000 }),
          (rawKey, message, now) => {
            const key = toBase64Url(rawKey);
            const ours = new Fernet(key);
            const secret = new fernetPkg.Secret(key);

            const ourToken = ours.encrypt(Buffer.from(message, 'ascii'), { now });
            expect(new fernetPkg.Token({ secret, ttl: 0 }).decode(ourToken)).to.equal(message);

            const theirToken = new fernetPkg.Token({ secret, time: new Date(now * 1000) }).encode(message);
            expect(theirToken.length % 4).to.equal(0);
            expect(ours.decrypt(theirToken).toString('ascii')).to.equal(message);
            expect(fromBase64Url(theirToken)!.readBigUInt64BE(1)).to.equal(BigInt(now));
          },
        ),
        { numRuns: 100 },
      );
    });

    it('a token from `fernet` under another key is rejected by ours', () => {
      const secret = new fernetPkg.Secret(toBase64Url(randomBytes(32)));
      const token = new fernetPkg.Token({ secret }).encode('hello');
      expectInvalidToken(() => new Fernet(toBase64Url(randomBytes(32))).decrypt(token));
    });
  });
});
