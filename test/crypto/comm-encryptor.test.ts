import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { HKDF_INFO, HKDF_KEY_BYTES } from '../../lib/constants.js';
import type { CryptoBackend } from '../../lib/crypto/backend.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { hkdfSha256 } from '../../lib/crypto/hkdf.js';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';
import { toBase64Url } from '../../lib/encoding.js';
import { DecryptError, InvalidInputError, LowOrderKeyError, NoSharedKeyError } from '../../lib/errors.js';
import { hex, loadPythonFixture, unhex } from '../helpers/fixtures.js';

const fixture = loadPythonFixture();
const ORDER_8_POINT = unhex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');

const BACKENDS: ReadonlyArray<[string, () => CryptoBackend]> = [
  ['native', loadSodiumBackend],
  ['js', loadNobleBackend],
];

function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
  return copy;
}

/** Runs `fn` and returns what it threw (failing the test if it did not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return expect.fail('expected a throw');
}

describe('CommEncryptor', () => {
  it('the fixture has comm_encryptor vectors', () => {
    expect(fixture.comm_encryptor.length).to.be.greaterThan(0);
  });

  it('hkdfSha256(shared_secret, "bittrrt-chacha20poly1305", 32) equals derived_key', () => {
    expect(fixture.hkdf.info_ascii).to.equal(HKDF_INFO);
    expect(fixture.hkdf.length).to.equal(HKDF_KEY_BYTES);
    for (const v of fixture.comm_encryptor) {
      expect(hex(hkdfSha256(unhex(v.shared_secret), 'bittrrt-chacha20poly1305', 32))).to.equal(v.derived_key);
      expect(hex(hkdfSha256(unhex(v.shared_secret), Buffer.from(HKDF_INFO), HKDF_KEY_BYTES))).to.equal(v.derived_key);
    }
  });

  for (const [name, load] of BACKENDS) {
    describe(`with the ${name} backend`, () => {
      const backend = load();

      fixture.comm_encryptor.forEach((v, index) => {
        describe(`python vector ${index}`, () => {
          const pair = (): { a: CommEncryptor; b: CommEncryptor } => {
            const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
            const b = CommEncryptor.fromSecretKey(unhex(v.secret_b), { backend });
            a.deriveSharedSecret(unhex(v.public_b));
            b.deriveSharedSecret(unhex(v.public_a));
            return { a, b };
          };

          it('fromSecretKey gives public_a and public_b', () => {
            const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
            const b = CommEncryptor.fromSecretKey(unhex(v.secret_b), { backend });
            expect(a.backend).to.equal(backend);
            expect(hex(a.publicKey)).to.equal(v.public_a);
            expect(hex(a.getPublicKey())).to.equal(v.public_a);
            expect(hex(b.publicKey)).to.equal(v.public_b);
            expect(toBase64Url(a.publicKey)).to.equal(v.public_a_b64url);
          });

          it('the backend computes shared_secret both ways', () => {
            const ab = new Uint8Array(32);
            const ba = new Uint8Array(32);
            expect(backend.x25519(ab, unhex(v.secret_a), unhex(v.public_b))).to.equal(true);
            expect(backend.x25519(ba, unhex(v.secret_b), unhex(v.public_a))).to.equal(true);
            expect(hex(ab)).to.equal(v.shared_secret);
            expect(hex(ba)).to.equal(v.shared_secret);
          });

          it('deriveSharedSecret works both ways and gives both sides one key', () => {
            const { a, b } = pair();
            expect(a.hasSharedKey).to.equal(true);
            expect(b.hasSharedKey).to.equal(true);
            const fromA = a.encrypt(Buffer.from('a to b'), Buffer.from('ad'));
            const fromB = b.encrypt(Buffer.from('b to a'));
            expect(b.decrypt(fromA, Buffer.from('ad')).toString()).to.equal('a to b');
            expect(a.decrypt(fromB).toString()).to.equal('b to a');
          });

          v.messages.forEach((m, j) => {
            it(`encryptInto with the given nonce reproduces message ${j} byte for byte, and decrypt inverts it`, () => {
              const { a, b } = pair();
              const plaintext = unhex(m.plaintext);
              const ad = unhex(m.associated_data);
              for (const sender of [a, b]) {
                const out = new Uint8Array(plaintext.length + 28);
                const written = sender.encryptInto(out, plaintext, ad, unhex(m.nonce));
                expect(written).to.equal(plaintext.length + 28);
                expect(hex(out)).to.equal(m.encrypted);
              }
              for (const receiver of [a, b]) {
                expect(hex(receiver.decrypt(unhex(m.encrypted), ad))).to.equal(m.plaintext);
              }
            });
          });

          it('setKey(derived_key) gives the same channel as deriveSharedSecret', () => {
            const c = new CommEncryptor({ backend });
            c.setKey(unhex(v.derived_key));
            for (const m of v.messages) {
              const plaintext = unhex(m.plaintext);
              const out = new Uint8Array(plaintext.length + 28);
              c.encryptInto(out, plaintext, unhex(m.associated_data), unhex(m.nonce));
              expect(hex(out)).to.equal(m.encrypted);
            }
          });

          it('framed_message decrypts to the 20-byte header and payload', () => {
            const f = v.framed_message;
            const { b } = pair();
            const frame = b.decrypt(unhex(f.encrypted));
            const payload = unhex(f.payload);
            expect(frame.length).to.equal(20 + payload.length);
            expect(frame.readUInt8(0)).to.equal(f.flags);
            expect(frame.readUIntBE(1, 3)).to.equal(f.channel);
            expect(frame.readBigUInt64BE(4)).to.equal(BigInt(f.sequence));
            expect(frame.readBigUInt64BE(12)).to.equal(BigInt(f.offset));
            expect(hex(frame.subarray(20))).to.equal(f.payload);
          });

          it('a frame built from the header fields re-encrypts to framed_message byte for byte', () => {
            const f = v.framed_message;
            const { a } = pair();
            const payload = unhex(f.payload);
            const frame = Buffer.alloc(20 + payload.length);
            frame.writeUInt8(f.flags, 0);
            frame.writeUIntBE(f.channel, 1, 3);
            frame.writeBigUInt64BE(BigInt(f.sequence), 4);
            frame.writeBigUInt64BE(BigInt(f.offset), 12);
            frame.set(payload, 20);
            const out = new Uint8Array(frame.length + 28);
            a.encryptInto(out, frame, new Uint8Array(0), unhex(f.nonce));
            expect(hex(out)).to.equal(f.encrypted);
          });
        });
      });

      describe('typed errors', () => {
        const v = fixture.comm_encryptor[0]!;
        const keyed = (): CommEncryptor => {
          const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
          a.deriveSharedSecret(unhex(v.public_b));
          return a;
        };
        const sample = (): Buffer => unhex(v.messages[0]!.encrypted);

        it('NoSharedKeyError before deriveSharedSecret', () => {
          const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
          expect(a.hasSharedKey).to.equal(false);
          expect(() => a.encrypt(Buffer.from('x'))).to.throw(NoSharedKeyError);
          expect(() => a.encryptInto(new Uint8Array(64), Buffer.from('x'))).to.throw(NoSharedKeyError);
          expect(() => a.decrypt(sample())).to.throw(NoSharedKeyError);
          expect(() => a.decryptInto(new Uint8Array(64), sample())).to.throw(NoSharedKeyError);
          const err = thrown(() => a.encrypt(Buffer.from('x')));
          expect((err as NoSharedKeyError).code).to.equal('ERR_NO_SHARED_KEY');
        });

        it('NoSharedKeyError after destroy()', () => {
          const a = keyed();
          expect(a.decrypt(sample()).toString()).to.equal('hello');
          a.destroy();
          expect(a.hasSharedKey).to.equal(false);
          expect(() => a.encrypt(Buffer.from('x'))).to.throw(NoSharedKeyError);
          expect(() => a.encryptInto(new Uint8Array(64), Buffer.from('x'))).to.throw(NoSharedKeyError);
          expect(() => a.decrypt(sample())).to.throw(NoSharedKeyError);
          expect(() => a.decryptInto(new Uint8Array(64), sample())).to.throw(NoSharedKeyError);
        });

        it('after destroy(), deriveSharedSecret cannot re-arm the encryptor with the wiped secret key', () => {
          // destroy() documents "the encryptor cannot be used afterwards". Its secret key is wiped
          // to zeros, so a key derived afterwards would come from the all-zero scalar, which anyone
          // can compute. Whether deriveSharedSecret throws or not, no key may come of it.
          const a = keyed();
          a.destroy();
          try {
            a.deriveSharedSecret(unhex(v.public_b));
          } catch {
            // throwing is an acceptable way to refuse
          }
          expect(a.hasSharedKey, 'hasSharedKey after destroy() + deriveSharedSecret()').to.equal(false);
          expect(() => a.encrypt(Buffer.from('x'))).to.throw(NoSharedKeyError);
        });

        it('InvalidInputError for a wrong-length secret key', () => {
          for (const length of [0, 16, 31, 33, 64]) {
            expect(() => CommEncryptor.fromSecretKey(new Uint8Array(length), { backend }), `${length} bytes`).to.throw(
              InvalidInputError);
            expect(() => new CommEncryptor({ backend, secretKey: new Uint8Array(length) }), `${length} bytes`).to.throw(
              InvalidInputError);
          }
          const err = thrown(() => CommEncryptor.fromSecretKey(new Uint8Array(31), { backend }));
          expect((err as InvalidInputError).code).to.equal('ERR_INVALID_INPUT');
        });

        it('InvalidInputError for a wrong-length peer key, without installing a key', () => {
          const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
          for (const length of [0, 31, 33, 64]) {
            expect(() => a.deriveSharedSecret(new Uint8Array(length).fill(9)), `${length} bytes`).to.throw(InvalidInputError);
          }
          expect(() => a.deriveSharedSecret(unhex(v.public_b).subarray(0, 31))).to.throw(InvalidInputError);
          expect(() => a.deriveSharedSecret(Buffer.concat([unhex(v.public_b), Buffer.of(0)]))).to.throw(InvalidInputError);
          expect(a.hasSharedKey).to.equal(false);
        });

        it('InvalidInputError for a wrong-length key in setKey', () => {
          const a = new CommEncryptor({ backend });
          for (const length of [0, 16, 31, 33]) {
            expect(() => a.setKey(new Uint8Array(length)), `${length} bytes`).to.throw(InvalidInputError);
          }
          expect(a.hasSharedKey).to.equal(false);
        });

        it('InvalidInputError for a wrong-length nonce', () => {
          const a = keyed();
          for (const length of [0, 8, 11, 13, 24]) {
            expect(() => a.encryptInto(new Uint8Array(64), Buffer.from('x'), new Uint8Array(0), new Uint8Array(length)),
              `${length} bytes`).to.throw(InvalidInputError);
          }
        });

        it('InvalidInputError for too-small output buffers', () => {
          const a = keyed();
          const plaintext = Buffer.from('hello');
          expect(() => a.encryptInto(new Uint8Array(plaintext.length + 27), plaintext)).to.throw(InvalidInputError);
          expect(() => a.encryptInto(new Uint8Array(0), plaintext)).to.throw(InvalidInputError);
          expect(() => a.encryptInto(new Uint8Array(27), new Uint8Array(0))).to.throw(InvalidInputError);
          const sealed = sample();
          expect(() => a.decryptInto(new Uint8Array(sealed.length - 29), sealed)).to.throw(InvalidInputError);
          // exact sizes are fine
          expect(a.encryptInto(new Uint8Array(plaintext.length + 28), plaintext)).to.equal(plaintext.length + 28);
          expect(a.decryptInto(new Uint8Array(sealed.length - 28), sealed)).to.equal(sealed.length - 28);
        });

        it('LowOrderKeyError for an all-zero (or other low-order) peer key, without installing a key', () => {
          const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
          expect(() => a.deriveSharedSecret(new Uint8Array(32))).to.throw(LowOrderKeyError);
          expect(a.hasSharedKey).to.equal(false);
          expect(() => a.deriveSharedSecret(ORDER_8_POINT)).to.throw(LowOrderKeyError);
          expect(a.hasSharedKey).to.equal(false);
          const err = thrown(() => a.deriveSharedSecret(new Uint8Array(32)));
          expect((err as LowOrderKeyError).code).to.equal('ERR_LOW_ORDER_KEY');
        });

        it('a low-order peer key leaves an existing key in place', () => {
          const a = keyed();
          expect(() => a.deriveSharedSecret(new Uint8Array(32))).to.throw(LowOrderKeyError);
          expect(a.decrypt(sample()).toString()).to.equal('hello');
        });

        it('DecryptError for input shorter than 28 bytes', () => {
          const a = keyed();
          for (const length of [0, 1, 12, 27]) {
            expect(() => a.decrypt(new Uint8Array(length)), `${length} bytes`).to.throw(DecryptError);
            expect(() => a.decryptInto(new Uint8Array(64), new Uint8Array(length)), `${length} bytes`).to.throw(DecryptError);
          }
          // 28 bytes is an empty message: it fails authentication, but as DecryptError too
          expect(() => a.decrypt(new Uint8Array(28))).to.throw(DecryptError);
          const err = thrown(() => a.decrypt(new Uint8Array(5)));
          expect((err as DecryptError).code).to.equal('ERR_DECRYPT');
        });

        it('DecryptError for every single flipped bit of a sample message', function () {
          this.timeout(20000);
          const a = keyed();
          const sealed = sample();
          expect(a.decrypt(sealed).toString()).to.equal('hello');
          let rejected = 0;
          for (let bit = 0; bit < sealed.length * 8; bit++) {
            expect(() => a.decrypt(flipBit(sealed, bit)), `bit ${bit}`).to.throw(DecryptError);
            rejected++;
          }
          expect(rejected).to.equal(sealed.length * 8);
        });

        it('DecryptError for a wrong key', () => {
          const other = new CommEncryptor({ backend });
          other.deriveSharedSecret(unhex(v.public_b));
          expect(() => other.decrypt(sample())).to.throw(DecryptError);
          const third = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
          third.deriveSharedSecret(unhex(fixture.comm_encryptor[1]!.public_b));
          expect(() => third.decrypt(sample())).to.throw(DecryptError);
        });

        it('DecryptError for wrong associated data', () => {
          const a = keyed();
          const m = v.messages[1]!;
          expect(m.associated_data).to.not.equal('');
          const sealed = unhex(m.encrypted);
          expect(hex(a.decrypt(sealed, unhex(m.associated_data)))).to.equal(m.plaintext);
          expect(() => a.decrypt(sealed)).to.throw(DecryptError);
          expect(() => a.decrypt(sealed, flipBit(unhex(m.associated_data), 0))).to.throw(DecryptError);
          expect(() => a.decrypt(sealed, Buffer.concat([unhex(m.associated_data), Buffer.of(0)]))).to.throw(DecryptError);
          expect(() => a.decrypt(sample(), Buffer.from('hdr'))).to.throw(DecryptError);
        });
      });

      describe('random nonces and properties', () => {
        const v = fixture.comm_encryptor[1]!;
        const pair = (): { a: CommEncryptor; b: CommEncryptor } => {
          const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
          const b = CommEncryptor.fromSecretKey(unhex(v.secret_b), { backend });
          a.deriveSharedSecret(b.publicKey);
          b.deriveSharedSecret(a.publicKey);
          return { a, b };
        };

        it('encrypt() draws a different nonce on each call', () => {
          const { a } = pair();
          const plaintext = Buffer.from('same message every time');
          const nonces = new Set<string>();
          const messages = new Set<string>();
          for (let i = 0; i < 100; i++) {
            const sealed = a.encrypt(plaintext);
            expect(sealed.length).to.equal(plaintext.length + 28);
            nonces.add(hex(sealed.subarray(0, 12)));
            messages.add(hex(sealed));
          }
          expect(nonces.size).to.equal(100);
          expect(messages.size).to.equal(100);
        });

        it('two encryptors with fresh random keys have different public keys', () => {
          const x = new CommEncryptor({ backend });
          const y = new CommEncryptor({ backend });
          expect(hex(x.publicKey)).to.not.equal(hex(y.publicKey));
          x.deriveSharedSecret(y.publicKey);
          y.deriveSharedSecret(x.publicKey);
          expect(y.decrypt(x.encrypt(Buffer.from('fresh'))).toString()).to.equal('fresh');
        });

        it('property: decrypt(encrypt(x, ad), ad) === x', function () {
          this.timeout(20000);
          const { a, b } = pair();
          fc.assert(
            fc.property(fc.uint8Array({ maxLength: 1500 }), fc.uint8Array({ maxLength: 64 }), (plaintext, ad) => {
              const sealed = a.encrypt(plaintext, ad);
              expect(sealed.length).to.equal(plaintext.length + 28);
              expect(hex(b.decrypt(sealed, ad))).to.equal(hex(plaintext));
              expect(hex(a.decrypt(sealed, ad))).to.equal(hex(plaintext));
            }),
            { numRuns: 150 },
          );
        });

        it('property: flipping any random bit makes decrypt throw DecryptError', function () {
          this.timeout(20000);
          const { a, b } = pair();
          fc.assert(
            fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 32 }), fc.nat(), (plaintext, ad, pick) => {
              const sealed = a.encrypt(plaintext, ad);
              const bit = pick % (sealed.length * 8);
              const tampered = flipBit(sealed, bit);
              expect(() => b.decrypt(tampered, ad), `bit ${bit}`).to.throw(DecryptError);
            }),
            { numRuns: 150 },
          );
        });

        it('zero-copy path: encryptInto/decryptInto give the same bytes as encrypt/decrypt', () => {
          const { a, b } = pair();
          for (const length of [0, 1, 15, 16, 17, 64, 1000, 1400]) {
            const plaintext = randomBytes(length);
            const ad = randomBytes(length % 7);
            const sealed = a.encrypt(plaintext, ad);
            // same nonce, into a larger caller buffer: same bytes, and the right length returned
            const out = new Uint8Array(length + 28 + 10).fill(0xee);
            const written = a.encryptInto(out, plaintext, ad, sealed.subarray(0, 12));
            expect(written).to.equal(length + 28);
            expect(hex(out.subarray(0, written))).to.equal(hex(sealed));
            expect(hex(out.subarray(written))).to.equal('ee'.repeat(10));

            const opened = new Uint8Array(length + 5).fill(0xdd);
            const read = b.decryptInto(opened, sealed, ad);
            expect(read).to.equal(length);
            expect(hex(opened.subarray(0, read))).to.equal(hex(b.decrypt(sealed, ad)));
            expect(hex(opened.subarray(0, read))).to.equal(hex(plaintext));
            expect(hex(opened.subarray(read))).to.equal('dd'.repeat(5));
          }
        });

        it('zero-copy path works on views into a larger buffer, touching nothing outside them', () => {
          const { a, b } = pair();
          const plaintext = randomBytes(100);
          const arena = new Uint8Array(400).fill(0x11);
          const sealedView = arena.subarray(50, 50 + 128);
          const written = a.encryptInto(sealedView, plaintext, Buffer.from('view'));
          expect(written).to.equal(128);
          expect(hex(arena.subarray(0, 50))).to.equal('11'.repeat(50));
          expect(hex(arena.subarray(178))).to.equal('11'.repeat(222));
          expect(hex(b.decrypt(sealedView, Buffer.from('view')))).to.equal(hex(plaintext));

          const plainView = arena.subarray(200, 300);
          expect(b.decryptInto(plainView, sealedView, Buffer.from('view'))).to.equal(100);
          expect(hex(plainView)).to.equal(hex(plaintext));
          expect(hex(arena.subarray(300))).to.equal('11'.repeat(100));
          expect(hex(arena.subarray(0, 50))).to.equal('11'.repeat(50));
        });
      });
    });
  }

  it('the native and js backends produce identical channels for the same keys', () => {
    const v = fixture.comm_encryptor[2]!;
    const native = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend: loadSodiumBackend() });
    const js = CommEncryptor.fromSecretKey(unhex(v.secret_b), { backend: loadNobleBackend() });
    native.deriveSharedSecret(js.publicKey);
    js.deriveSharedSecret(native.publicKey);
    const nonce = randomBytes(12);
    const plaintext = randomBytes(333);
    const fromNative = new Uint8Array(plaintext.length + 28);
    const fromJs = new Uint8Array(plaintext.length + 28);
    native.encryptInto(fromNative, plaintext, new Uint8Array(0), nonce);
    js.encryptInto(fromJs, plaintext, new Uint8Array(0), nonce);
    expect(hex(fromJs)).to.equal(hex(fromNative));
    expect(hex(js.decrypt(fromNative))).to.equal(hex(plaintext));
  });
});
