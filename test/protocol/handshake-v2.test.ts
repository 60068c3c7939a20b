import { CONNECT_PADDED_LENGTH } from '../../lib/constants.js';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { PROTOCOL_VERSION } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import type { SessionKeys } from '../../lib/crypto/key-schedule.js';
import { toBase64Url } from '../../lib/encoding.js';
import { LowOrderKeyError } from '../../lib/errors.js';
import { encodeHandshake, type HandshakeFields, type HandshakeMessage, parseHandshake } from '../../lib/protocol/handshake.js';
import { complete, respond } from '../../lib/net/handshake/key-agreement.js';
import { encodeCookieReply, encodeInitiation, encodeResponse, type Initiation, readCookieReply, readInitiation, readResponse, type Response } from '../../lib/protocol/handshake-v2.js';
import { hex, unhex } from '../helpers/fixtures.js';

const CLIENT_INDEX = 0x11223344;
const SERVER_INDEX = 0xa1b2c3d4;
const MAX_INDEX = 0xffff_ffff;

const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(unhex);

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/** Everything one handshake needs: the four key pairs, the two sides' inputs. */
interface Parties {
  clientEphemeral: CommEncryptor;
  serverEphemeral: CommEncryptor;
  serverIdentity: CommEncryptor;
  clientIdentity: CommEncryptor | undefined;
  init: Initiation;
}

function parties(withClientIdentity: boolean): Parties {
  const clientEphemeral = new CommEncryptor();
  const clientIdentity = withClientIdentity ? new CommEncryptor() : undefined;
  const init: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: clientEphemeral.publicKey, index: CLIENT_INDEX };
  if (clientIdentity) init.clientStatic = clientIdentity.publicKey;
  return { clientEphemeral, serverEphemeral: new CommEncryptor(), serverIdentity: new CommEncryptor(), clientIdentity, init };
}

const copyKeys = (k: SessionKeys): SessionKeys =>
  ({ send: Uint8Array.from(k.send), receive: Uint8Array.from(k.receive), confirm: Uint8Array.from(k.confirm) });

function expectMatching(server: SessionKeys, client: SessionKeys | null, context: string): void {
  expect(client, `${context}: complete() returned null`).to.not.equal(null);
  expect(hex(client!.send), `${context}: client send == server receive`).to.equal(hex(server.receive));
  expect(hex(client!.receive), `${context}: client receive == server send`).to.equal(hex(server.send));
  expect(hex(client!.confirm), `${context}: confirm keys`).to.equal(hex(server.confirm));
  expect(hex(client!.send), `${context}: directions differ`).to.not.equal(hex(client!.receive));
  expect(hex(client!.send), `${context}: keys are not zero`).to.not.equal('00'.repeat(32));
}

function flipByte(bytes: Uint8Array, i: number, mask = 0x01): Buffer {
  const copy = Buffer.from(bytes);
  copy[i] = (copy[i] as number) ^ mask;
  return copy;
}

/** parseHandshake of an encoded message, which must succeed. */
function parsed(text: string, cmd: HandshakeMessage['cmd']): HandshakeMessage {
  const result = parseHandshake(utf8(text), cmd);
  if (!result.ok) throw new Error(`parseHandshake rejected ${text}: ${result.reason}`);
  return result.message;
}

const connectMessage = (fields: HandshakeFields, pubkey: Uint8Array = randomBytes(32)): HandshakeMessage =>
  parsed(encodeHandshake('connect', pubkey, fields), 'connect');
const connectedMessage = (fields: HandshakeFields, pubkey: Uint8Array = randomBytes(32)): HandshakeMessage =>
  parsed(encodeHandshake('connected', pubkey, fields), 'connected');

describe('handshake v2', () => {
  describe('respond() / complete()', () => {
    for (const withIdentity of [false, true]) {
      for (const withPsk of [false, true]) {
        const name = `${withIdentity ? 'with' : 'without'} a client identity, ${withPsk ? 'with' : 'without'} a network key`;
        it(`round trip gives matching keys ${name}`, () => {
          for (let round = 0; round < 5; round++) {
            const p = parties(withIdentity);
            const psk = withPsk ? randomBytes(32) : undefined;
            const { keys, response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk);
            expect(hex(response.ephemeralPublic)).to.equal(hex(p.serverEphemeral.publicKey));
            expect(hex(response.serverStatic)).to.equal(hex(p.serverIdentity.publicKey));
            expect(response.index).to.equal(SERVER_INDEX);
            expect(response.confirmation.length).to.equal(16);
            const client = complete(p.init, p.clientEphemeral, response, p.clientIdentity, psk);
            expectMatching(keys, client, `${name}, round ${round}`);
          }
        });
      }
    }

    it('works through the wire encoding (encodeInitiation -> readInitiation, encodeResponse -> readResponse)', () => {
      const p = parties(true);
      const psk = randomBytes(32);
      const cookie = randomBytes(16);
      const sent: Initiation = { ...p.init, cookie };
      const received = readInitiation(parsed(encodeInitiation(sent), 'connect'));
      expect(received).to.not.equal(null);
      const { keys, response } = respond(received!, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk);
      const answer = readResponse(parsed(encodeResponse(response), 'connected'));
      expect(answer).to.not.equal(null);
      expectMatching(keys, complete(sent, p.clientEphemeral, answer!, p.clientIdentity, psk), 'over the wire');
    });

    it('different sessions get different keys', () => {
      const a = parties(false);
      const b = parties(false);
      const ka = respond(a.init, a.serverEphemeral, a.serverIdentity, SERVER_INDEX).keys;
      const kb = respond(b.init, b.serverEphemeral, b.serverIdentity, SERVER_INDEX).keys;
      expect(hex(ka.send)).to.not.equal(hex(kb.send));
      expect(hex(ka.receive)).to.not.equal(hex(kb.receive));
    });

    describe('complete() returns null', () => {
      for (const withIdentity of [false, true]) {
        const suffix = withIdentity ? ' (client with identity)' : ' (anonymous client)';

        it(`when response.serverStatic is not the identity the server used${suffix}`, () => {
          const p = parties(withIdentity);
          const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
          const other = new CommEncryptor();
          const forged: Response = { ...response, serverStatic: other.publicKey };
          expect(complete(p.init, p.clientEphemeral, forged, p.clientIdentity)).to.equal(null);
          // sanity: the unforged response is accepted
          expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity)).to.not.equal(null);
        });

        it(`when a server holding identity X signs as X but claims Y even with a recomputed transcript${suffix}`, () => {
          // A server (or man in the middle) holding only X cannot answer for Y: it must compute
          // es = DH(E_c, Y), which needs Y's secret.
          const p = parties(withIdentity);
          const y = new CommEncryptor();
          const byX = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX).response;
          expect(complete(p.init, p.clientEphemeral, { ...byX, serverStatic: y.publicKey }, p.clientIdentity)).to.equal(null);
          // the honest Y answer works
          const byY = respond(p.init, p.serverEphemeral, y, SERVER_INDEX).response;
          expect(complete(p.init, p.clientEphemeral, byY, p.clientIdentity)).to.not.equal(null);
        });

        it(`when the client index differs between the two sides${suffix}`, () => {
          const p = parties(withIdentity);
          const { response } = respond({ ...p.init, index: CLIENT_INDEX + 1 }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
          expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity)).to.equal(null);
        });

        it(`when the server index differs between the two sides${suffix}`, () => {
          const p = parties(withIdentity);
          const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
          for (const index of [SERVER_INDEX + 1, SERVER_INDEX ^ 0x8000_0000, 0, MAX_INDEX]) {
            expect(complete(p.init, p.clientEphemeral, { ...response, index }, p.clientIdentity), `index ${index}`).to.equal(null);
          }
        });

        it(`when the version differs between the two sides (3 vs 2, 2 vs 3)${suffix}`, () => {
          const p = parties(withIdentity);
          const server3 = respond({ ...p.init, version: 3 }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX).response;
          expect(complete({ ...p.init, version: 2 }, p.clientEphemeral, server3, p.clientIdentity)).to.equal(null);
          const server2 = respond({ ...p.init, version: 2 }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX).response;
          expect(complete({ ...p.init, version: 3 }, p.clientEphemeral, server2, p.clientIdentity)).to.equal(null);
          // both on 3: fine
          expect(complete({ ...p.init, version: 3 }, p.clientEphemeral, server3, p.clientIdentity)).to.not.equal(null);
        });

        it(`when the server ephemeral in the response is replaced${suffix}`, () => {
          const p = parties(withIdentity);
          const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
          const forged = { ...response, ephemeralPublic: new CommEncryptor().publicKey };
          expect(complete(p.init, p.clientEphemeral, forged, p.clientIdentity)).to.equal(null);
        });

        it(`when the server saw another client ephemeral${suffix}`, () => {
          const p = parties(withIdentity);
          const { response } = respond({ ...p.init, ephemeralPublic: new CommEncryptor().publicKey }, p.serverEphemeral,
            p.serverIdentity, SERVER_INDEX);
          expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity)).to.equal(null);
        });

        it(`when the network key differs or is missing on one side${suffix}`, () => {
          const p = parties(withIdentity);
          const pskA = randomBytes(32);
          const pskB = flipByte(pskA, 31);
          const cases: Array<[string, Uint8Array | undefined, Uint8Array | undefined]> = [
            ['different keys', pskA, pskB],
            ['server only', pskA, undefined],
            ['client only', undefined, pskA],
            ['unrelated keys', pskA, randomBytes(32)],
          ];
          for (const [what, serverPsk, clientPsk] of cases) {
            const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, serverPsk);
            expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity, clientPsk), what).to.equal(null);
          }
          const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, pskA);
          expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity, Buffer.from(pskA)), 'same key').to.not.equal(null);
        });

        it(`when the confirmation is altered in any byte${suffix}`, () => {
          const p = parties(withIdentity);
          const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
          expect(response.confirmation.length).to.equal(16);
          for (let i = 0; i < response.confirmation.length; i++) {
            for (const mask of [0x01, 0x80, 0xff]) {
              const forged = { ...response, confirmation: flipByte(response.confirmation, i, mask) };
              expect(complete(p.init, p.clientEphemeral, forged, p.clientIdentity), `byte ${i} ^ ${mask}`).to.equal(null);
            }
          }
          expect(complete(p.init, p.clientEphemeral, { ...response, confirmation: Buffer.alloc(16) }, p.clientIdentity)).to.equal(null);
          expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity)).to.not.equal(null);
        });
      }

      it('when the server saw a client static the client did not send', () => {
        const p = parties(false);
        const injected = new CommEncryptor();
        const { response } = respond({ ...p.init, clientStatic: injected.publicKey }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
        expect(complete(p.init, p.clientEphemeral, response, undefined)).to.equal(null);
        // even if the client is handed that identity afterwards but its own transcript lacks it
        expect(complete(p.init, p.clientEphemeral, response, injected)).to.equal(null);
      });

      it('when the client sent a client static that was stripped before the server', () => {
        const p = parties(true);
        const stripped: Initiation = { version: p.init.version, ephemeralPublic: p.init.ephemeralPublic, index: p.init.index };
        const { response } = respond(stripped, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
        expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity)).to.equal(null);
      });

      it('when the server saw a different client static than the client sent', () => {
        const p = parties(true);
        const { response } = respond({ ...p.init, clientStatic: new CommEncryptor().publicKey }, p.serverEphemeral,
          p.serverIdentity, SERVER_INDEX);
        expect(complete(p.init, p.clientEphemeral, response, p.clientIdentity)).to.equal(null);
      });

      it('when the client claims a static key whose secret it does not hold', () => {
        // transcript claims C, but the se DH is done with another secret
        const p = parties(true);
        const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
        expect(complete(p.init, p.clientEphemeral, response, new CommEncryptor())).to.equal(null);
      });
    });

    describe('keys change when a transcript field or input changes', () => {
      it('index, version, client static, server identity, network key, ephemerals', () => {
        const p = parties(true);
        const psk = randomBytes(32);
        const base = copyKeys(respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk).keys);
        const variants: Array<[string, () => SessionKeys]> = [
          ['client index', () => respond({ ...p.init, index: CLIENT_INDEX + 1 }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk).keys],
          ['server index', () => respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX + 1, psk).keys],
          ['version', () => respond({ ...p.init, version: 3 }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk).keys],
          ['client static absent', () => respond({ version: 2, ephemeralPublic: p.init.ephemeralPublic, index: CLIENT_INDEX },
            p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk).keys],
          ['other client static', () => respond({ ...p.init, clientStatic: new CommEncryptor().publicKey },
            p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk).keys],
          ['server identity', () => respond(p.init, p.serverEphemeral, new CommEncryptor(), SERVER_INDEX, psk).keys],
          ['network key changed', () => respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, flipByte(psk, 0)).keys],
          ['network key absent', () => respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX).keys],
          ['server ephemeral', () => respond(p.init, new CommEncryptor(), p.serverIdentity, SERVER_INDEX, psk).keys],
          ['client ephemeral', () => respond({ ...p.init, ephemeralPublic: new CommEncryptor().publicKey },
            p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk).keys],
        ];
        // the same inputs give the same keys (so the differences below are caused by the change)
        const again = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX, psk).keys;
        expect(hex(again.send)).to.equal(hex(base.send));
        expect(hex(again.confirm)).to.equal(hex(base.confirm));
        for (const [what, make] of variants) {
          const k = make();
          expect(hex(k.send), `${what}: send`).to.not.equal(hex(base.send));
          expect(hex(k.receive), `${what}: receive`).to.not.equal(hex(base.receive));
          expect(hex(k.confirm), `${what}: confirm`).to.not.equal(hex(base.confirm));
        }
      });
    });

    describe('LowOrderKeyError', () => {
      it('respond() throws it for a low-order client ephemeral', () => {
        const p = parties(false);
        for (const point of LOW_ORDER_POINTS) {
          expect(() => respond({ ...p.init, ephemeralPublic: point }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX), hex(point))
            .to.throw(LowOrderKeyError);
        }
      });

      it('respond() throws it for a low-order client static', () => {
        const p = parties(true);
        for (const point of LOW_ORDER_POINTS) {
          expect(() => respond({ ...p.init, clientStatic: point }, p.serverEphemeral, p.serverIdentity, SERVER_INDEX), hex(point))
            .to.throw(LowOrderKeyError);
        }
        // and the same encryptors still work for a good initiation afterwards
        const { keys, response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
        expectMatching(keys, complete(p.init, p.clientEphemeral, response, p.clientIdentity), 'after the error');
      });

      it('complete() throws it for a low-order server static or server ephemeral', () => {
        const p = parties(true);
        const { response } = respond(p.init, p.serverEphemeral, p.serverIdentity, SERVER_INDEX);
        for (const point of LOW_ORDER_POINTS) {
          expect(() => complete(p.init, p.clientEphemeral, { ...response, serverStatic: point }, p.clientIdentity)).to.throw(LowOrderKeyError);
          expect(() => complete(p.init, p.clientEphemeral, { ...response, ephemeralPublic: point }, p.clientIdentity)).to.throw(LowOrderKeyError);
        }
      });
    });
  });

  describe('encodeInitiation / readInitiation', () => {
    const initiationArb = fc.record({
      version: fc.integer({ min: 2, max: MAX_INDEX }),
      ephemeralPublic: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      index: fc.integer({ min: 0, max: MAX_INDEX }),
      clientStatic: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
      cookie: fc.option(fc.uint8Array({ minLength: 1, maxLength: 32 }), { nil: undefined }),
    });

    it('pads to exactly CONNECT_PADDED_LENGTH characters, and parses back with every field equal', () => {
      fc.assert(fc.property(initiationArb, (init) => {
        const text = encodeInitiation(init);
        expect(text.length).to.equal(CONNECT_PADDED_LENGTH);
        expect(Buffer.byteLength(text)).to.equal(CONNECT_PADDED_LENGTH);
        const back = readInitiation(parsed(text, 'connect'));
        expect(back).to.not.equal(null);
        expect(back!.version).to.equal(init.version);
        expect(back!.index).to.equal(init.index);
        expect(hex(back!.ephemeralPublic)).to.equal(hex(init.ephemeralPublic));
        expect(back!.clientStatic === undefined ? undefined : hex(back!.clientStatic))
          .to.equal(init.clientStatic === undefined ? undefined : hex(init.clientStatic));
        expect(back!.cookie === undefined ? undefined : hex(back!.cookie))
          .to.equal(init.cookie === undefined ? undefined : hex(init.cookie));
      }), { numRuns: 300 });
    });

    it('pads the largest possible initiation (max version and index, cid, 32-byte cookie) to exactly the length', () => {
      const init: Initiation = {
        version: MAX_INDEX, ephemeralPublic: randomBytes(32), index: MAX_INDEX, clientStatic: randomBytes(32), cookie: randomBytes(32),
      };
      const text = encodeInitiation(init);
      expect(text.length).to.equal(CONNECT_PADDED_LENGTH);
      const fields = JSON.parse(text) as Record<string, unknown>;
      expect(fields.cmd).to.equal('connect');
      expect(fields.v).to.equal(MAX_INDEX);
      expect(fields.idx).to.equal(MAX_INDEX);
      expect(fields.cid).to.equal(toBase64Url(init.clientStatic!));
      expect(fields.cookie).to.equal(toBase64Url(init.cookie!));
      expect(fields.pad).to.match(/^\.+$/);
    });

    it('the smallest initiation is padded too (pad only dots)', () => {
      const text = encodeInitiation({ version: 2, ephemeralPublic: randomBytes(32), index: 0 });
      expect(text.length).to.equal(CONNECT_PADDED_LENGTH);
      const fields = JSON.parse(text) as Record<string, unknown>;
      expect(fields).to.not.have.property('cid');
      expect(fields).to.not.have.property('cookie');
      expect(fields.pad).to.match(/^\.+$/);
    });

    const good = (): Record<string, string | number> => ({ v: 2, idx: 7 });

    it('accepts a minimal valid connect (sanity for the rejections below)', () => {
      const init = readInitiation(connectMessage(good()));
      expect(init).to.not.equal(null);
      expect(init!.version).to.equal(2);
      expect(init!.index).to.equal(7);
      expect(init!.clientStatic).to.equal(undefined);
      expect(init!.cookie).to.equal(undefined);
      expect(readInitiation(connectMessage({ v: 9, idx: MAX_INDEX }))).to.not.equal(null);
      expect(readInitiation(connectMessage({ v: 2, idx: 0, cookie: toBase64Url(randomBytes(32)) }))!.cookie!.length).to.equal(32);
    });

    it('rejects a seed (version-less) connect', () => {
      expect(readInitiation(connectMessage({}))).to.equal(null);
      expect(readInitiation(connectMessage({ idx: 1 }))).to.equal(null);
    });

    it('rejects v < 2 and non-integer v', () => {
      for (const v of [1, 0, -1, -2, 1.5, 2.5]) {
        expect(readInitiation(connectMessage({ ...good(), v })), `v=${v}`).to.equal(null);
      }
      expect(readInitiation(connectMessage({ ...good(), v: '2' })), 'v="2"').to.equal(null);
      expect(readInitiation(connectMessage({ ...good(), v: 2 ** 32 })), 'v=2^32').to.equal(null);
    });

    it('rejects a non-integer, negative, too large or missing idx', () => {
      for (const idx of [-1, 1.5, 0.1, 2 ** 32, 2 ** 53, -(2 ** 31)]) {
        expect(readInitiation(connectMessage({ ...good(), idx })), `idx=${idx}`).to.equal(null);
      }
      expect(readInitiation(connectMessage({ ...good(), idx: '5' })), 'idx="5"').to.equal(null);
      expect(readInitiation(connectMessage({ v: 2 })), 'no idx').to.equal(null);
      expect(readInitiation(connectMessage({ ...good(), idx: MAX_INDEX })), 'idx=2^32-1 is fine').to.not.equal(null);
    });

    it('rejects a malformed cid', () => {
      const key = randomBytes(32);
      const bad: Array<string | number> = [
        '', 'abc', toBase64Url(randomBytes(31)), toBase64Url(randomBytes(33)), key.toString('base64url'), // unpadded
        toBase64Url(key).replace(/.$/, '!'), `${toBase64Url(key)} `, 42,
      ];
      // standard-alphabet base64 with + or / is not URL-safe base64
      const std = Buffer.from(Array.from({ length: 32 }, () => 0xfb)).toString('base64');
      expect(std).to.match(/[+/]/);
      bad.push(std);
      for (const cid of bad) {
        expect(readInitiation(connectMessage({ ...good(), cid })), `cid=${JSON.stringify(cid)}`).to.equal(null);
      }
      expect(hex(readInitiation(connectMessage({ ...good(), cid: toBase64Url(key) }))!.clientStatic!)).to.equal(hex(key));
    });

    it('rejects a cookie longer than 32 bytes or not base64', () => {
      for (const cookie of [toBase64Url(randomBytes(33)), toBase64Url(randomBytes(64)), 'not base64!', 'abc', '', 'AAAA AAA', 16]) {
        expect(readInitiation(connectMessage({ ...good(), cookie })), `cookie=${JSON.stringify(cookie)}`).to.equal(null);
      }
      expect(readInitiation(connectMessage({ ...good(), cookie: toBase64Url(randomBytes(32)) }))).to.not.equal(null);
    });
  });

  describe('encodeResponse / readResponse', () => {
    const response = (index = SERVER_INDEX): Response => ({
      ephemeralPublic: randomBytes(32), index, serverStatic: randomBytes(32), confirmation: randomBytes(16),
    });

    it('round trips', () => {
      for (const index of [0, 1, SERVER_INDEX, MAX_INDEX]) {
        const r = response(index);
        const back = readResponse(parsed(encodeResponse(r), 'connected'));
        expect(back).to.not.equal(null);
        expect(back!.index).to.equal(index);
        expect(hex(back!.ephemeralPublic)).to.equal(hex(r.ephemeralPublic));
        expect(hex(back!.serverStatic)).to.equal(hex(r.serverStatic));
        expect(hex(back!.confirmation)).to.equal(hex(r.confirmation));
      }
    });

    it('is shorter than CONNECT_PADDED_LENGTH even with idx 4294967295 (no amplification)', () => {
      const text = encodeResponse(response(MAX_INDEX));
      expect(text.length).to.be.below(CONNECT_PADDED_LENGTH);
      expect(Buffer.byteLength(text)).to.be.below(CONNECT_PADDED_LENGTH);
      // and never longer than the smallest possible connect
      expect(text.length).to.be.at.most(encodeInitiation({ version: 2, ephemeralPublic: randomBytes(32), index: 0 }).length);
    });

    const fields = (): Record<string, string | number> => ({
      v: 2, idx: 5, sid: toBase64Url(randomBytes(32)), conf: toBase64Url(randomBytes(16)),
    });
    const without = (key: string): Record<string, string | number> => {
      const f = fields();
      delete f[key];
      return f;
    };

    it('accepts well-formed fields (sanity for the rejections below)', () => {
      expect(readResponse(connectedMessage(fields()))).to.not.equal(null);
    });

    it('rejects a missing, short, long or non-base64 conf', () => {
      expect(readResponse(connectedMessage(without('conf'))), 'missing').to.equal(null);
      for (const conf of [toBase64Url(randomBytes(15)), toBase64Url(randomBytes(1)), toBase64Url(randomBytes(17)), toBase64Url(randomBytes(32)),
        '', 'not base64!', 16]) {
        expect(readResponse(connectedMessage({ ...fields(), conf })), `conf=${JSON.stringify(conf)}`).to.equal(null);
      }
    });

    it('rejects a wrong or missing v', () => {
      for (const v of [1, 3, 0, '2', 2.5]) {
        expect(readResponse(connectedMessage({ ...fields(), v })), `v=${JSON.stringify(v)}`).to.equal(null);
      }
      expect(readResponse(connectedMessage(without('v'))), 'missing v').to.equal(null);
    });

    it('rejects a missing or malformed sid', () => {
      expect(readResponse(connectedMessage(without('sid'))), 'missing').to.equal(null);
      for (const sid of [toBase64Url(randomBytes(31)), toBase64Url(randomBytes(33)), '', 'xyz', 7]) {
        expect(readResponse(connectedMessage({ ...fields(), sid })), `sid=${JSON.stringify(sid)}`).to.equal(null);
      }
    });

    it('rejects a bad or missing idx', () => {
      expect(readResponse(connectedMessage(without('idx'))), 'missing').to.equal(null);
      for (const idx of [-1, 2 ** 32, 1.5, '5']) {
        expect(readResponse(connectedMessage({ ...fields(), idx })), `idx=${JSON.stringify(idx)}`).to.equal(null);
      }
    });
  });

  describe('cookie reply', () => {
    it('encodeCookieReply / readCookieReply round trip', () => {
      fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), (cookie) => {
        const text = encodeCookieReply(cookie);
        expect((JSON.parse(text) as { cmd: string }).cmd).to.equal('cookie');
        const back = readCookieReply(utf8(text));
        expect(back).to.not.equal(null);
        expect(hex(back!)).to.equal(hex(cookie));
      }));
    });

    it('the reply is shorter than the connect it answers', () => {
      expect(encodeCookieReply(randomBytes(32)).length).to.be.below(CONNECT_PADDED_LENGTH);
    });

    it('readCookieReply returns null for other messages and cookies over 32 bytes', () => {
      const cases = [
        `{"cmd": "cookie", "cookie": "${toBase64Url(randomBytes(33))}"}`,
        `{"cmd": "connect", "cookie": "${toBase64Url(randomBytes(16))}"}`,
        `{"cookie": "${toBase64Url(randomBytes(16))}"}`,
        '{"cmd": "cookie"}',
        '{"cmd": "cookie", "cookie": 5}',
        '{"cmd": "cookie", "cookie": "not base64!"}',
        '{"cmd": "cookie", "cookie": ""}',
        '["cookie"]',
        'null',
        '"cookie"',
        '',
        '{',
      ];
      for (const text of cases) expect(readCookieReply(utf8(text)), text).to.equal(null);
      expect(readCookieReply(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])), 'bad utf-8').to.equal(null);
    });

    it('readCookieReply never throws on random bytes, text or JSON (fast-check)', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(readCookieReply(bytes)).to.equal(null);
      }), { numRuns: 500 });
      fc.assert(fc.property(fc.string({ maxLength: 100 }), (text) => {
        const result = readCookieReply(utf8(text));
        expect(result === null || result instanceof Uint8Array).to.equal(true);
      }), { numRuns: 500 });
      fc.assert(fc.property(fc.jsonValue(), (value) => {
        const result = readCookieReply(utf8(JSON.stringify(value) ?? ''));
        expect(result === null || (result instanceof Uint8Array && result.length <= 32)).to.equal(true);
      }), { numRuns: 500 });
      fc.assert(fc.property(fc.record({ cmd: fc.constantFrom('cookie', 'connect', 'connected'), cookie: fc.oneof(fc.string(), fc.integer(),
        fc.constant(null), fc.base64String()) }), (value) => {
        const result = readCookieReply(utf8(JSON.stringify(value)));
        expect(result === null || (result instanceof Uint8Array && result.length <= 32)).to.equal(true);
      }), { numRuns: 500 });
    });
  });
});
