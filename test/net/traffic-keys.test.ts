import type { SessionKeys as LibSessionKeys } from '../../lib/crypto/key-schedule.js';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { AEAD_OVERHEAD, HKDF_INFO, HKDF_KEY_BYTES, REJECT_AFTER_MESSAGES } from '../../lib/constants.js';
import { AeadKey } from '../../lib/crypto/aead-key.js';
import type { CryptoBackend } from '../../lib/crypto/backend.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { hkdfSha256 } from '../../lib/crypto/hkdf.js';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';
import { readU32 } from '../../lib/bytes.js';
import { TrafficKeys, OPEN_BAD_AUTH, OPEN_REPLAY } from '../../lib/net/traffic-keys.js';
import { REPLAY_WINDOW_SIZE } from '../../lib/protocol/replay-window.js';
import { hex, loadPythonFixture, unhex } from '../helpers/fixtures.js';

const fixture = loadPythonFixture();

const BACKENDS: ReadonlyArray<[string, () => CryptoBackend]> = [
  ['native', loadSodiumBackend],
  ['js', loadNobleBackend],
];

/** Receiver indices of the two sides (neither starts with 0x67, the Fernet token byte). */
const INITIATOR_INDEX = 0x11223344;
const RESPONDER_INDEX = 0xa1b2c3d4;
const NOW = 1_700_000_000_000;

type SessionKeys = LibSessionKeys;
/** TrafficKeys wipes the keys it is given; tests that inspect keys afterwards hand it a copy. */
const copyKeys = (k: SessionKeys): SessionKeys =>
  ({ send: Uint8Array.from(k.send), receive: Uint8Array.from(k.receive), confirm: Uint8Array.from(k.confirm) });

function flipBit(bytes: Uint8Array, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
  return copy;
}

/** nonce for a version-2 datagram: receiver index (u32 BE) || counter (u64 BE). */
function v2Nonce(receiverIndex: number, counter: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(receiverIndex, 0);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  return nonce;
}

function sessionKeys(backend: CryptoBackend, vectorIndex = 0): { initiator: SessionKeys; responder: SessionKeys; v: (typeof fixture.comm_encryptor)[number] } {
  const v = fixture.comm_encryptor[vectorIndex]!;
  const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
  const b = CommEncryptor.fromSecretKey(unhex(v.secret_b), { backend });
  return {
    initiator: a.deriveSessionKeys(b.publicKey, 'initiator'),
    responder: b.deriveSessionKeys(a.publicKey, 'responder'),
    v,
  };
}

interface Sides {
  a: TrafficKeys;
  b: TrafficKeys;
  keys: { initiator: SessionKeys; responder: SessionKeys };
}

/** a = initiator, b = responder, with crossed indices. */
function sides(backend: CryptoBackend, options: { rejectAfter?: number; vectorIndex?: number; backendB?: CryptoBackend } = {}): Sides {
  const keys = sessionKeys(backend, options.vectorIndex ?? 0);
  const reject = options.rejectAfter ?? REJECT_AFTER_MESSAGES;
  const a = new TrafficKeys(backend, copyKeys(keys.initiator), INITIATOR_INDEX, RESPONDER_INDEX, NOW, reject);
  const b = new TrafficKeys(options.backendB ?? backend, copyKeys(keys.responder), RESPONDER_INDEX, INITIATOR_INDEX, NOW, reject);
  return { a, b, keys };
}

function seal(k: TrafficKeys, plaintext: Uint8Array): Buffer {
  const out = Buffer.alloc(plaintext.length + AEAD_OVERHEAD + 8, 0xee);
  const n = k.sealInto(out, plaintext);
  expect(n, 'sealInto length').to.equal(plaintext.length + AEAD_OVERHEAD);
  return out.subarray(0, n);
}

/** Opens into a fresh buffer; returns [code, plaintext]. */
function open(k: TrafficKeys, datagram: Uint8Array): [number, Buffer] {
  const out = Buffer.alloc(Math.max(0, datagram.length - AEAD_OVERHEAD) + 4);
  const n = k.openInto(out, datagram);
  return [n, n >= 0 ? out.subarray(0, n) : Buffer.alloc(0)];
}

describe('TrafficKeys', () => {
  it('result codes are distinct negatives', () => {
    expect(OPEN_BAD_AUTH).to.be.below(0);
    expect(OPEN_REPLAY).to.be.below(0);
    expect(OPEN_BAD_AUTH).to.not.equal(OPEN_REPLAY);
  });

  it('readU32 reads big-endian unsigned', () => {
    expect(readU32(unhex('ffffffff'), 0)).to.equal(0xffffffff);
    expect(readU32(unhex('0001020304'), 1)).to.equal(0x01020304);
    expect(readU32(unhex('80000000'), 0)).to.equal(2 ** 31);
  });

  for (const [name, load] of BACKENDS) {
    describe(`with the ${name} backend`, () => {
      const backend = load();

      it('exposes its indices and creation time', () => {
        const { a, b } = sides(backend);
        expect(a.localIndex).to.equal(INITIATOR_INDEX);
        expect(a.remoteIndex).to.equal(RESPONDER_INDEX);
        expect(b.localIndex).to.equal(RESPONDER_INDEX);
        expect(b.remoteIndex).to.equal(INITIATOR_INDEX);
        expect(a.createdAt).to.equal(NOW);
        expect(a.sent).to.equal(0);
      });

      it('a datagram sealed by one side opens on the other, both ways, and the plaintext round-trips', () => {
        const { a, b } = sides(backend);
        for (const length of [0, 1, 20, 100, 1400]) {
          const plaintext = randomBytes(length);
          const fromA = seal(a, plaintext);
          const [n1, p1] = open(b, fromA);
          expect(n1, `a->b ${length}`).to.equal(length);
          expect(hex(p1)).to.equal(hex(plaintext));
          const fromB = seal(b, plaintext);
          const [n2, p2] = open(a, fromB);
          expect(n2, `b->a ${length}`).to.equal(length);
          expect(hex(p2)).to.equal(hex(plaintext));
        }
      });

      it('the sealed datagram is nonce || ChaCha20-Poly1305 under the send key (checked with AeadKey)', () => {
        const { a, keys } = sides(backend);
        const plaintext = Buffer.from('check me independently');
        const datagram = seal(a, plaintext);
        const reference = new Uint8Array(datagram.length);
        new AeadKey(backend, keys.initiator.send).sealInto(reference, plaintext, undefined, v2Nonce(RESPONDER_INDEX, 0));
        expect(hex(datagram)).to.equal(hex(reference));
        const opened = new Uint8Array(plaintext.length);
        expect(new AeadKey(backend, keys.responder.receive).openInto(opened, datagram)).to.equal(plaintext.length);
        expect(Buffer.from(opened).toString()).to.equal('check me independently');
      });

      it('nonce = remoteIndex (u32 BE) || counter (u64 BE), counter from 0, incrementing; `sent` counts', () => {
        const { a, b } = sides(backend);
        for (let i = 0; i < 50; i++) {
          expect(a.sent).to.equal(i);
          const d = seal(a, Buffer.from(`message ${i}`));
          expect(hex(d.subarray(0, 4)), `index of ${i}`).to.equal('a1b2c3d4');
          expect(hex(d.subarray(4, 12)), `counter of ${i}`).to.equal(i.toString(16).padStart(16, '0'));
          expect(hex(d.subarray(0, 12))).to.equal(hex(v2Nonce(RESPONDER_INDEX, i)));
          expect(a.sent).to.equal(i + 1);
        }
        const d = seal(b, Buffer.from('from b'));
        expect(hex(d.subarray(0, 12))).to.equal('11223344' + '0000000000000000');
        expect(b.sent).to.equal(1);
        expect(a.sent).to.equal(50);
      });

      it('replaying the same datagram returns OPEN_REPLAY (and out-of-order delivery still works)', () => {
        const { a, b } = sides(backend);
        const d = [0, 1, 2, 3, 4].map((i) => seal(a, Buffer.from(`m${i}`)));
        expect(open(b, d[0]!)[0]).to.equal(2);
        expect(open(b, d[0]!)[0]).to.equal(OPEN_REPLAY);
        expect(open(b, d[3]!)[0]).to.equal(2);
        expect(open(b, d[1]!)[1].toString()).to.equal('m1');
        expect(open(b, d[3]!)[0]).to.equal(OPEN_REPLAY);
        expect(open(b, d[1]!)[0]).to.equal(OPEN_REPLAY);
        expect(open(b, d[2]!)[1].toString()).to.equal('m2');
        expect(open(b, d[4]!)[1].toString()).to.equal('m4');
        for (const x of d) expect(open(b, x)[0]).to.equal(OPEN_REPLAY);
      });

      it('a tampered datagram returns OPEN_BAD_AUTH and does not consume its counter', () => {
        const { a, b } = sides(backend);
        const genuine = seal(a, Buffer.from('the real one'));
        // every bit of the ciphertext and tag
        for (let bit = 12 * 8; bit < genuine.length * 8; bit += 3) {
          expect(open(b, flipBit(genuine, bit))[0], `bit ${bit}`).to.equal(OPEN_BAD_AUTH);
        }
        const [n, p] = open(b, genuine);
        expect(n).to.equal(12);
        expect(p.toString()).to.equal('the real one');
        expect(open(b, genuine)[0]).to.equal(OPEN_REPLAY);
      });

      it('the replay filter runs before authentication (cheap rejection of replays and out-of-range counters)', () => {
        const { a, b } = sides(backend, { rejectAfter: 1000 });
        const d = seal(a, Buffer.from('once'));
        expect(open(b, d)[0]).to.equal(4);
        // a corrupted copy of an already-seen counter is reported as a replay, not an auth failure
        expect(open(b, flipBit(d, 12 * 8 + 1))[0]).to.equal(OPEN_REPLAY);
        // junk claiming a counter at or past the limit is dropped by the window, before the AEAD
        const junk = Buffer.alloc(40);
        junk.writeUInt32BE(RESPONDER_INDEX, 0);
        junk.writeBigUInt64BE(1000n, 4);
        expect(open(b, junk)[0]).to.equal(OPEN_REPLAY);
        junk.writeBigUInt64BE(999n, 4);
        expect(open(b, junk)[0]).to.equal(OPEN_BAD_AUTH);
      });

      it('a forged datagram with a far-ahead counter does not move the window (no poisoning)', () => {
        const { a, b } = sides(backend);
        const d0 = seal(a, Buffer.from('zero'));
        const d1 = seal(a, Buffer.from('one'));
        // rewrite the counter of d0 to something far ahead: the nonce is authenticated, so it fails
        for (const forgedCounter of [1_000_000, 2 ** 32 + 1, 2 ** 40]) {
          const forged = Buffer.from(d0);
          forged.writeBigUInt64BE(BigInt(forgedCounter), 4);
          expect(open(b, forged)[0], `counter ${forgedCounter}`).to.equal(OPEN_BAD_AUTH);
        }
        // a flipped bit in the receiver index: also authenticated
        expect(open(b, flipBit(d0, 3))[0]).to.equal(OPEN_BAD_AUTH);
        // had the window moved to 2^40, both of these would be "too old"
        expect(open(b, d1)[1].toString()).to.equal('one');
        expect(open(b, d0)[1].toString()).to.equal('zero');
      });

      it('garbage and truncated datagrams fail without throwing and without poisoning', () => {
        const { a, b } = sides(backend);
        const genuine = seal(a, Buffer.from('survivor'));
        for (const length of [0, 1, 4, 11, 12, 27, 28]) {
          const junk = Buffer.from(genuine.subarray(0, Math.min(length, genuine.length)));
          const code = open(b, junk)[0];
          expect(code, `${length} bytes`).to.be.oneOf([OPEN_BAD_AUTH, OPEN_REPLAY]);
        }
        expect(open(b, genuine.subarray(0, genuine.length - 1))[0]).to.equal(OPEN_BAD_AUTH);
        expect(open(b, Buffer.concat([genuine, Buffer.of(0)]))[0]).to.equal(OPEN_BAD_AUTH);
        expect(open(b, genuine)[1].toString()).to.equal('survivor');
      });

      it('reflection: a datagram fed back to its own sender fails with OPEN_BAD_AUTH', () => {
        const { a, b } = sides(backend);
        const fromA = seal(a, Buffer.from('to b'));
        expect(open(a, fromA)[0]).to.equal(OPEN_BAD_AUTH);
        const fromB = seal(b, Buffer.from('to a'));
        expect(open(b, fromB)[0]).to.equal(OPEN_BAD_AUTH);
        // the failed reflections did not consume counter 0 on either side
        expect(open(b, fromA)[1].toString()).to.equal('to b');
        expect(open(a, fromB)[1].toString()).to.equal('to a');
      });

      it('keys from a different session fail', () => {
        const s0 = sides(backend, { vectorIndex: 0 });
        const s1 = sides(backend, { vectorIndex: 1 });
        const d = seal(s0.a, Buffer.from('session 0'));
        expect(open(s1.b, d)[0]).to.equal(OPEN_BAD_AUTH);
        expect(open(s1.a, d)[0]).to.equal(OPEN_BAD_AUTH);
        // fresh random session with the same indices
        const x = new CommEncryptor({ backend });
        const y = new CommEncryptor({ backend });
        const fresh = new TrafficKeys(backend, y.deriveSessionKeys(x.publicKey, 'responder'), RESPONDER_INDEX, INITIATOR_INDEX, NOW);
        expect(open(fresh, d)[0]).to.equal(OPEN_BAD_AUTH);
        expect(open(s0.b, d)[1].toString()).to.equal('session 0');
      });

      it('a seed-protocol key (deriveSharedSecret) cannot open or forge version-2 datagrams', () => {
        const { a, b, keys } = sides(backend);
        const v = fixture.comm_encryptor[0]!;
        const seed = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
        seed.deriveSharedSecret(unhex(v.public_b));
        const d = seal(a, Buffer.from('v2'));
        expect(() => seed.decrypt(d)).to.throw();
        const forged = new Uint8Array(2 + AEAD_OVERHEAD);
        seed.encryptInto(forged, Buffer.from('v1'), new Uint8Array(0), v2Nonce(RESPONDER_INDEX, 5));
        expect(open(b, forged)[0]).to.equal(OPEN_BAD_AUTH);
        expect(open(b, d)[1].toString()).to.equal('v2');
        expect(keys.initiator.send).to.have.length(32);
      });

      it('rejectAfterMessages = 3: the 4th sealInto returns -1 and writes nothing; `sent` stops at 3', () => {
        const { a, b } = sides(backend, { rejectAfter: 3 });
        const sealed: Buffer[] = [];
        for (let i = 0; i < 3; i++) {
          const out = Buffer.alloc(64, 0xee);
          const n = a.sealInto(out, Buffer.from(`m${i}`));
          expect(n).to.equal(2 + AEAD_OVERHEAD);
          sealed.push(Buffer.from(out.subarray(0, n)));
          expect(a.sent).to.equal(i + 1);
        }
        for (let attempt = 0; attempt < 3; attempt++) {
          const out = Buffer.alloc(64, 0xee);
          expect(a.sealInto(out, Buffer.from('m3'))).to.equal(-1);
          expect(hex(out), 'nothing written').to.equal('ee'.repeat(64));
          expect(a.sent).to.equal(3);
        }
        sealed.forEach((d, i) => {
          expect(open(b, d)[1].toString()).to.equal(`m${i}`);
        });
      });

      it('the receive side rejects counters at or past rejectAfterMessages, even if authentic', () => {
        const { b, keys } = sides(backend, { rejectAfter: 3 });
        const sender = new AeadKey(backend, keys.initiator.send);
        const make = (counter: number, text: string): Uint8Array => {
          const out = new Uint8Array(text.length + AEAD_OVERHEAD);
          sender.sealInto(out, Buffer.from(text), undefined, v2Nonce(RESPONDER_INDEX, counter));
          return out;
        };
        expect(open(b, make(3, 'at limit'))[0]).to.equal(OPEN_REPLAY);
        expect(open(b, make(2 ** 32, 'hi word'))[0]).to.equal(OPEN_REPLAY);
        expect(open(b, make(2, 'below'))[1].toString()).to.equal('below');
      });

      it('counters above 2^32 in the nonce are read as 64-bit values', () => {
        const { b, keys } = sides(backend);
        const sender = new AeadKey(backend, keys.initiator.send);
        const make = (counter: number, text: string): Uint8Array => {
          const out = new Uint8Array(text.length + AEAD_OVERHEAD);
          sender.sealInto(out, Buffer.from(text), undefined, v2Nonce(RESPONDER_INDEX, counter));
          return out;
        };
        const hi = make(2 ** 32 + 5, 'high');
        const lo = make(5, 'low');
        expect(open(b, hi)[1].toString()).to.equal('high');
        expect(open(b, hi)[0]).to.equal(OPEN_REPLAY);
        // 5 is 2^32 behind the newest: far outside the window, not confused with 2^32 + 5
        expect(2 ** 32).to.be.above(REPLAY_WINDOW_SIZE);
        expect(open(b, lo)[0]).to.equal(OPEN_REPLAY);
        expect(open(b, make(2 ** 32 + 4, 'just behind'))[1].toString()).to.equal('just behind');
        expect(open(b, make(2 ** 32 + 5 - REPLAY_WINDOW_SIZE, 'too old'))[0]).to.equal(OPEN_REPLAY);
      });

      it('wipe() makes subsequent opens fail', () => {
        const { a, b } = sides(backend);
        const before = seal(a, Buffer.from('before'));
        const after = seal(a, Buffer.from('after'));
        expect(open(b, before)[1].toString()).to.equal('before');
        b.wipe();
        expect(open(b, after)[0]).to.equal(OPEN_BAD_AUTH);
        // a wiped sender no longer produces datagrams the peer accepts
        const c = sides(backend);
        c.a.wipe();
        const out = Buffer.alloc(64);
        const n = c.a.sealInto(out, Buffer.from('x'));
        expect(n, 'a wiped trafficKeys still writes a datagram').to.equal(1 + AEAD_OVERHEAD);
        expect(open(c.b, out.subarray(0, n))[0]).to.equal(OPEN_BAD_AUTH);
        // and the caller's key arrays were copied, not wiped
        expect(hex(c.keys.initiator.send)).to.not.equal('00'.repeat(32));
      });

      it('property: any in-window delivery order of sealed datagrams opens each exactly once', function () {
        this.timeout(30_000);
        fc.assert(
          fc.property(
            fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 30 }),
            fc.array(fc.nat(), { maxLength: 60 }),
            (plaintexts, order) => {
              const { a, b } = sides(backend);
              const datagrams = plaintexts.map((p) => seal(a, p));
              const opened = new Set<number>();
              for (const pick of order) {
                const i = pick % datagrams.length;
                const [n, p] = open(b, datagrams[i]!);
                if (opened.has(i)) {
                  expect(n, `replay of ${i}`).to.equal(OPEN_REPLAY);
                } else {
                  expect(n, `first delivery of ${i}`).to.equal(plaintexts[i]!.length);
                  expect(hex(p)).to.equal(hex(plaintexts[i]!));
                  opened.add(i);
                }
              }
            },
          ),
          { numRuns: 100 },
        );
      });
    });
  }

  it('the native and js backends interoperate', () => {
    const { a, b } = sides(loadSodiumBackend(), { backendB: loadNobleBackend() });
    expect(open(b, seal(a, Buffer.from('native to js')))[1].toString()).to.equal('native to js');
    expect(open(a, seal(b, Buffer.from('js to native')))[1].toString()).to.equal('js to native');
  });
});

describe('TrafficKeys takes its keys', () => {
  it('wipes the caller\'s key buffers once it has its own copy', () => {
    const backend = loadNobleBackend();
    const { initiator } = sessionKeys(backend);
    new TrafficKeys(backend, initiator, INITIATOR_INDEX, RESPONDER_INDEX, NOW);
    for (const k of [initiator.send, initiator.receive, initiator.confirm]) expect(k.every((b) => b === 0)).to.equal(true);
  });
});

describe('CommEncryptor.deriveSessionKeys', () => {
  for (const [name, load] of BACKENDS) {
    describe(`with the ${name} backend`, () => {
      const backend = load();

      fixture.comm_encryptor.forEach((v, index) => {
        it(`vector ${index}: initiator.send = responder.receive and vice versa; send != receive`, () => {
          const { initiator, responder } = sessionKeys(backend, index);
          for (const k of [initiator.send, initiator.receive, responder.send, responder.receive]) {
            expect(k.length).to.equal(32);
          }
          expect(hex(initiator.send)).to.equal(hex(responder.receive));
          expect(hex(initiator.receive)).to.equal(hex(responder.send));
          expect(hex(initiator.send)).to.not.equal(hex(initiator.receive));
          expect(hex(initiator.send)).to.not.equal('00'.repeat(32));
          expect(hex(initiator.receive)).to.not.equal('00'.repeat(32));
        });

        it(`vector ${index}: both keys differ from the seed HKDF key of deriveSharedSecret`, () => {
          const { initiator, responder } = sessionKeys(backend, index);
          const shared = new Uint8Array(32);
          expect(backend.x25519(shared, unhex(v.secret_a), unhex(v.public_b))).to.equal(true);
          const seedKey = hex(hkdfSha256(shared, HKDF_INFO, HKDF_KEY_BYTES));
          expect(seedKey).to.equal(v.derived_key);
          for (const k of [initiator.send, initiator.receive, responder.send, responder.receive]) {
            expect(hex(k)).to.not.equal(seedKey);
            expect(hex(k)).to.not.equal(v.shared_secret);
          }
          // and functionally: the seed key opens nothing sealed under the session keys
          const seed = CommEncryptor.fromSecretKey(unhex(v.secret_b), { backend });
          seed.deriveSharedSecret(unhex(v.public_a));
          const out = new Uint8Array(5 + AEAD_OVERHEAD);
          new AeadKey(backend, initiator.send).sealInto(out, Buffer.from('hello'));
          expect(() => seed.decrypt(out)).to.throw();
        });

        it(`vector ${index}: deterministic for the same key pairs`, () => {
          const x = sessionKeys(backend, index);
          const y = sessionKeys(backend, index);
          expect(hex(x.initiator.send)).to.equal(hex(y.initiator.send));
          expect(hex(x.initiator.receive)).to.equal(hex(y.initiator.receive));
        });
      });

      it('a different peer public key changes both keys', () => {
        const v0 = fixture.comm_encryptor[0]!;
        const v1 = fixture.comm_encryptor[1]!;
        const a = CommEncryptor.fromSecretKey(unhex(v0.secret_a), { backend });
        const k0 = a.deriveSessionKeys(unhex(v0.public_b), 'initiator');
        const k1 = a.deriveSessionKeys(unhex(v1.public_b), 'initiator');
        expect(hex(k0.send)).to.not.equal(hex(k1.send));
        expect(hex(k0.receive)).to.not.equal(hex(k1.receive));
        const r0 = a.deriveSessionKeys(unhex(v0.public_b), 'responder');
        const r1 = a.deriveSessionKeys(unhex(v1.public_b), 'responder');
        expect(hex(r0.send)).to.not.equal(hex(r1.send));
        expect(hex(r0.receive)).to.not.equal(hex(r1.receive));
      });

      it('the transcript order matters: two sides both claiming "initiator" do not get matching keys', () => {
        const v = fixture.comm_encryptor[0]!;
        const a = CommEncryptor.fromSecretKey(unhex(v.secret_a), { backend });
        const b = CommEncryptor.fromSecretKey(unhex(v.secret_b), { backend });
        const ka = a.deriveSessionKeys(b.publicKey, 'initiator');
        const kb = b.deriveSessionKeys(a.publicKey, 'initiator');
        expect(hex(ka.send)).to.not.equal(hex(kb.receive));
        expect(hex(ka.receive)).to.not.equal(hex(kb.send));
        const asResponder = a.deriveSessionKeys(b.publicKey, 'responder');
        expect(hex(asResponder.send)).to.not.equal(hex(ka.receive));
        expect(hex(asResponder.receive)).to.not.equal(hex(ka.send));
      });
    });
  }
});
