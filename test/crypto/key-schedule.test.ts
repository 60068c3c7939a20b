import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { AEAD_KEY_BYTES, HKDF_V2_INFO } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { hkdfSha256 } from '../../lib/crypto/hkdf.js';
import { sessionKeySchedule, type SessionKeyContext, type SessionKeys, wipeSessionKeys } from '../../lib/crypto/key-schedule.js';
import { hex } from '../helpers/fixtures.js';

interface Inputs {
  secret: Uint8Array;
  initiator: Uint8Array;
  responder: Uint8Array;
  context: SessionKeyContext;
}

function baseInputs(): Inputs {
  return {
    secret: randomBytes(32),
    initiator: randomBytes(32),
    responder: randomBytes(32),
    context: { psk: randomBytes(32), transcript: randomBytes(76), extraSecrets: [randomBytes(32), randomBytes(32)] },
  };
}

const derive = (i: Inputs, role: 'initiator' | 'responder' = 'initiator'): SessionKeys =>
  sessionKeySchedule(i.secret, i.initiator, i.responder, role, i.context);

function flip(bytes: Uint8Array, index = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[index] = (copy[index] as number) ^ 0x01;
  return copy;
}

/** Hex of all three keys, and every key in it. */
const all = (k: SessionKeys): string[] => [hex(k.send), hex(k.receive), hex(k.confirm)];

function expectAllDifferent(a: SessionKeys, b: SessionKeys, context: string): void {
  const before = all(a);
  const after = all(b);
  for (let i = 0; i < 3; i++) {
    expect(after[i], `${context}: key ${['send', 'receive', 'confirm'][i]} unchanged`).to.not.equal(before[i]);
    // and no key of one schedule reappears anywhere in the other
    expect(before, `${context}: key ${i} reappears`).to.not.include(after[i]);
  }
}

describe('sessionKeySchedule', () => {
  it('returns three 32-byte keys', () => {
    const k = derive(baseInputs());
    for (const key of [k.send, k.receive, k.confirm]) expect(key.length).to.equal(AEAD_KEY_BYTES);
  });

  it('initiator and responder agree: initiator send = responder receive and vice versa, same confirm key', () => {
    for (const context of [{}, baseInputs().context, { psk: randomBytes(32) }, { transcript: randomBytes(10) }, { extraSecrets: [randomBytes(32)] }]) {
      const i = { ...baseInputs(), context };
      const a = derive(i, 'initiator');
      const b = derive(i, 'responder');
      expect(hex(a.send)).to.equal(hex(b.receive));
      expect(hex(a.receive)).to.equal(hex(b.send));
      expect(hex(a.confirm)).to.equal(hex(b.confirm));
    }
  });

  it('agrees between two CommEncryptors deriving from a real X25519 exchange', () => {
    const a = new CommEncryptor();
    const b = new CommEncryptor();
    const context = { psk: randomBytes(32), transcript: randomBytes(20) };
    const ka = a.deriveSessionKeys(b.publicKey, 'initiator', context);
    const kb = b.deriveSessionKeys(a.publicKey, 'responder', context);
    expect(hex(ka.send)).to.equal(hex(kb.receive));
    expect(hex(ka.receive)).to.equal(hex(kb.send));
    expect(hex(ka.confirm)).to.equal(hex(kb.confirm));
  });

  it('is HKDF-SHA256(psk || secret || extras, salt = SHA-256(I || R || transcript), v2 info, 96 bytes)', () => {
    const i = baseInputs();
    const salt = createHash('sha256').update(i.initiator).update(i.responder).update(i.context.transcript!).digest();
    const okm = hkdfSha256(Buffer.concat([i.context.psk!, i.secret, ...i.context.extraSecrets!]), HKDF_V2_INFO, 96, salt);
    const k = derive(i);
    expect(hex(k.send)).to.equal(hex(okm.subarray(0, 32)));
    expect(hex(k.receive)).to.equal(hex(okm.subarray(32, 64)));
    expect(hex(k.confirm)).to.equal(hex(okm.subarray(64, 96)));
  });

  it('the three keys differ from one another', () => {
    for (let round = 0; round < 20; round++) {
      const k = derive(baseInputs());
      const keys = all(k);
      expect(new Set(keys).size).to.equal(3);
      for (const key of keys) expect(key).to.not.equal('00'.repeat(32));
    }
  });

  it('is deterministic', () => {
    const i = baseInputs();
    expect(all(derive(i))).to.deep.equal(all(derive(i)));
  });

  describe('any change of an input changes all keys', () => {
    const i = baseInputs();
    const base = derive(i);
    const [e1, e2] = i.context.extraSecrets as [Uint8Array, Uint8Array];
    const variants: Array<[string, Inputs]> = [
      ['ephemeral secret (one bit)', { ...i, secret: flip(i.secret, 31) }],
      ['ephemeral secret (other)', { ...i, secret: randomBytes(32) }],
      ['initiator public key', { ...i, initiator: flip(i.initiator, 5) }],
      ['responder public key', { ...i, responder: flip(i.responder, 0) }],
      ['public keys swapped', { ...i, initiator: i.responder, responder: i.initiator }],
      ['transcript (one bit)', { ...i, context: { ...i.context, transcript: flip(i.context.transcript!, 75) } }],
      ['transcript truncated', { ...i, context: { ...i.context, transcript: i.context.transcript!.subarray(0, 75) } }],
      ['transcript absent', { ...i, context: { ...i.context, transcript: undefined } }],
      ['psk (one bit)', { ...i, context: { ...i.context, psk: flip(i.context.psk!, 10) } }],
      ['psk absent', { ...i, context: { ...i.context, psk: undefined } }],
      ['extra secret changed', { ...i, context: { ...i.context, extraSecrets: [e1, flip(e2, 3)] } }],
      ['extra secrets reordered', { ...i, context: { ...i.context, extraSecrets: [e2, e1] } }],
      ['extra secret dropped', { ...i, context: { ...i.context, extraSecrets: [e1] } }],
      ['extra secret added', { ...i, context: { ...i.context, extraSecrets: [e1, e2, randomBytes(32)] } }],
      ['extra secrets absent', { ...i, context: { ...i.context, extraSecrets: undefined } }],
    ];
    for (const [what, changed] of variants) {
      it(what, () => {
        expectAllDifferent(base, derive(changed), what);
        expectAllDifferent(derive(i, 'responder'), derive(changed, 'responder'), `${what} (responder)`);
      });
    }

    it('random single-bit flips of any input (fast-check)', () => {
      const fields = ['secret', 'initiator', 'responder', 'psk', 'transcript', 'extra0', 'extra1'] as const;
      fc.assert(fc.property(fc.constantFrom(...fields), fc.integer({ min: 0, max: 32 * 8 - 1 }), (field, bit) => {
        const byte = bit >> 3;
        const mask = 1 << (bit & 7);
        const flipBit = (b: Uint8Array): Buffer => {
          const c = Buffer.from(b);
          c[byte] = (c[byte] as number) ^ mask;
          return c;
        };
        const ctx = i.context;
        const changed: Inputs = {
          secret: field === 'secret' ? flipBit(i.secret) : i.secret,
          initiator: field === 'initiator' ? flipBit(i.initiator) : i.initiator,
          responder: field === 'responder' ? flipBit(i.responder) : i.responder,
          context: {
            psk: field === 'psk' ? flipBit(ctx.psk!) : ctx.psk,
            transcript: field === 'transcript' ? flipBit(ctx.transcript!) : ctx.transcript,
            extraSecrets: [field === 'extra0' ? flipBit(e1) : e1, field === 'extra1' ? flipBit(e2) : e2],
          },
        };
        expectAllDifferent(base, derive(changed), `${field} bit ${bit}`);
      }), { numRuns: 200 });
    });
  });

  it('does not modify its inputs', () => {
    const i = baseInputs();
    const snapshot = [hex(i.secret), hex(i.initiator), hex(i.responder), hex(i.context.psk!), hex(i.context.transcript!),
      ...i.context.extraSecrets!.map(hex)];
    derive(i);
    expect([hex(i.secret), hex(i.initiator), hex(i.responder), hex(i.context.psk!), hex(i.context.transcript!),
      ...i.context.extraSecrets!.map(hex)]).to.deep.equal(snapshot);
  });
});

describe('wipeSessionKeys', () => {
  it('zeroes all three keys', () => {
    for (const role of ['initiator', 'responder'] as const) {
      const k = derive(baseInputs(), role);
      for (const key of [k.send, k.receive, k.confirm]) expect(key.some((b) => b !== 0)).to.equal(true);
      wipeSessionKeys(k);
      for (const [name, key] of Object.entries(k)) {
        expect(hex(key as Uint8Array), name).to.equal('00'.repeat(32));
        expect((key as Uint8Array).length, name).to.equal(32);
      }
    }
  });

  it('zeroes separately allocated keys too', () => {
    const k: SessionKeys = { send: randomBytes(32), receive: randomBytes(32), confirm: randomBytes(32) };
    wipeSessionKeys(k);
    expect(all(k)).to.deep.equal(['00'.repeat(32), '00'.repeat(32), '00'.repeat(32)]);
  });
});
