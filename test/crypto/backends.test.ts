import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { expect } from 'chai';
import type { CryptoBackend } from '../../lib/crypto/backend.js';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { parseBackendPreference, selectBackend } from '../../lib/crypto/select.js';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';
import { BackendUnavailableError } from '../../lib/errors.js';
import { hex, unhex } from '../helpers/fixtures.js';

// RFC 7748, section 5.2: the two single-multiplication vectors.
const RFC7748_SCALAR_MULT = [
  {
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];

// RFC 7748, section 6.1: Alice and Bob.
const RFC7748_DH = {
  alicePrivate: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePublic: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPrivate: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPublic: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
};

// RFC 8439, section 2.8.2: the AEAD vector.
const RFC8439_AEAD = {
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '070000004041424344454647',
  ad: '50515253c0c1c2c3c4c5c6c7',
  plaintext: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ciphertext:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
    '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
    '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};

// Points whose X25519 result is all zeros for every scalar: u = 0, u = 1, an order-8 point.
const LOW_ORDER_POINTS = [
  { name: 'u = 0', u: '0000000000000000000000000000000000000000000000000000000000000000' },
  { name: 'u = 1', u: '0100000000000000000000000000000000000000000000000000000000000000' },
  { name: 'order-8 point', u: 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800' },
];

// Non-canonical encodings: u >= p, or bit 255 set (which RFC 7748 says to mask off).
const NON_CANONICAL_LOW_ORDER = [
  { name: 'u = p - 1', u: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' },
  { name: 'u = p (= 0)', u: 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' },
  { name: 'u = p + 1 (= 1)', u: 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' },
  { name: 'u = 0 with bit 255 set', u: '0000000000000000000000000000000000000000000000000000000000000080' },
];

const BACKENDS: ReadonlyArray<[string, () => CryptoBackend]> = [
  ['native (sodium-native)', loadSodiumBackend],
  ['js (@noble)', loadNobleBackend],
];

function isAllZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

function rfcSealed(): Buffer {
  return Buffer.concat([unhex(RFC8439_AEAD.ciphertext), unhex(RFC8439_AEAD.tag)]);
}

for (const [label, load] of BACKENDS) {
  describe(`crypto backend: ${label}`, () => {
    const backend = load();

    it('reports its name', () => {
      expect(backend.name).to.equal(load === loadSodiumBackend ? 'native' : 'js');
    });

    describe('X25519', () => {
      RFC7748_SCALAR_MULT.forEach((v, i) => {
        it(`matches RFC 7748 section 5.2 vector ${i + 1}`, () => {
          const out = new Uint8Array(32);
          expect(backend.x25519(out, unhex(v.scalar), unhex(v.u))).to.equal(true);
          expect(hex(out)).to.equal(v.out);
        });
      });

      it('derives the RFC 7748 section 6.1 public keys', () => {
        const alicePublic = new Uint8Array(32);
        const bobPublic = new Uint8Array(32);
        backend.x25519Base(alicePublic, unhex(RFC7748_DH.alicePrivate));
        backend.x25519Base(bobPublic, unhex(RFC7748_DH.bobPrivate));
        expect(hex(alicePublic)).to.equal(RFC7748_DH.alicePublic);
        expect(hex(bobPublic)).to.equal(RFC7748_DH.bobPublic);
      });

      it('agrees on the RFC 7748 section 6.1 shared secret from both sides', () => {
        const fromAlice = new Uint8Array(32);
        const fromBob = new Uint8Array(32);
        expect(backend.x25519(fromAlice, unhex(RFC7748_DH.alicePrivate), unhex(RFC7748_DH.bobPublic))).to.equal(true);
        expect(backend.x25519(fromBob, unhex(RFC7748_DH.bobPrivate), unhex(RFC7748_DH.alicePublic))).to.equal(true);
        expect(hex(fromAlice)).to.equal(RFC7748_DH.shared);
        expect(hex(fromBob)).to.equal(RFC7748_DH.shared);
      });

      for (const point of [...LOW_ORDER_POINTS, ...NON_CANONICAL_LOW_ORDER]) {
        it(`returns false and zeroes the output for a low-order peer key (${point.name})`, () => {
          for (const secret of [unhex(RFC7748_DH.alicePrivate), randomBytes(32)]) {
            const out = new Uint8Array(32).fill(0xa5);
            expect(backend.x25519(out, secret, unhex(point.u))).to.equal(false);
            expect(hex(out)).to.equal('00'.repeat(32));
          }
        });
      }

      it('does not modify its inputs', () => {
        const secret = unhex(RFC7748_DH.alicePrivate);
        const peer = unhex(RFC7748_DH.bobPublic);
        backend.x25519(new Uint8Array(32), secret, peer);
        backend.x25519Base(new Uint8Array(32), secret);
        expect(hex(secret)).to.equal(RFC7748_DH.alicePrivate);
        expect(hex(peer)).to.equal(RFC7748_DH.bobPublic);
      });
    });

    describe('ChaCha20-Poly1305', () => {
      const key = unhex(RFC8439_AEAD.key);
      const nonce = unhex(RFC8439_AEAD.nonce);
      const ad = unhex(RFC8439_AEAD.ad);
      const plaintext = Buffer.from(RFC8439_AEAD.plaintext, 'ascii');

      it('seals the RFC 8439 section 2.8.2 vector', () => {
        const out = new Uint8Array(plaintext.length + 16);
        backend.aeadSeal(out, plaintext, ad, nonce, key);
        expect(hex(out.subarray(0, plaintext.length))).to.equal(RFC8439_AEAD.ciphertext);
        expect(hex(out.subarray(plaintext.length))).to.equal(RFC8439_AEAD.tag);
      });

      it('opens the RFC 8439 section 2.8.2 vector', () => {
        const out = new Uint8Array(plaintext.length);
        expect(backend.aeadOpen(out, rfcSealed(), ad, nonce, key)).to.equal(true);
        expect(Buffer.from(out).toString('ascii')).to.equal(RFC8439_AEAD.plaintext);
      });

      it('seals and opens an empty plaintext with empty associated data', () => {
        const sealed = new Uint8Array(16);
        backend.aeadSeal(sealed, new Uint8Array(0), new Uint8Array(0), nonce, key);
        expect(isAllZero(sealed)).to.equal(false);
        expect(backend.aeadOpen(new Uint8Array(0), sealed, new Uint8Array(0), nonce, key)).to.equal(true);
        sealed[0] = (sealed[0] as number) ^ 1;
        expect(backend.aeadOpen(new Uint8Array(0), sealed, new Uint8Array(0), nonce, key)).to.equal(false);
      });

      it('rejects every single flipped bit in ciphertext or tag, leaving no plaintext in the output', function () {
        this.timeout(20000);
        const sealed = rfcSealed();
        let rejected = 0;
        for (let bit = 0; bit < sealed.length * 8; bit++) {
          const tampered = Buffer.from(sealed);
          tampered[bit >> 3] = (tampered[bit >> 3] as number) ^ (1 << (bit & 7));
          const out = new Uint8Array(plaintext.length);
          const ok = backend.aeadOpen(out, tampered, ad, nonce, key);
          expect(ok, `bit ${bit} flipped`).to.equal(false);
          expect(Buffer.from(out).equals(plaintext), `plaintext leaked with bit ${bit} flipped`).to.equal(false);
          rejected++;
        }
        expect(rejected).to.equal((plaintext.length + 16) * 8);
      });

      it('rejects wrong associated data', () => {
        const sealed = rfcSealed();
        const out = new Uint8Array(plaintext.length);
        const wrongAd = Buffer.from(ad);
        wrongAd[wrongAd.length - 1] = (wrongAd[wrongAd.length - 1] as number) ^ 0x80;
        expect(backend.aeadOpen(out, sealed, wrongAd, nonce, key)).to.equal(false);
        expect(backend.aeadOpen(out, sealed, new Uint8Array(0), nonce, key)).to.equal(false);
        expect(backend.aeadOpen(out, sealed, ad.subarray(0, ad.length - 1), nonce, key)).to.equal(false);
        expect(backend.aeadOpen(out, sealed, Buffer.concat([ad, Buffer.of(0)]), nonce, key)).to.equal(false);
        // and the right AD still opens it, so the failures above are due to the AD alone
        expect(backend.aeadOpen(out, sealed, ad, nonce, key)).to.equal(true);
      });

      it('rejects associated data on a message sealed without any', () => {
        const sealed = new Uint8Array(plaintext.length + 16);
        backend.aeadSeal(sealed, plaintext, new Uint8Array(0), nonce, key);
        const out = new Uint8Array(plaintext.length);
        expect(backend.aeadOpen(out, sealed, Buffer.of(0), nonce, key)).to.equal(false);
        expect(backend.aeadOpen(out, sealed, new Uint8Array(0), nonce, key)).to.equal(true);
        expect(Buffer.from(out).equals(plaintext)).to.equal(true);
      });

      it('rejects a wrong key or a wrong nonce', () => {
        const sealed = rfcSealed();
        const out = new Uint8Array(plaintext.length);
        for (let bit = 0; bit < 256; bit += 37) {
          const wrongKey = Buffer.from(key);
          wrongKey[bit >> 3] = (wrongKey[bit >> 3] as number) ^ (1 << (bit & 7));
          expect(backend.aeadOpen(out, sealed, ad, nonce, wrongKey), `key bit ${bit}`).to.equal(false);
        }
        expect(backend.aeadOpen(out, sealed, ad, nonce, randomBytes(32))).to.equal(false);
        const wrongNonce = Buffer.from(nonce);
        wrongNonce[11] = (wrongNonce[11] as number) ^ 1;
        expect(backend.aeadOpen(out, sealed, ad, wrongNonce, key)).to.equal(false);
      });

      it('rejects a truncated or extended message', () => {
        const sealed = rfcSealed();
        const shorter = sealed.subarray(0, sealed.length - 1);
        expect(backend.aeadOpen(new Uint8Array(shorter.length - 16), shorter, ad, nonce, key)).to.equal(false);
        const longer = Buffer.concat([sealed, Buffer.of(0)]);
        expect(backend.aeadOpen(new Uint8Array(longer.length - 16), longer, ad, nonce, key)).to.equal(false);
      });
    });

    describe('utilities', () => {
      it('wipe zeroes a buffer', () => {
        const buf = new Uint8Array(100).fill(0xff);
        backend.wipe(buf);
        expect(isAllZero(buf)).to.equal(true);
      });

      it('wipe zeroes only the given view', () => {
        const whole = new Uint8Array(48).fill(0x5a);
        backend.wipe(whole.subarray(16, 32));
        expect(hex(whole)).to.equal('5a'.repeat(16) + '00'.repeat(16) + '5a'.repeat(16));
      });

      it('randomFill fills a 64-byte buffer with fresh bytes', () => {
        const a = new Uint8Array(64);
        const b = new Uint8Array(64);
        backend.randomFill(a);
        backend.randomFill(b);
        expect(isAllZero(a)).to.equal(false);
        expect(isAllZero(b)).to.equal(false);
        expect(hex(a)).to.not.equal(hex(b));
      });

      it('randomFill fills only the given view', () => {
        const whole = new Uint8Array(96);
        backend.randomFill(whole.subarray(32, 64));
        expect(isAllZero(whole.subarray(0, 32))).to.equal(true);
        expect(isAllZero(whole.subarray(32, 64))).to.equal(false);
        expect(isAllZero(whole.subarray(64))).to.equal(true);
      });
    });
  });
}

describe('crypto backends: native and js agree', () => {
  const native = loadSodiumBackend();
  const js = loadNobleBackend();

  it('give byte-identical AEAD outputs on 200 random cases', function () {
    this.timeout(30000);
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      // every tenth case has empty plaintext and AD, which the native binding passes as null
      const ad = randomBytes(i % 10 === 0 ? 0 : randomInt(0, 2001));
      const plaintext = randomBytes(i % 10 === 0 ? 0 : randomInt(0, 2001));
      const context = `case ${i}: key ${hex(key)} nonce ${hex(nonce)} ad ${ad.length} B, plaintext ${plaintext.length} B`;

      const sealedNative = new Uint8Array(plaintext.length + 16);
      const sealedJs = new Uint8Array(plaintext.length + 16);
      native.aeadSeal(sealedNative, plaintext, ad, nonce, key);
      js.aeadSeal(sealedJs, plaintext, ad, nonce, key);
      expect(hex(sealedJs), context).to.equal(hex(sealedNative));

      const openedNative = new Uint8Array(plaintext.length);
      const openedJs = new Uint8Array(plaintext.length);
      expect(native.aeadOpen(openedNative, sealedJs, ad, nonce, key), context).to.equal(true);
      expect(js.aeadOpen(openedJs, sealedNative, ad, nonce, key), context).to.equal(true);
      expect(hex(openedNative), context).to.equal(hex(plaintext));
      expect(hex(openedJs), context).to.equal(hex(plaintext));
    }
  });

  it('give byte-identical X25519 outputs on 200 random secrets and peers', function () {
    this.timeout(30000);
    for (let i = 0; i < 200; i++) {
      const secret = randomBytes(32);
      // random 32-byte peers: half of them have bit 255 set, which both must ignore alike
      const peer = randomBytes(32);
      const context = `case ${i}: secret ${hex(secret)} peer ${hex(peer)}`;

      const publicNative = new Uint8Array(32);
      const publicJs = new Uint8Array(32);
      native.x25519Base(publicNative, secret);
      js.x25519Base(publicJs, secret);
      expect(hex(publicJs), context).to.equal(hex(publicNative));

      const sharedNative = new Uint8Array(32);
      const sharedJs = new Uint8Array(32);
      const okNative = native.x25519(sharedNative, secret, peer);
      const okJs = js.x25519(sharedJs, secret, peer);
      expect(okJs, context).to.equal(okNative);
      expect(okNative, context).to.equal(true);
      expect(hex(sharedJs), context).to.equal(hex(sharedNative));
    }
  });

  it('agree on peers with bit 255 set and on non-canonical u >= p', () => {
    const secret = unhex(RFC7748_DH.alicePrivate);
    const peers = [
      // Bob's key with bit 255 set must act as Bob's key
      RFC7748_DH.bobPublic.slice(0, 62) + (parseInt(RFC7748_DH.bobPublic.slice(62), 16) | 0x80).toString(16),
      'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // 2^255 - 1 = p + 18
      'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
      'f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 3
    ];
    for (const peerHex of peers) {
      const sharedNative = new Uint8Array(32);
      const sharedJs = new Uint8Array(32);
      const okNative = native.x25519(sharedNative, secret, unhex(peerHex));
      const okJs = js.x25519(sharedJs, secret, unhex(peerHex));
      expect(okJs, peerHex).to.equal(okNative);
      expect(hex(sharedJs), peerHex).to.equal(hex(sharedNative));
    }
    const withHighBit = new Uint8Array(32);
    expect(native.x25519(withHighBit, secret, unhex(peers[0] as string))).to.equal(true);
    expect(hex(withHighBit)).to.equal(RFC7748_DH.shared);
  });
});

describe('selectBackend / parseBackendPreference', () => {
  it("preference 'js' gives the js backend without loading native or warning", () => {
    const warnings: string[] = [];
    const backend = selectBackend('js', (m) => warnings.push(m));
    expect(backend.name).to.equal('js');
    expect(warnings).to.deep.equal([]);
  });

  it("preference 'native' gives the native backend", () => {
    const warnings: string[] = [];
    const backend = selectBackend('native', (m) => warnings.push(m));
    expect(backend.name).to.equal('native');
    expect(warnings).to.deep.equal([]);
  });

  it("preference 'auto' gives the native backend without calling warn", () => {
    let warned = 0;
    const backend = selectBackend('auto', () => {
      warned++;
    });
    expect(backend.name).to.equal('native');
    expect(warned).to.equal(0);
  });

  it('selected backends work (a quick seal/open round trip each)', () => {
    for (const preference of ['js', 'native', 'auto'] as const) {
      const backend = selectBackend(preference, () => undefined);
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const sealed = new Uint8Array(3 + 16);
      backend.aeadSeal(sealed, Buffer.from('abc'), new Uint8Array(0), nonce, key);
      const opened = new Uint8Array(3);
      expect(backend.aeadOpen(opened, sealed, new Uint8Array(0), nonce, key), preference).to.equal(true);
      expect(Buffer.from(opened).toString(), preference).to.equal('abc');
    }
  });

  it('parseBackendPreference accepts the documented values', () => {
    expect(parseBackendPreference(undefined)).to.equal('auto');
    expect(parseBackendPreference('')).to.equal('auto');
    expect(parseBackendPreference('auto')).to.equal('auto');
    expect(parseBackendPreference('native')).to.equal('native');
    expect(parseBackendPreference('js')).to.equal('js');
  });

  it('parseBackendPreference rejects anything else with BackendUnavailableError', () => {
    for (const garbage of ['NATIVE', 'Js', 'sodium', 'noble', ' js', 'native ', 'none', '0', 'true', 'auto,js']) {
      expect(() => parseBackendPreference(garbage), JSON.stringify(garbage)).to.throw(BackendUnavailableError);
    }
    try {
      parseBackendPreference('garbage');
      expect.fail('parseBackendPreference did not throw');
    } catch (err) {
      expect(err).to.be.instanceOf(BackendUnavailableError);
      expect((err as BackendUnavailableError).code).to.equal('ERR_BACKEND_UNAVAILABLE');
    }
  });
});

describe('loadSodiumBackend: finding the addon', () => {
  it('opens the prebuilt addon itself: require-addon (15-20 ms of every start) is never loaded', () => {
    // A fresh Node, whose module cache holds only what loading the backend put there.
    const script = `
      import { createRequire } from 'node:module';
      const { loadSodiumBackend } = await import(${JSON.stringify(new URL('../../lib/crypto/sodium-backend.js', import.meta.url).href)});
      const backend = loadSodiumBackend();
      const sealed = new Uint8Array(19);
      backend.aeadSeal(sealed, new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(12), new Uint8Array(32));
      const opened = new Uint8Array(3);
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({
        name: backend.name,
        roundTrip: backend.aeadOpen(opened, sealed, new Uint8Array(0), new Uint8Array(12), new Uint8Array(32)) && opened.join(),
        requireAddon: loaded.some((path) => path.includes('/node_modules/require-addon/')),
        binding: loaded.some((path) => path.endsWith('/sodium-native/binding.js')),
      }));`;
    const report = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(report).to.deep.equal({ name: 'native', roundTrip: '1,2,3', requireAddon: false, binding: true });
  });
});
