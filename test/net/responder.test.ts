import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { CONNECT_PADDED_LENGTH, FERNET_MAX_CLOCK_SKEW, MAX_HANDSHAKE_DATAGRAM, NEGOTIATION_DELAY, NEGOTIATION_REPEAT, PROTOCOL_VERSION } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt, type DoCryptForm } from '../../lib/crypto/docrypt.js';
import { toBase64Url } from '../../lib/encoding.js';
import { CookieJar } from '../../lib/net/handshake/cookie.js';
import { Counters, type DropReason } from '../../lib/net/counters.js';
import type { AnswerRequest } from '../../lib/net/handshake/answer.js';
import type { HandshakeThreads, ThreadOutcome } from '../../lib/net/handshake/threads.js';
import { HandshakeRateLimiter, type RateLimitOptions } from '../../lib/net/handshake/rate-limit.js';
import { HandshakeResponder, type HandshakeOutcome, type ResponderContext, type ResponderTrust } from '../../lib/net/handshake/responder.js';
import { TrafficKeys } from '../../lib/net/traffic-keys.js';
import { SecureSession } from '../../lib/net/secure-session.js';
import { V1Session } from '../../lib/net/v1-session.js';
import type { PeerAddress, Session } from '../../lib/net/session.js';
import { SessionTable } from '../../lib/net/session-table.js';
import { resolveTimings } from '../../lib/net/timings.js';
import { encodeHandshake, parseHandshake } from '../../lib/protocol/handshake.js';
import { complete } from '../../lib/net/handshake/key-agreement.js';
import { encodeInitiation, type Initiation, readCookieReply, readResponse } from '../../lib/protocol/handshake-v2.js';
import { unhex } from '../helpers/fixtures.js';

/**
 * The server's handshake checks, driven directly (no socket, an injected clock): each test sends
 * `connect` datagrams as a client would and asserts what was answered, to whom, and what the
 * session table holds afterwards.
 */

const T0 = 1_750_000_000_000;
const seconds = (ms: number): number => Math.floor(ms / 1000);
const CLIENT: PeerAddress = { address: '192.0.2.10', port: 40000 };
/** How long the responder keeps an answer for retransmissions (responder.ts ANSWER_TTL_MS). */
const ANSWER_TTL_MS = NEGOTIATION_REPEAT * NEGOTIATION_DELAY;
/** A low-order X25519 point (RFC 7748 section 7): agreeing with it gives all zeros. */
const LOW_ORDER = unhex('0000000000000000000000000000000000000000000000000000000000000000');
/** Limits that never bind, unless a test sets them. */
const GENEROUS: Partial<RateLimitOptions> = { globalRate: 1000, globalBurst: 1000, perSourceRate: 1000, perSourceBurst: 1000 };

interface Harness {
  responder: HandshakeResponder;
  table: SessionTable;
  counters: Counters;
  cookies: CookieJar;
  docrypt: DoCrypt;
  identity: CommEncryptor;
  /** Every datagram the responder transmitted, in order. */
  sent: Array<{ datagram: Buffer; to: PeerAddress }>;
  /** Drops reported after handle() returned (a thread's answer). */
  late: DropReason[];
}

interface HarnessOptions extends Partial<Omit<ResponderContext, 'trust'>> {
  trust?: Partial<ResponderTrust>;
  rateLimits?: Partial<RateLimitOptions>;
}

function harness(options: HarnessOptions = {}): Harness {
  const counters = new Counters();
  const sent: Harness['sent'] = [];
  const late: DropReason[] = [];
  const identity = new CommEncryptor();
  const docrypt = new DoCrypt();
  const cookies = new CookieJar(T0);
  const table = new SessionTable({ backend: identity.backend, counters, send: () => undefined, closed: () => undefined });
  const { trust, rateLimits, ...rest } = options;
  const responder = new HandshakeResponder({
    table,
    docrypt,
    trust: { identity, allowSeed: true, ...trust },
    limiter: new HandshakeRateLimiter({ ...GENEROUS, ...rateLimits }, T0),
    cookies,
    timings: resolveTimings(),
    maxSessions: 16,
    maxSessionsPerHost: 8,
    threads: () => undefined,
    transmit: (datagram, to) => sent.push({ datagram, to }),
    v1Candidate: () => undefined,
    dropped: (reason) => late.push(reason),
    ...rest,
  });
  return { responder, table, counters, cookies, docrypt, identity, sent, late };
}

interface Client {
  ephemeral: CommEncryptor;
  init: Initiation;
  identity?: CommEncryptor;
}

function client(options: { identity?: CommEncryptor; cookie?: Uint8Array; ephemeral?: Uint8Array } = {}): Client {
  const ephemeral = new CommEncryptor();
  const init: Initiation = {
    version: PROTOCOL_VERSION, ephemeralPublic: options.ephemeral ?? ephemeral.publicKey, index: 0x01020304,
    clientStatic: options.identity?.publicKey, cookie: options.cookie,
  };
  return { ephemeral, init, identity: options.identity };
}

/** A version-2 `connect` datagram as the client sends it (padded), made at `at` (ms). */
function v2Connect(c: Client, at = T0, form: DoCryptForm = 'seed', docrypt = new DoCrypt()): Buffer {
  return Buffer.from(docrypt.fencrypt(encodeInitiation(c.init), { now: seconds(at), form }), 'ascii');
}

/** A version-1 (the seed's) `connect`: only the ephemeral key. */
function seedConnect(pubkey: Uint8Array, at = T0, form: DoCryptForm = 'seed'): Buffer {
  return Buffer.from(new DoCrypt().fencrypt(encodeHandshake('connect', pubkey), { now: seconds(at), form }), 'ascii');
}

const sessionOf = (outcome: HandshakeOutcome): Session => {
  if (!('session' in outcome)) throw new Error(`expected a session, got ${JSON.stringify(outcome)}`);
  return outcome.session;
};

/** The client's keys from the server's `connected` answer; null if it does not prove the server. */
function clientKeys(h: Harness, c: Client, answer: Buffer): ReturnType<typeof complete> {
  const parsed = parseHandshake(h.docrypt.fdecrypt(answer).plaintext, 'connected');
  if (!parsed.ok) throw new Error(parsed.reason);
  const response = readResponse(parsed.message);
  if (!response) throw new Error('not a version-2 answer');
  return complete(c.init, c.ephemeral, response, c.identity);
}

/** Puts the limiter under load: spends more than half of a global burst of 4. */
const UNDER_LOAD: Partial<RateLimitOptions> = { globalRate: 0.001, globalBurst: 4 };
function load(h: Harness): void {
  for (let i = 0; i < 3; i++) {
    expect(sessionOf(h.responder.handle(v2Connect(client()), { address: `198.51.100.${i}`, port: 1 }, T0, T0))).to.be.instanceOf(SecureSession);
  }
}

describe('HandshakeResponder', () => {
  describe('a version-2 connect that checks out', () => {
    it('opens a server session for the sender, answers it alone, and the answer proves the server to the client', () => {
      const h = harness();
      const c = client();
      const request = v2Connect(c);
      const session = sessionOf(h.responder.handle(request, CLIENT, T0, T0));
      expect(session).to.be.instanceOf(SecureSession);
      expect(session.remote).to.deep.equal(CLIENT);
      expect([...h.table.sessions]).to.deep.equal([session]);
      expect(h.counters.handshakes).to.equal(1);
      expect(h.sent).to.have.length(1);
      expect(h.sent[0]!.to).to.deep.equal(CLIENT);
      expect(h.sent[0]!.datagram.length).to.be.at.most(request.length);
      expect(h.counters.unvalidatedBytesIn).to.equal(request.length);
      expect(h.counters.unvalidatedBytesOut).to.equal(h.sent[0]!.datagram.length);
      expect(clientKeys(h, c, h.sent[0]!.datagram)).to.not.equal(null);
    });

    it('answers in the form the client used (salted or the seed\'s)', () => {
      for (const form of ['seed', 'salted'] as const) {
        const h = harness();
        sessionOf(h.responder.handle(v2Connect(client(), T0, form), CLIENT, T0, T0));
        expect(h.docrypt.fdecrypt(h.sent[0]!.datagram).form, form).to.equal(form);
      }
    });

    it('a client identity is bound into the session, and the answer proves the server to that client', () => {
      const identity = new CommEncryptor();
      const h = harness();
      const c = client({ identity });
      const session = sessionOf(h.responder.handle(v2Connect(c), CLIENT, T0, T0)) as SecureSession;
      expect(Buffer.from(session.peerIdentity!).equals(Buffer.from(identity.publicKey))).to.equal(true);
      expect(clientKeys(h, c, h.sent[0]!.datagram)).to.not.equal(null);
    });

    it('a client without an identity gets a session with none', () => {
      const h = harness();
      const session = sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0, T0)) as SecureSession;
      expect(session.peerIdentity).to.equal(null);
    });
  });

  describe('checks before any key agreement', () => {
    it('drops a datagram over MAX_HANDSHAKE_DATAGRAM, and one exactly that long is read', () => {
      const h = harness();
      expect(h.responder.handle(Buffer.alloc(MAX_HANDSHAKE_DATAGRAM + 1, 0x41), CLIENT, T0, T0)).to.deep.equal({ dropped: 'oversized' });
      expect(h.responder.handle(Buffer.alloc(MAX_HANDSHAKE_DATAGRAM, 0x41), CLIENT, T0, T0)).to.deep.equal({ dropped: 'bad-token' });
      expect(h.counters.unvalidatedBytesIn).to.equal(2 * MAX_HANDSHAKE_DATAGRAM + 1);
      expect(h.sent).to.have.length(0);
    });

    it('drops a token under another key as bad-token, and a stale one as stale-connect when there is an age limit', () => {
      const h = harness({ connectMaxAgeSeconds: 30 });
      const other = new DoCrypt({ key: randomBytes(32) });
      expect(h.responder.handle(v2Connect(client(), T0, 'seed', other), CLIENT, T0, T0)).to.deep.equal({ dropped: 'bad-token' });
      expect(h.responder.handle(v2Connect(client(), T0 - 31_000), CLIENT, T0, T0)).to.deep.equal({ dropped: 'stale-connect' });
      // The age is measured against handle()'s clock, not the machine's.
      sessionOf(h.responder.handle(v2Connect(client(), T0 - 29_000), CLIENT, T0, T0));
      expect(h.sent).to.have.length(1);
    });

    it('without an age limit, an old connect is served', () => {
      const h = harness();
      sessionOf(h.responder.handle(v2Connect(client(), T0 - 86_400_000), CLIENT, T0, T0));
    });

    it('drops a token that decrypts to something other than a connect', () => {
      const h = harness();
      const connected = Buffer.from(h.docrypt.fencrypt(encodeHandshake('connected', randomBytes(32)), { now: seconds(T0) }), 'ascii');
      expect(h.responder.handle(connected, CLIENT, T0, T0)).to.deep.equal({ dropped: 'bad-cmd' });
    });

    it('a version-1 connect is refused when the seed is not allowed, served when it is', () => {
      const refusing = harness({ trust: { allowSeed: false } });
      expect(refusing.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0, T0)).to.deep.equal({ dropped: 'seed-refused' });
      expect(refusing.sent).to.have.length(0);
      const allowing = harness();
      const clientEphemeral = new CommEncryptor();
      const request = seedConnect(clientEphemeral.publicKey, T0, 'salted');
      const session = sessionOf(allowing.responder.handle(request, CLIENT, T0, T0));
      expect(session).to.be.instanceOf(V1Session);
      expect(session.role).to.equal('server');
      expect(session.remote).to.deep.equal(CLIENT);
      expect(allowing.table.sessions.has(session)).to.equal(true);
      const answer = allowing.docrypt.fdecrypt(allowing.sent[0]!.datagram);
      expect(answer.form).to.equal('salted');
      const parsed = parseHandshake(answer.plaintext, 'connected');
      expect(parsed.ok && readResponse(parsed.message)).to.equal(null);
    });

    it('a version-2 connect is served when the seed is refused', () => {
      const h = harness({ trust: { allowSeed: false } });
      sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0, T0));
    });

    it('drops a version-2 connect shorter than the padding (its answer could be larger than it)', () => {
      const h = harness();
      const c = client();
      const bare = encodeHandshake('connect', c.init.ephemeralPublic, { v: PROTOCOL_VERSION, idx: c.init.index });
      const short = Buffer.from(h.docrypt.fencrypt(bare, { now: seconds(T0) }), 'ascii');
      expect(h.responder.handle(short, CLIENT, T0, T0)).to.deep.equal({ dropped: 'amplification' });
      // Padded to exactly CONNECT_PADDED_LENGTH, it is served.
      const padded = encodeInitiation(c.init);
      expect(Buffer.byteLength(padded)).to.equal(CONNECT_PADDED_LENGTH);
      sessionOf(h.responder.handle(Buffer.from(h.docrypt.fencrypt(padded, { now: seconds(T0) }), 'ascii'), CLIENT, T0, T0));
    });

    it('the padding rule is on the connect\'s own length, even when its answer would fit', () => {
      const h = harness();
      const c = client();
      // Long enough that its token outweighs the answer, one byte short of the padding.
      const unpadded = encodeHandshake('connect', c.init.ephemeralPublic, { v: PROTOCOL_VERSION, idx: c.init.index, junk: '' });
      const text = encodeHandshake('connect', c.init.ephemeralPublic, {
        v: PROTOCOL_VERSION, idx: c.init.index, junk: 'x'.repeat(CONNECT_PADDED_LENGTH - 1 - Buffer.byteLength(unpadded)),
      });
      expect(Buffer.byteLength(text)).to.equal(CONNECT_PADDED_LENGTH - 1);
      expect(h.responder.handle(Buffer.from(h.docrypt.fencrypt(text, { now: seconds(T0) }), 'ascii'), CLIENT, T0, T0)).to.deep.equal({ dropped: 'amplification' });
      expect(h.table.sessions.size).to.equal(0);
    });

    it('with authorized keys: only a listed client identity is served', () => {
      const listed = new CommEncryptor();
      const h = harness({ trust: { authorizedKeys: new Set([toBase64Url(listed.publicKey)]) } });
      expect(h.responder.handle(v2Connect(client()), CLIENT, T0, T0)).to.deep.equal({ dropped: 'unauthorized' });
      expect(h.responder.handle(v2Connect(client({ identity: new CommEncryptor() })), CLIENT, T0, T0)).to.deep.equal({ dropped: 'unauthorized' });
      expect(h.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0, T0)).to.deep.equal({ dropped: 'unauthorized' });
      expect(h.sent).to.have.length(0);
      sessionOf(h.responder.handle(v2Connect(client({ identity: listed })), CLIENT, T0, T0));
    });

    it('drops a low-order ephemeral key, in either version, and opens nothing', () => {
      const h = harness();
      expect(h.responder.handle(v2Connect(client({ ephemeral: LOW_ORDER })), CLIENT, T0, T0)).to.deep.equal({ dropped: 'low-order' });
      expect(h.responder.handle(seedConnect(LOW_ORDER), CLIENT, T0, T0)).to.deep.equal({ dropped: 'low-order' });
      expect(h.table.sessions.size).to.equal(0);
      expect(h.sent).to.have.length(0);
    });
  });

  describe('retransmissions and replays', () => {
    it('a copy from the same address gets the same answer again; from another address or port it is a replay', () => {
      const h = harness();
      const request = v2Connect(client());
      const session = sessionOf(h.responder.handle(request, CLIENT, T0, T0));
      expect(h.responder.handle(request, CLIENT, T0 + 100, T0 + 100)).to.deep.equal({ answered: 'retransmission' });
      expect(h.counters.retransmittedConnects).to.equal(1);
      expect(h.sent).to.have.length(2);
      expect(h.sent[1]!.datagram.equals(h.sent[0]!.datagram)).to.equal(true);
      expect(h.sent[1]!.to).to.deep.equal(CLIENT);
      expect(h.responder.handle(request, { ...CLIENT, port: CLIENT.port + 1 }, T0 + 200, T0 + 200)).to.deep.equal({ dropped: 'replay' });
      expect(h.responder.handle(request, { ...CLIENT, address: '192.0.2.11' }, T0 + 200, T0 + 200)).to.deep.equal({ dropped: 'replay' });
      expect(h.sent).to.have.length(2);
      expect([...h.table.sessions]).to.deep.equal([session]);
    });

    it('a retransmission whose answer would be larger than it is not answered', () => {
      const h = harness();
      const pubkey = new CommEncryptor().publicKey;
      sessionOf(h.responder.handle(seedConnect(pubkey, T0, 'salted'), CLIENT, T0, T0));
      // The same key in the seed's form: 8 bytes (a Fernet block) shorter than the salted answer.
      const shorter = seedConnect(pubkey, T0, 'seed');
      expect(shorter.length).to.be.below(h.sent[0]!.datagram.length);
      expect(h.responder.handle(shorter, CLIENT, T0, T0)).to.deep.equal({ dropped: 'amplification' });
      expect(h.sent).to.have.length(1);
    });

    it('once its session is closed, a copy starts a new handshake (no age limit: nothing is remembered)', () => {
      const h = harness();
      const request = v2Connect(client());
      const first = sessionOf(h.responder.handle(request, CLIENT, T0, T0));
      first.close('evicted');
      const second = sessionOf(h.responder.handle(request, CLIENT, T0 + 10, T0 + 10));
      expect(second).to.not.equal(first);
    });

    it('under an age limit, a copy is a replay once its answer is forgotten, until the copy would be too old anyway', () => {
      const maxAge = 30;
      const h = harness({ connectMaxAgeSeconds: maxAge });
      // Stamped as far ahead as the clock skew allows: the copy that stays fresh longest.
      const request = v2Connect(client(), T0 + FERNET_MAX_CLOCK_SKEW * 1000);
      sessionOf(h.responder.handle(request, CLIENT, T0, T0));
      h.responder.expire(T0 + ANSWER_TTL_MS);
      // The answer is gone: a copy is no longer a retransmission, from anywhere.
      expect(h.responder.handle(request, CLIENT, T0 + ANSWER_TTL_MS, T0 + ANSWER_TTL_MS)).to.deep.equal({ dropped: 'replay' });
      // The last moment the copy passes the age check (Fernet's ages are whole seconds).
      const lastFresh = T0 + (FERNET_MAX_CLOCK_SKEW + maxAge) * 1000;
      h.responder.expire(lastFresh + 999);
      expect(h.responder.handle(request, CLIENT, lastFresh + 999, lastFresh + 999)).to.deep.equal({ dropped: 'replay' });
      h.responder.expire(lastFresh + 1000);
      // Forgotten: the copy is now refused for its age, not served.
      expect(h.responder.handle(request, CLIENT, lastFresh + 1000, lastFresh + 1000)).to.deep.equal({ dropped: 'stale-connect' });
      expect(h.table.sessions.size).to.equal(1);
    });

    it('expire() keeps answers a client may still be waiting for, and forgets them after', () => {
      const h = harness();
      const early = v2Connect(client());
      const late = v2Connect(client());
      sessionOf(h.responder.handle(early, CLIENT, T0, T0));
      sessionOf(h.responder.handle(late, CLIENT, T0 + 1000, T0 + 1000));
      h.responder.expire(T0 + ANSWER_TTL_MS - 1);
      expect(h.responder.handle(early, CLIENT, T0 + ANSWER_TTL_MS - 1, T0 + ANSWER_TTL_MS - 1)).to.deep.equal({ answered: 'retransmission' });
      h.responder.expire(T0 + ANSWER_TTL_MS);
      // The early answer is forgotten (a copy now opens a new session); the late one is still kept.
      expect(h.responder.handle(late, CLIENT, T0 + ANSWER_TTL_MS, T0 + ANSWER_TTL_MS)).to.deep.equal({ answered: 'retransmission' });
      sessionOf(h.responder.handle(early, CLIENT, T0 + ANSWER_TTL_MS, T0 + ANSWER_TTL_MS));
    });

    it('expire() forgets the answer of a closed session even before its time', () => {
      const h = harness();
      const first = v2Connect(client());
      const second = v2Connect(client());
      sessionOf(h.responder.handle(first, CLIENT, T0, T0)).close('evicted');
      sessionOf(h.responder.handle(second, CLIENT, T0, T0));
      h.responder.expire(T0 + 1);
      expect(h.responder.handle(second, CLIENT, T0 + 2, T0 + 2)).to.deep.equal({ answered: 'retransmission' });
    });

    it('expire() lets idle sources refill (it sweeps the rate limiter)', () => {
      const h = harness({ rateLimits: { perSourceRate: 1, perSourceBurst: 1, maxSources: 1 } });
      sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0, T0));
      expect(h.responder.handle(v2Connect(client()), CLIENT, T0, T0)).to.deep.equal({ dropped: 'rate-limit' });
    });
  });

  describe('under load (cookies)', () => {
    it('answers a version-2 connect without a cookie with a cookie for its address, smaller than the request', () => {
      const h = harness({ rateLimits: UNDER_LOAD });
      load(h);
      const c = client();
      const request = v2Connect(c, T0, 'salted');
      expect(h.responder.handle(request, CLIENT, T0, T0)).to.deep.equal({ answered: 'cookie' });
      expect(h.counters.cookiesSent).to.equal(1);
      const reply = h.sent.at(-1)!;
      expect(reply.to).to.deep.equal(CLIENT);
      expect(reply.datagram.length).to.be.at.most(request.length);
      const decrypted = h.docrypt.fdecrypt(reply.datagram);
      expect(decrypted.form).to.equal('salted');
      const cookie = readCookieReply(decrypted.plaintext);
      expect(cookie).to.not.equal(null);
      expect(h.cookies.verify(cookie!, CLIENT, c.init.ephemeralPublic, T0)).to.equal(true);
      expect(h.table.sessions.size).to.equal(3);
    });

    it('serves a connect that echoes a valid cookie, from its own budget', () => {
      const h = harness({ rateLimits: UNDER_LOAD });
      load(h);
      const c = client();
      c.init.cookie = h.cookies.issue(CLIENT, c.init.ephemeralPublic, T0);
      sessionOf(h.responder.handle(v2Connect(c), CLIENT, T0, T0));
      expect(h.counters.cookiesSent).to.equal(0);
    });

    it('a forged cookie (right length, wrong MAC) counts as none: the client gets a cookie, not a session', () => {
      const h = harness({ rateLimits: UNDER_LOAD });
      load(h);
      const c = client({ cookie: randomBytes(16) });
      expect(h.responder.handle(v2Connect(c), CLIENT, T0, T0)).to.deep.equal({ answered: 'cookie' });
      // A cookie for another address does not validate this one either.
      const other = client();
      other.init.cookie = h.cookies.issue({ ...CLIENT, port: CLIENT.port + 1 }, other.init.ephemeralPublic, T0);
      expect(h.responder.handle(v2Connect(other), CLIENT, T0, T0)).to.deep.equal({ answered: 'cookie' });
      expect(h.table.sessions.size).to.equal(3);
    });

    it('a version-1 connect under load waits (it has no cookies)', () => {
      const h = harness({ rateLimits: UNDER_LOAD });
      load(h);
      expect(h.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0, T0)).to.deep.equal({ dropped: 'rate-limit' });
    });

    it('not under load, no cookie is asked for', () => {
      const h = harness({ rateLimits: { globalRate: 0.001, globalBurst: 4 } });
      sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0, T0));
      expect(h.counters.cookiesSent).to.equal(0);
    });
  });

  describe('limits', () => {
    it('a source past its rate limit is dropped before any key agreement', () => {
      const h = harness({ rateLimits: { perSourceRate: 0.001, perSourceBurst: 2 } });
      sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0, T0));
      sessionOf(h.responder.handle(v2Connect(client()), { ...CLIENT, port: 2 }, T0, T0));
      expect(h.responder.handle(v2Connect(client()), { ...CLIENT, port: 3 }, T0, T0)).to.deep.equal({ dropped: 'rate-limit' });
      sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.99', port: 3 }, T0, T0));
    });

    it('a host holding its most sessions is refused, other hosts are not', () => {
      const h = harness({ maxSessionsPerHost: 2 });
      sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0, T0));
      sessionOf(h.responder.handle(v2Connect(client()), { ...CLIENT, port: 2 }, T0, T0));
      expect(h.responder.handle(v2Connect(client()), { ...CLIENT, port: 3 }, T0, T0)).to.deep.equal({ dropped: 'host-session-limit' });
      sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.99', port: 3 }, T0, T0));
    });

    it('a host at its cap spends no handshake budget: it stays refused for its cap, not for its rate', () => {
      const h = harness({ maxSessionsPerHost: 1, rateLimits: { perSourceRate: 0.001, perSourceBurst: 2 } });
      sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0, T0));
      for (let i = 0; i < 3; i++) {
        expect(h.responder.handle(v2Connect(client()), { ...CLIENT, port: 2 + i }, T0, T0), `attempt ${i}`).to.deep.equal({ dropped: 'host-session-limit' });
      }
    });

    it('a full table evicts the half-open session heard from longest ago for a newcomer', () => {
      const h = harness({ maxSessions: 2 });
      const a = sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.1', port: 1 }, T0, T0));
      const b = sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.2', port: 1 }, T0 + 1, T0 + 1));
      // Both half-open: the one heard from longest ago makes room.
      const c = sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.3', port: 1 }, T0 + 2, T0 + 2));
      expect(a.closed).to.equal(true);
      expect(b.closed).to.equal(false);
      expect([...h.table.sessions]).to.have.members([b, c]);
    });

    it('a full table keeps a confirmed session heard from within two heartbeat intervals and refuses the newcomer; one idle longer is evicted for it', () => {
      const h = harness({ maxSessions: 1 });
      const rate = resolveTimings().heartbeatRate;
      const c = client();
      const serverSide = sessionOf(h.responder.handle(v2Connect(c), CLIENT, T0, T0));
      const reasons: string[] = [];
      serverSide.on('close', (reason: string) => reasons.push(reason));
      // The client takes its keys and sends its first heartbeat: the server session is confirmed, heard at T0.
      const parsed = parseHandshake(h.docrypt.fdecrypt(h.sent[0]!.datagram).plaintext, 'connected');
      if (!parsed.ok) throw new Error(parsed.reason);
      const response = readResponse(parsed.message)!;
      const keys = complete(c.init, c.ephemeral, response)!;
      const clientTable = new SessionTable({
        backend: h.identity.backend, counters: new Counters(), send: (datagram) => h.table.route(datagram, CLIENT, T0), closed: () => undefined,
      });
      const trafficKeys = new TrafficKeys(h.identity.backend, keys, c.init.index, response.index, T0, resolveTimings().rejectAfterMessages);
      const clientSide = new SecureSession(clientTable, 'client', { address: '192.0.2.200', port: 9000 }, trafficKeys, resolveTimings(), T0, Buffer.from(response.serverStatic));
      expect(serverSide.confirmed).to.equal(true);
      expect(serverSide.lastReceived).to.equal(T0);

      const newcomer = { address: '192.0.2.50', port: 1 };
      const live = T0 + 2 * rate - 1;
      expect(h.responder.handle(v2Connect(client(), live), newcomer, live, live)).to.deep.equal({ dropped: 'session-limit' });
      expect(serverSide.closed).to.equal(false);
      const idle = T0 + 2 * rate;
      expect(h.responder.handle(v2Connect(client(), idle), newcomer, idle, idle)).to.have.property('session');
      expect(serverSide.closed).to.equal(true);
      expect(reasons).to.deep.equal(['evicted']);
      clientSide.close();
    });

    it('a version-1 connect replaces the candidate session its source already has, even in a full table', () => {
      let candidate: Session | undefined;
      const h = harness({ maxSessions: 1, v1Candidate: () => candidate });
      candidate = sessionOf(h.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0, T0));
      const next = sessionOf(h.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0, T0));
      expect(candidate.closed).to.equal(true);
      expect([...h.table.sessions]).to.deep.equal([next]);
    });
  });

  describe('a full table and version-1 candidates', () => {
    it('a version-1 connect displaces its source\'s candidate, not the session heard from longest ago', () => {
      let candidate: Session | undefined;
      const h = harness({ maxSessions: 2, v1Candidate: () => candidate });
      const older = sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.1', port: 1 }, T0, T0));
      candidate = sessionOf(h.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0 + 1, T0 + 1));
      sessionOf(h.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0 + 2, T0 + 2));
      expect(candidate.closed).to.equal(true);
      expect(older.closed).to.equal(false);
    });

    it('a version-2 connect is not taken for a version-1 candidate: the table evicts as usual', () => {
      let candidate: Session | undefined;
      const h = harness({ maxSessions: 2, v1Candidate: () => candidate });
      const older = sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.1', port: 1 }, T0, T0));
      candidate = sessionOf(h.responder.handle(seedConnect(new CommEncryptor().publicKey), CLIENT, T0 + 1, T0 + 1));
      sessionOf(h.responder.handle(v2Connect(client()), CLIENT, T0 + 2, T0 + 2));
      expect(older.closed).to.equal(true);
      expect(candidate.closed).to.equal(false);
    });
  });

  describe('with handshake threads', () => {
    /** Threads that hold each job until the test finishes it. */
    function threads(accept = true): HandshakeThreads & { jobs: Array<{ request: AnswerRequest; done: (o: ThreadOutcome) => void }> } {
      const jobs: Array<{ request: AnswerRequest; done: (o: ThreadOutcome) => void }> = [];
      return {
        jobs,
        usable: true,
        submit(request: AnswerRequest, done: (o: ThreadOutcome) => void): boolean {
          if (!accept) return false;
          jobs.push({ request, done });
          return true;
        },
      } as unknown as HandshakeThreads & { jobs: typeof jobs };
    }

    it('hands the key agreement to a thread, answers a retransmission meanwhile with nothing, and opens the session when it is back', () => {
      const t = threads();
      const h = harness({ threads: () => t });
      const c = client();
      const request = v2Connect(c);
      expect(h.responder.handle(request, CLIENT, T0, T0)).to.deep.equal({ pending: true });
      expect(t.jobs).to.have.length(1);
      expect(h.sent).to.have.length(0);
      expect(h.responder.handle(request, CLIENT, T0, T0)).to.deep.equal({ pending: true });
      expect(h.counters.retransmittedConnects).to.equal(1);
      expect(h.responder.handle(request, { ...CLIENT, port: 9 }, T0, T0)).to.deep.equal({ dropped: 'replay' });
      expect(h.responder.handle(request, { ...CLIENT, address: '192.0.2.77' }, T0, T0)).to.deep.equal({ dropped: 'replay' });
      // The thread failed: the work is done inline, and the client is answered.
      t.jobs[0]!.done('failed');
      expect(h.sent).to.have.length(1);
      expect(h.sent[0]!.to).to.deep.equal(CLIENT);
      expect(clientKeys(h, c, h.sent[0]!.datagram)).to.not.equal(null);
      expect(h.table.sessions.size).to.equal(1);
      expect(h.late).to.deep.equal([]);
      expect(h.responder.handle(request, CLIENT, T0 + 1, T0 + 1)).to.deep.equal({ answered: 'retransmission' });
    });

    it('a thread\'s low-order verdict is a counted drop; a full host by then too', () => {
      const t = threads();
      const h = harness({ threads: () => t, maxSessionsPerHost: 1 });
      h.responder.handle(v2Connect(client()), CLIENT, T0, T0);
      t.jobs[0]!.done('low-order');
      expect(h.late).to.deep.equal(['low-order']);
      h.responder.handle(v2Connect(client()), CLIENT, T0, T0);
      h.responder.handle(v2Connect(client()), { ...CLIENT, port: 2 }, T0, T0);
      t.jobs[1]!.done('failed');
      t.jobs[2]!.done('failed');
      expect(h.late).to.deep.equal(['low-order', 'host-session-limit']);
      expect(h.table.sessions.size).to.equal(1);
    });

    it('a thread\'s answer makes room in a table that is full by then, as an inline one does', () => {
      const t = threads();
      let usable = false;
      Object.defineProperty(t, 'usable', { get: () => usable });
      const h = harness({ threads: () => t, maxSessions: 1 });
      // Inline while the threads are not usable: a half-open session fills the table.
      const halfOpen = sessionOf(h.responder.handle(v2Connect(client()), { address: '192.0.2.1', port: 1 }, T0, T0));
      usable = true;
      expect(h.responder.handle(v2Connect(client()), CLIENT, T0 + 1, T0 + 1)).to.deep.equal({ pending: true });
      t.jobs[0]!.done('failed');
      expect(halfOpen.closed).to.equal(true);
      expect(h.table.sessions.size).to.equal(1);
      expect(h.late).to.deep.equal([]);
    });

    it('threads that take no more work mean a rate-limit drop', () => {
      const h = harness({ threads: () => threads(false) });
      expect(h.responder.handle(v2Connect(client()), CLIENT, T0, T0)).to.deep.equal({ dropped: 'rate-limit' });
    });

    it('a table that filled while a thread worked refuses the answer', () => {
      const t = threads();
      const h = harness({ threads: () => t, maxSessions: 1 });
      h.responder.handle(v2Connect(client()), CLIENT, T0, T0);
      // One pending handshake already claims the only place.
      expect(h.responder.handle(v2Connect(client()), { ...CLIENT, port: 2 }, T0, T0)).to.deep.equal({ dropped: 'session-limit' });
    });

    it('stop() forgets pending handshakes: a copy afterwards is a new handshake', () => {
      const t = threads();
      const h = harness({ threads: () => t });
      const request = v2Connect(client());
      h.responder.handle(request, CLIENT, T0, T0);
      h.responder.stop();
      expect(h.responder.handle(request, CLIENT, T0, T0)).to.deep.equal({ pending: true });
      expect(t.jobs).to.have.length(2);
    });
  });
});
