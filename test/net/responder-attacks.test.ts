import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { CMD_CONNECT, CMD_CONNECTED, CONNECT_PADDED_LENGTH, COOKIE_BYTES, PROTOCOL_VERSION } from '../../lib/constants.js';
import type { CryptoBackend } from '../../lib/crypto/backend.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { getDefaultBackend } from '../../lib/crypto/select.js';
import { CookieJar } from '../../lib/net/handshake/cookie.js';
import { Counters } from '../../lib/net/counters.js';
import { TrafficKeys } from '../../lib/net/traffic-keys.js';
import { HandshakeRateLimiter, type RateLimitOptions } from '../../lib/net/handshake/rate-limit.js';
import { HandshakeResponder, type HandshakeOutcome } from '../../lib/net/handshake/responder.js';
import { SecureSession } from '../../lib/net/secure-session.js';
import type { PeerAddress, Session } from '../../lib/net/session.js';
import { SessionTable } from '../../lib/net/session-table.js';
import { resolveTimings, type SessionTimings } from '../../lib/net/timings.js';
import { complete } from '../../lib/net/handshake/key-agreement.js';
import { encodeInitiation, readCookieReply, readResponse, type Initiation } from '../../lib/protocol/handshake-v2.js';
import { encodeHandshake, parseHandshake } from '../../lib/protocol/handshake.js';
import { PATIENCE } from '../helpers/udp.js';

/**
 * The server's handshake path driven directly, on a clock the test sets: every outcome and every
 * datagram the server would send is seen synchronously, so nothing here depends on how fast the
 * machine is.
 */
const T0 = 1_700_000_000_000;
const CLIENT: PeerAddress = { address: '198.51.100.7', port: 40_000 };
const SERVER: PeerAddress = { address: '192.0.2.1', port: 9_000 };
/** Far above anything a test here spends: only the limit a test sets is the one that binds. */
const UNLIMITED = 1_000_000;

interface Sent {
  datagram: Buffer;
  to: PeerAddress;
}

interface Rig {
  responder: HandshakeResponder;
  table: SessionTable;
  counters: Counters;
  docrypt: DoCrypt;
  identity: CommEncryptor;
  timings: SessionTimings;
  limiter: HandshakeRateLimiter;
  /** X25519 operations done so far with the server's backend (key generation and agreement). */
  x25519Calls(): number;
  /** Every datagram the server sent, in order. */
  sent: Sent[];
}

/** The default backend, counting its X25519 operations: the work a handshake costs the server. */
function countingBackend(): { backend: CryptoBackend; calls: () => number } {
  const base = getDefaultBackend();
  let calls = 0;
  const backend: CryptoBackend = {
    name: base.name,
    x25519Base: (publicKey, secretKey) => {
      calls++;
      base.x25519Base(publicKey, secretKey);
    },
    x25519: (shared, secretKey, peerPublicKey) => {
      calls++;
      return base.x25519(shared, secretKey, peerPublicKey);
    },
    aeadSeal: (out, plaintext, ad, nonce, key) => base.aeadSeal(out, plaintext, ad, nonce, key),
    aeadOpen: (out, sealed, ad, nonce, key) => base.aeadOpen(out, sealed, ad, nonce, key),
    randomFill: (buf) => base.randomFill(buf),
    wipe: (buf) => base.wipe(buf),
  };
  return { backend, calls: () => calls };
}

function rig(limits: Partial<RateLimitOptions> = {}, timings: Partial<SessionTimings> = {}): Rig {
  const { backend, calls } = countingBackend();
  const counters = new Counters();
  const sent: Sent[] = [];
  const table = new SessionTable({
    backend,
    counters,
    send: (datagram, to) => sent.push({ datagram: Buffer.from(datagram), to: { ...to } }),
    closed: () => undefined,
  });
  const docrypt = new DoCrypt();
  const identity = new CommEncryptor({ backend });
  const resolved = resolveTimings(timings);
  const limiter = new HandshakeRateLimiter({
    perSourceRate: UNLIMITED, perSourceBurst: UNLIMITED, globalRate: UNLIMITED, globalBurst: UNLIMITED, maxSources: UNLIMITED, ...limits,
  }, T0);
  const responder = new HandshakeResponder({
    table,
    docrypt,
    trust: { identity, allowSeed: true },
    limiter,
    cookies: new CookieJar(T0),
    timings: resolved,
    maxSessions: UNLIMITED,
    maxSessionsPerHost: UNLIMITED,
    threads: () => undefined,
    transmit: (datagram, to) => table.transmit(datagram, to),
    v1Candidate: () => undefined,
    dropped: () => undefined,
  });
  return { responder, table, counters, docrypt, identity, timings: resolved, limiter, x25519Calls: calls, sent };
}

/** A padded version-2 `connect`, as the library client sends it. */
function initiation(docrypt: DoCrypt, init: Initiation): Buffer {
  return Buffer.from(docrypt.fencrypt(encodeInitiation(init)), 'ascii');
}

function freshInit(cookie?: Uint8Array): { init: Initiation; ephemeral: CommEncryptor } {
  const ephemeral = new CommEncryptor();
  return { ephemeral, init: { version: PROTOCOL_VERSION, ephemeralPublic: ephemeral.publicKey, index: 7, cookie } };
}

function kind(outcome: HandshakeOutcome): string {
  if ('session' in outcome) return 'session';
  if ('answered' in outcome) return `answered:${outcome.answered}`;
  if ('pending' in outcome) return 'pending';
  return `dropped:${outcome.dropped}`;
}

/** Spends the global handshake budget with handshakes from other hosts until the responder is under load. */
function load(r: Rig, now: number): void {
  for (let i = 0; !r.limiter.underLoad(now); i++) {
    expect(i, 'handshakes spent before the server is under load').to.be.below(100);
    const outcome = r.responder.handle(initiation(r.docrypt, freshInit().init), { address: `203.0.113.${i}`, port: 1 }, now);
    expect(kind(outcome), 'a handshake that spends the budget').to.equal('session');
  }
}

/** The plaintext of the last datagram the server sent, and where to. */
function lastReply(r: Rig): { plaintext: Buffer; to: PeerAddress } {
  const last = r.sent.at(-1)!;
  return { plaintext: r.docrypt.fdecrypt(last.datagram).plaintext, to: last.to };
}

describe('HandshakeResponder (driven directly, on an injected clock)', () => {
  describe('address validation under load: only a cookie the server made for this address and key passes', () => {
    // A small global budget, so a few handshakes put the server under load.
    const LIMITS = { globalRate: 1, globalBurst: 4 };

    it('asks for a cookie, refuses forged and misdirected cookie bytes with another cookie request, and accepts its own', () => {
      const r = rig(LIMITS);
      load(r, T0);
      const handshakes = r.counters.handshakes;
      const { init } = freshInit();

      expect(kind(r.responder.handle(initiation(r.docrypt, init), CLIENT, T0)), 'no cookie').to.equal('answered:cookie');
      const reply = lastReply(r);
      expect(reply.to).to.deep.equal(CLIENT);
      const cookie = readCookieReply(reply.plaintext);
      expect(cookie, 'a cookie answer').to.not.equal(null);
      expect(cookie!.length).to.equal(COOKIE_BYTES);

      const flipped = Buffer.from(cookie!);
      flipped[0] = flipped[0]! ^ 1;
      const forgeries: Array<[string, Uint8Array, PeerAddress]> = [
        ['random bytes', randomBytes(COOKIE_BYTES), CLIENT],
        ['all zeros', Buffer.alloc(COOKIE_BYTES), CLIENT],
        ['one bit flipped', flipped, CLIENT],
        ['the cookie, sent from another port', cookie!, { ...CLIENT, port: CLIENT.port + 1 }],
        ['the cookie, sent from another host', cookie!, { ...CLIENT, address: '198.51.100.8' }],
      ];
      for (const [name, bytes, from] of forgeries) {
        const sentBefore = r.sent.length;
        const outcome = r.responder.handle(initiation(r.docrypt, { ...init, cookie: bytes }), from, T0);
        expect(kind(outcome), name).to.equal('answered:cookie');
        expect(r.sent.length - sentBefore, `${name}: one cookie request, nothing else`).to.equal(1);
        expect(readCookieReply(lastReply(r).plaintext), `${name}: the answer is a cookie request`).to.not.equal(null);
      }
      // The same key with a cookie made for another ephemeral key.
      const other = freshInit();
      r.responder.handle(initiation(r.docrypt, other.init), CLIENT, T0);
      const otherCookie = readCookieReply(lastReply(r).plaintext)!;
      expect(kind(r.responder.handle(initiation(r.docrypt, { ...init, cookie: otherCookie }), CLIENT, T0)), 'a cookie for another key')
        .to.equal('answered:cookie');
      expect(r.counters.handshakes, 'no forged cookie bought a handshake').to.equal(handshakes);

      // Positive control: the genuine cookie, from the address it was made for.
      expect(kind(r.responder.handle(initiation(r.docrypt, { ...init, cookie: cookie! }), CLIENT, T0)), 'the real cookie').to.equal('session');
      expect(r.counters.handshakes).to.equal(handshakes + 1);
    });

    it('the answer to a cookie request is never larger than the connect it answers', () => {
      const r = rig(LIMITS);
      load(r, T0);
      const sentBefore = r.sent.length;
      const datagram = initiation(r.docrypt, freshInit().init);
      r.responder.handle(datagram, CLIENT, T0);
      expect(r.sent.length - sentBefore).to.equal(1);
      expect(r.sent.at(-1)!.datagram.length).to.be.at.most(datagram.length);
    });
  });

  describe('a server sends nothing to an address that has not proven itself', () => {
    // Heartbeats every second, so several fall due before the half-open deadline closes the session.
    const TIMINGS = { heartbeatRate: 1000 };

    /**
     * A handshake from CLIENT that the server answered, and prove(at): the client takes its keys
     * at `at`, and its first heartbeat (sent at once, as the library client does) reaches the server.
     */
    function answered(r: Rig): { serverSide: Session; prove(at: number): SecureSession } {
      const { init, ephemeral } = freshInit();
      const outcome = r.responder.handle(initiation(r.docrypt, init), CLIENT, T0);
      expect(kind(outcome)).to.equal('session');
      const serverSide = (outcome as { session: Session }).session;
      const parsed = parseHandshake(lastReply(r).plaintext, CMD_CONNECTED);
      if (!parsed.ok) throw new Error('the answer is not a connected message');
      const response = readResponse(parsed.message)!;
      const keys = complete(init, ephemeral, response);
      expect(keys, 'the server proved its identity').to.not.equal(null);
      const prove = (at: number): SecureSession => {
        const clientTable = new SessionTable({
          backend: getDefaultBackend(), counters: new Counters(), send: (datagram) => r.table.route(datagram, CLIENT, at), closed: () => undefined,
        });
        const trafficKeys = new TrafficKeys(getDefaultBackend(), keys!, init.index, response.index, at, r.timings.rejectAfterMessages);
        return new SecureSession(clientTable, 'client', SERVER, trafficKeys, r.timings, at, Buffer.from(response.serverStatic));
      };
      return { serverSide, prove };
    }

    it('an unconfirmed session sends no heartbeat however many fall due; once the client proves its address, it does', () => {
      const r = rig({}, TIMINGS);
      const { serverSide, prove } = answered(r);
      expect(r.sent, 'only the handshake answer').to.have.length(1);
      expect(serverSide.confirmed).to.equal(false);
      // Up to the half-open deadline (five heartbeat intervals here): every tick finds a heartbeat due.
      for (let t = T0 + 1000; t < T0 + 4000; t += 250) serverSide.tick(t);
      expect(serverSide.closed, 'still half-open, ticked all along').to.equal(false);
      expect(r.sent, 'nothing sent to the unproven address').to.have.length(1);

      // Positive control: the client's first authenticated datagram proves its address; heartbeats then go out.
      const client = prove(T0 + 4000);
      expect(serverSide.confirmed).to.equal(true);
      const proven = r.sent.length;
      serverSide.tick(T0 + 4000 + TIMINGS.heartbeatRate);
      expect(r.sent.length - proven, 'a heartbeat once the address is proven').to.equal(1);
      expect(r.sent.at(-1)!.to).to.deep.equal(CLIENT);
      client.close();
      serverSide.close();
    });

    it('an unconfirmed session that times out, or is closed, says nothing either', () => {
      const r = rig({}, TIMINGS);
      const first = answered(r);
      first.serverSide.tick(T0 + 60_000);
      expect(first.serverSide.closed, 'the half-open deadline passed').to.equal(true);
      const second = answered(r);
      second.serverSide.close();
      expect(r.sent, 'only the two handshake answers').to.have.length(2);
    });
  });

  describe('the handshake rate: a flood gets no more handshakes than the configured budgets allow', function () {
    // A thousand connects or more each, every one decrypted and many answered: seconds on a loaded machine.
    this.timeout(60_000 * PATIENCE);
    const RATE = 10;
    const BURST = 20;
    const SECONDS = 20;
    /** Connects a second in the flood: five times the global rate. */
    const OFFERED = 50;

    /**
     * OFFERED fresh connects a second for SECONDS, from `hosts` hosts; `echo`: each answers a
     * cookie request at once (a flood from addresses that receive). Returns the seconds covered
     * and how many connects ended each way.
     */
    function flood(r: Rig, hosts: number, echo: boolean): { seconds: number; outcomes: Map<string, number> } {
      const step = 1000 / OFFERED;
      const outcomes = new Map<string, number>();
      const count = (outcome: HandshakeOutcome): string => {
        const k = kind(outcome);
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
        return k;
      };
      let now = T0;
      for (let i = 0; i < SECONDS * OFFERED; i++) {
        now = T0 + i * step;
        const from = { address: `10.${(i % hosts) >> 8}.${(i % hosts) & 255}.1`, port: 1024 + (i % 5000) };
        // Random keys: the client's own X25519 work would only slow the test down.
        const init: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: randomBytes(32), index: i + 1 };
        const outcome = count(r.responder.handle(initiation(r.docrypt, init), from, now));
        if (echo && outcome === 'answered:cookie') {
          count(r.responder.handle(initiation(r.docrypt, { ...init, cookie: readCookieReply(lastReply(r).plaintext)! }), from, now));
        }
      }
      return { seconds: (now - T0) / 1000, outcomes };
    }

    it('unvalidated connects from many hosts: at most the global burst plus the global rate', () => {
      const r = rig({ globalRate: RATE, globalBurst: BURST });
      const { seconds } = flood(r, 250, false);
      expect(r.counters.handshakes).to.be.at.most(BURST + RATE * seconds);
      // Under load the rest were asked for a cookie: the budget is not left idle either.
      expect(r.counters.handshakes).to.be.at.least((RATE * seconds) / 2);
      expect(r.counters.cookiesSent).to.be.above(0);
    });

    it('connects that echo their cookies: validated handshakes have a budget of the same rate, no more', () => {
      const r = rig({ globalRate: RATE, globalBurst: BURST });
      const { seconds } = flood(r, 250, true);
      // The unvalidated budget and the validated one, each a burst plus the rate.
      expect(r.counters.handshakes).to.be.at.most(2 * (BURST + RATE * seconds));
      expect(r.counters.handshakes, 'validated clients keep getting through').to.be.at.least(RATE * seconds);
    });

    it('one host, whatever its ports: at most its own burst plus its own rate', () => {
      const r = rig({ perSourceRate: 1, perSourceBurst: 5 });
      const { seconds, outcomes } = flood(r, 1, false);
      expect(r.counters.handshakes).to.be.at.most(5 + 1 * seconds);
      expect(r.counters.handshakes).to.be.at.least(Math.floor(seconds));
      expect(outcomes.get('dropped:rate-limit'), 'every other connect refused').to.equal(SECONDS * OFFERED - r.counters.handshakes);
    });
  });

  describe('amplification: before an address is validated, no answer is larger than what it sent', () => {
    it('an unpadded version-2 connect is dropped without an answer; the same connect padded is answered', () => {
      const r = rig();
      const { init } = freshInit();
      // The fields of a version-2 connect without the padding encodeInitiation adds.
      const unpadded = encodeHandshake(CMD_CONNECT, init.ephemeralPublic, { v: init.version, idx: init.index });
      expect(unpadded.length, 'shorter than a padded connect').to.be.below(CONNECT_PADDED_LENGTH);
      const short = Buffer.from(r.docrypt.fencrypt(unpadded), 'ascii');
      const work = r.x25519Calls();
      expect(kind(r.responder.handle(short, CLIENT, T0))).to.equal('dropped:amplification');
      expect(r.sent, 'no answer').to.have.length(0);
      expect(r.x25519Calls() - work, 'refused before any X25519 work').to.equal(0);
      expect(r.counters.handshakes).to.equal(0);

      const full = initiation(r.docrypt, init);
      expect(kind(r.responder.handle(full, CLIENT, T0))).to.equal('session');
      expect(r.sent).to.have.length(1);
      expect(r.sent[0]!.datagram.length, 'the answer fits in what the client sent').to.be.at.most(full.length);
    });

    it('over any mix of connects, the bytes sent before validation never exceed the bytes received', () => {
      const r = rig({ globalRate: 1, globalBurst: 4 });
      let now = T0;
      for (let i = 0; i < 60; i++) {
        now += 37;
        const { init } = freshInit();
        const from = { address: `203.0.113.${i % 7}`, port: 1000 + i };
        const datagrams = [
          initiation(r.docrypt, init),
          Buffer.from(r.docrypt.fencrypt(encodeHandshake(CMD_CONNECT, init.ephemeralPublic)), 'ascii'),
          Buffer.from(r.docrypt.fencrypt(`{"cmd": "connect", "v": 2, "epk": "x"}`), 'ascii'),
        ];
        const before = r.sent.length;
        const datagram = datagrams[i % datagrams.length]!;
        r.responder.handle(datagram, from, now);
        for (const { datagram: answer } of r.sent.slice(before)) expect(answer.length, `connect ${i}`).to.be.at.most(datagram.length);
      }
      expect(r.counters.unvalidatedBytesOut).to.be.at.most(r.counters.unvalidatedBytesIn);
      expect(r.sent.length, 'some connects were answered').to.be.above(0);
    });
  });
});
