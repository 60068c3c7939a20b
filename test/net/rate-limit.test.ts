import { COOKIE_BYTES, COOKIE_SECRET_PERIOD_MS } from '../../lib/constants.js';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { CookieJar } from '../../lib/net/handshake/cookie.js';
import { DEFAULT_RATE_LIMITS, HandshakeRateLimiter, TokenBucket } from '../../lib/net/handshake/rate-limit.js';
import type { PeerAddress, Session } from '../../lib/net/session.js';
import { createSocket, type Socket } from 'node:dgram';
import { PROTOCOL_VERSION } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { connect, HandshakeTimeoutError } from '../../lib/net/client.js';
import { createServer, type BittrrtServer } from '../../lib/net/server.js';
import { encodeInitiation } from '../../lib/protocol/handshake-v2.js';
import { closeSocket, eventually, nextDatagram, PATIENCE } from '../helpers/udp.js';

const T0 = 1_700_000_000_000;

/** How many of `n` take() calls at `now` succeed. */
function drain(bucket: TokenBucket, now: number, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (bucket.take(now)) ok++;
  return ok;
}

/** How many of `n` allow() calls at `now` succeed. */
function allowed(limiter: HandshakeRateLimiter, source: string, now: number, n: number, validated = false): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (limiter.allow(source, now, validated)) ok++;
  return ok;
}

describe('TokenBucket', () => {
  it('starts full: allows exactly `burst` takes at once', () => {
    for (const burst of [1, 2, 5, 20]) {
      const b = new TokenBucket(10, burst, T0);
      expect(b.level(T0)).to.equal(1);
      expect(drain(b, T0, burst + 10), `burst ${burst}`).to.equal(burst);
      expect(b.level(T0)).to.equal(0);
    }
  });

  it('refills at `rate` tokens per second', () => {
    // rate 2/s: one token per 500 ms (exact in binary floating point)
    const b = new TokenBucket(2, 4, T0);
    expect(drain(b, T0, 10)).to.equal(4);
    expect(b.take(T0 + 250), 'half a token is not enough').to.equal(false);
    expect(b.take(T0 + 500)).to.equal(true);
    expect(b.take(T0 + 500)).to.equal(false);
    expect(drain(b, T0 + 1500, 10), 'two more tokens after another second').to.equal(2);
    expect(b.level(T0 + 1500)).to.equal(0);
    expect(b.level(T0 + 2500)).to.equal(0.5);
  });

  it('refills continuously: tokens accrue across many small steps', () => {
    const b = new TokenBucket(4, 8, T0);
    expect(drain(b, T0, 8)).to.equal(8);
    let ok = 0;
    // 10 seconds in 125 ms steps at 4/s: one token every 2 steps, 40 in all
    for (let step = 1; step <= 80; step++) if (b.take(T0 + step * 125)) ok++;
    expect(ok).to.equal(40);
  });

  it('never holds more than `burst`, however long it sits idle', () => {
    const b = new TokenBucket(1000, 5, T0);
    expect(b.level(T0 + 3_600_000)).to.equal(1);
    expect(drain(b, T0 + 3_600_000, 100)).to.equal(5);
  });

  it('a clock going backwards neither adds tokens nor throws', () => {
    const b = new TokenBucket(1, 3, T0);
    expect(drain(b, T0, 3)).to.equal(3);
    expect(b.take(T0 - 60_000)).to.equal(false);
    expect(b.level(T0 - 60_000)).to.equal(0);
  });

  it('level stays within [0, 1] for any sequence of takes (fast-check)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 50 }),
      fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 100 }), (rate, burst, steps) => {
        const b = new TokenBucket(rate, burst, T0);
        let now = T0;
        let taken = 0;
        for (const step of steps) {
          now += step;
          if (b.take(now)) taken++;
          const level = b.level(now);
          expect(level).to.be.within(0, 1);
        }
        // never more than the burst plus what the elapsed time refilled
        expect(taken).to.be.at.most(burst + Math.floor(((now - T0) / 1000) * rate) + 1);
      }));
  });
});

describe('HandshakeRateLimiter', () => {
  it('has sane defaults', () => {
    expect(DEFAULT_RATE_LIMITS.perSourceBurst).to.be.greaterThan(0);
    expect(DEFAULT_RATE_LIMITS.globalBurst).to.be.greaterThan(DEFAULT_RATE_LIMITS.perSourceBurst);
    expect(Object.isFrozen(DEFAULT_RATE_LIMITS)).to.equal(true);
  });

  it('enforces the per-source burst, and refills per source', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 1, perSourceBurst: 5, globalRate: 1000, globalBurst: 1000 }, T0);
    expect(allowed(l, '10.0.0.1', T0, 20)).to.equal(5);
    expect(allowed(l, '10.0.0.1', T0 + 1000, 20)).to.equal(1);
    expect(allowed(l, '10.0.0.1', T0 + 4000, 20)).to.equal(3);
  });

  it('per-source budgets are per host: one per IPv4 address, one per IPv6 /64', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 1, perSourceBurst: 3, globalRate: 1000, globalBurst: 1000 }, T0);
    expect(allowed(l, '10.0.0.1', T0, 10)).to.equal(3);
    expect(allowed(l, '10.0.0.2', T0, 10)).to.equal(3);
    expect(allowed(l, '::ffff:10.0.0.1', T0, 10), 'an IPv4-mapped address is its IPv4 host').to.equal(0);
    expect(allowed(l, '2001:db8:0:1::1', T0, 10)).to.equal(3);
    expect(allowed(l, '2001:db8:0:1:ffff::2', T0, 10), 'same /64').to.equal(0);
    expect(allowed(l, '2001:db8:0:2::1', T0, 10), 'another /64').to.equal(3);
    expect(l.trackedSources).to.equal(4);
  });

  it('a validated host has a bucket apart from its unvalidated one', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 1, perSourceBurst: 3, globalRate: 1000, globalBurst: 1000 }, T0);
    expect(allowed(l, '10.0.0.1', T0, 10)).to.equal(3);
    expect(allowed(l, '10.0.0.1', T0, 10, true), 'a flood spoofed from its address did not spend it').to.equal(3);
  });

  it('the default per-source burst applies with the defaults', () => {
    const l = new HandshakeRateLimiter({}, T0);
    expect(allowed(l, 'x', T0, DEFAULT_RATE_LIMITS.perSourceBurst + 10)).to.equal(DEFAULT_RATE_LIMITS.perSourceBurst);
  });

  it('enforces the global budget across many sources', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 10, perSourceBurst: 2, globalRate: 10, globalBurst: 50, maxSources: 10_000 }, T0);
    let ok = 0;
    for (let i = 0; i < 200; i++) if (l.allow(`10.1.${i >> 8}.${i & 255}:5000`, T0)) ok++;
    expect(ok).to.equal(50);
    // a brand-new source is refused too: the global budget is spent
    expect(l.allow('192.168.0.1:1', T0)).to.equal(false);
    // after one second the global bucket has 10 more tokens
    let later = 0;
    for (let i = 0; i < 100; i++) if (l.allow(`172.16.0.${i}:1`, T0 + 1000)) later++;
    expect(later).to.equal(10);
  });

  it('validated (cookie) handshakes have their own budget, unaffected by an unvalidated flood', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 10, perSourceBurst: 5, globalRate: 1, globalBurst: 20, maxSources: 10_000 }, T0);
    let flood = 0;
    for (let i = 0; i < 100; i++) if (l.allow(`spoofed-${i}`, T0)) flood++;
    expect(flood).to.equal(20);
    expect(l.allow('honest', T0), 'unvalidated from a fresh source: global budget gone').to.equal(false);
    // the same sources, once validated, still get through (up to their per-source burst)
    let validated = 0;
    for (let i = 0; i < 10; i++) if (l.allow(`validated-${i}`, T0, true)) validated++;
    expect(validated).to.equal(10);
    // and the validated budget is bounded too
    let more = 0;
    for (let i = 0; i < 100; i++) if (l.allow(`validated-more-${i}`, T0, true)) more++;
    expect(more).to.equal(10);
    expect(l.allow('yet-another', T0, true)).to.equal(false);
  });

  it('spending the validated budget does not spend the unvalidated one', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 10, perSourceBurst: 1, globalRate: 1, globalBurst: 10, maxSources: 10_000 }, T0);
    for (let i = 0; i < 10; i++) expect(l.allow(`v${i}`, T0, true)).to.equal(true);
    expect(l.allow('v-extra', T0, true)).to.equal(false);
    expect(l.underLoad(T0), 'validated traffic does not count toward load').to.equal(false);
    for (let i = 0; i < 10; i++) expect(l.allow(`u${i}`, T0)).to.equal(true);
    expect(l.allow('u-extra', T0)).to.equal(false);
  });

  it('underLoad() is true exactly when less than half the global burst is left', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 100, perSourceBurst: 100, globalRate: 2, globalBurst: 10, maxSources: 100 }, T0);
    expect(l.underLoad(T0)).to.equal(false);
    expect(allowed(l, 'a', T0, 5)).to.equal(5); // 5 of 10 left: exactly half
    expect(l.underLoad(T0)).to.equal(false);
    expect(allowed(l, 'a', T0, 1)).to.equal(1); // 4 of 10
    expect(l.underLoad(T0)).to.equal(true);
    expect(l.underLoad(T0 + 500), 'refilled to 5 of 10').to.equal(false);
    expect(allowed(l, 'a', T0 + 500, 10)).to.equal(5);
    expect(l.underLoad(T0 + 500)).to.equal(true);
    expect(l.underLoad(T0 + 60_000)).to.equal(false);
  });

  it('bounds the tracked sources by maxSources', () => {
    const l = new HandshakeRateLimiter({ maxSources: 16, globalBurst: 10_000 }, T0);
    for (let i = 0; i < 1000; i++) {
      l.allow(`s${i}`, T0 + i);
      expect(l.trackedSources).to.be.at.most(16);
    }
    expect(l.trackedSources).to.equal(16);
  });

  it('evicts the least recently used source when full (an evicted source starts afresh)', () => {
    const l = new HandshakeRateLimiter({ perSourceRate: 0, perSourceBurst: 1, globalRate: 1000, globalBurst: 1000, maxSources: 3 }, T0);
    expect(l.allow('a', T0)).to.equal(true);
    expect(l.allow('a', T0 + 1)).to.equal(false);
    expect(l.allow('b', T0 + 2)).to.equal(true);
    expect(l.allow('c', T0 + 3)).to.equal(true);
    // touching `a` again makes `b` the oldest
    expect(l.allow('a', T0 + 4)).to.equal(false);
    expect(l.allow('d', T0 + 5)).to.equal(true); // evicts b
    expect(l.trackedSources).to.equal(3);
    expect(l.allow('a', T0 + 6), 'a was kept: still empty').to.equal(false);
    expect(l.allow('c', T0 + 7), 'c was kept: still empty').to.equal(false);
    expect(l.allow('b', T0 + 8), 'b was evicted: fresh bucket').to.equal(true); // evicts d (oldest now)
    expect(l.trackedSources).to.equal(3);
    expect(l.allow('d', T0 + 9), 'd was evicted: fresh bucket').to.equal(true);
    expect(l.trackedSources).to.equal(3);
  });
});

describe('CookieJar', () => {
  const peer: PeerAddress = { address: '203.0.113.7', port: 40000 };
  const key = randomBytes(32);

  it('issue/verify round trip', () => {
    const jar = new CookieJar(T0);
    const cookie = jar.issue(peer, key, T0);
    expect(cookie.length).to.equal(COOKIE_BYTES);
    expect(jar.verify(cookie, peer, key, T0)).to.equal(true);
    expect(jar.verify(cookie, { ...peer }, Buffer.from(key), T0 + 1000)).to.equal(true);
    // issuing again in the same period gives the same cookie (stateless MAC)
    expect(jar.issue(peer, key, T0 + 10).equals(cookie)).to.equal(true);
  });

  it('fails for another address, port or ephemeral key', () => {
    const jar = new CookieJar(T0);
    const cookie = jar.issue(peer, key, T0);
    expect(jar.verify(cookie, { ...peer, address: '203.0.113.8' }, key, T0), 'address').to.equal(false);
    expect(jar.verify(cookie, { ...peer, address: '::ffff:203.0.113.7' }, key, T0), 'mapped address').to.equal(false);
    expect(jar.verify(cookie, { ...peer, port: 40001 }, key, T0), 'port').to.equal(false);
    const otherKey = Buffer.from(key);
    otherKey[31] = (otherKey[31] as number) ^ 0x80;
    expect(jar.verify(cookie, peer, otherKey, T0), 'ephemeral').to.equal(false);
    expect(jar.verify(cookie, peer, randomBytes(32), T0), 'random ephemeral').to.equal(false);
  });

  it('address and port cannot be shifted into each other', () => {
    const jar = new CookieJar(T0);
    const a = jar.issue({ address: '10.0.0.1', port: 12 }, key, T0);
    expect(jar.verify(a, { address: '10.0.0.11', port: 2 }, key, T0)).to.equal(false);
  });

  it('another jar (another secret) does not accept the cookie', () => {
    const cookie = new CookieJar(T0).issue(peer, key, T0);
    expect(new CookieJar(T0).verify(cookie, peer, key, T0)).to.equal(false);
  });

  it('fails when any byte is flipped', () => {
    const jar = new CookieJar(T0);
    const cookie = jar.issue(peer, key, T0);
    for (let i = 0; i < cookie.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = Buffer.from(cookie);
        bad[i] = (bad[i] as number) ^ mask;
        expect(jar.verify(bad, peer, key, T0), `byte ${i} ^ ${mask}`).to.equal(false);
      }
    }
    expect(jar.verify(cookie, peer, key, T0)).to.equal(true);
  });

  it('fails (without throwing) for a wrong length', () => {
    const jar = new CookieJar(T0);
    const cookie = jar.issue(peer, key, T0);
    for (const bad of [cookie.subarray(0, 15), Buffer.concat([cookie, Buffer.from([0])]), Buffer.alloc(0), Buffer.alloc(32),
      Buffer.concat([cookie, cookie])]) {
      expect(jar.verify(bad, peer, key, T0), `length ${bad.length}`).to.equal(false);
    }
  });

  it('is still valid after one rotation, invalid after two', () => {
    const jar = new CookieJar(T0);
    const cookie = jar.issue(peer, key, T0);
    expect(jar.verify(cookie, peer, key, T0 + COOKIE_SECRET_PERIOD_MS - 1), 'before the first rotation').to.equal(true);
    expect(jar.verify(cookie, peer, key, T0 + COOKIE_SECRET_PERIOD_MS), 'after one rotation').to.equal(true);
    // a cookie issued now (under the new secret) differs from the old one
    expect(jar.issue(peer, key, T0 + COOKIE_SECRET_PERIOD_MS).equals(cookie)).to.equal(false);
    expect(jar.verify(cookie, peer, key, T0 + 2 * COOKIE_SECRET_PERIOD_MS), 'after two rotations').to.equal(false);
  });

  it('a cookie issued after a rotation survives the next rotation', () => {
    const jar = new CookieJar(T0);
    const t1 = T0 + COOKIE_SECRET_PERIOD_MS;
    const cookie = jar.issue(peer, key, t1);
    expect(jar.verify(cookie, peer, key, t1 + COOKIE_SECRET_PERIOD_MS)).to.equal(true);
    expect(jar.verify(cookie, peer, key, t1 + 2 * COOKIE_SECRET_PERIOD_MS)).to.equal(false);
  });

  it('a cookie is invalid two periods later even if the jar was not used in between', () => {
    // The doc promises "a cookie stays valid for up to two periods". A jar that sees no traffic
    // between issue and verify must not keep an old cookie alive indefinitely.
    const jar = new CookieJar(T0);
    const cookie = jar.issue(peer, key, T0);
    expect(jar.verify(cookie, peer, key, T0 + 2 * COOKIE_SECRET_PERIOD_MS), 'two periods, no call in between').to.equal(false);
    const jar2 = new CookieJar(T0);
    const cookie2 = jar2.issue(peer, key, T0);
    expect(jar2.verify(cookie2, peer, key, T0 + 10 * COOKIE_SECRET_PERIOD_MS), 'ten periods, no call in between').to.equal(false);
  });
});

describe('HandshakeRateLimiter.sweep', () => {
  it('forgets sources whose bucket has refilled, keeps the recent ones, and forgotten sources start full', () => {
    const limiter = new HandshakeRateLimiter({ perSourceRate: 10, perSourceBurst: 20 }, 0);
    expect(limiter.allow('old', 0)).to.equal(true);
    expect(limiter.allow('recent', 1500)).to.equal(true);
    limiter.sweep(2000); // 'old' refilled after 2 s, 'recent' not yet
    expect(limiter.trackedSources).to.equal(1);
    limiter.sweep(3500);
    expect(limiter.trackedSources).to.equal(0);
    for (let i = 0; i < 20; i++) expect(limiter.allow('old', 3500)).to.equal(true);
    expect(limiter.allow('old', 3500)).to.equal(false);
  });
});

describe('per-host limits over loopback UDP', function () {
  this.timeout(30_000 * PATIENCE);
  const docrypt = new DoCrypt();
  const sockets: Socket[] = [];
  const sessions: Session[] = [];
  let server: BittrrtServer;

  /** A padded version-2 `connect` with a fresh ephemeral key, as a client sends it. */
  function v2Connect(): Buffer {
    return Buffer.from(docrypt.fencrypt(encodeInitiation({ version: PROTOCOL_VERSION, ephemeralPublic: new CommEncryptor().publicKey, index: 1 })), 'ascii');
  }
  async function socketOn(address: string): Promise<Socket> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    sockets.push(socket);
    return socket;
  }
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.close();
    await Promise.all(sockets.splice(0).map(closeSocket));
    await server.close();
  });

  it("50 ports on one IP get one host's share of handshakes; another host keeps its own", async () => {
    // A refill too slow to matter while the test runs: every answer comes out of the burst.
    server = createServer({ handshakeThreads: 0, rateLimits: { perSourceRate: 0.001, perSourceBurst: 20 } });
    const { port } = await server.listen(0, '127.0.0.1');
    let answered = 0;
    const ports = 50;
    const perPort = 20;
    for (let i = 0; i < ports; i++) {
      const socket = await socketOn('127.0.0.1');
      socket.on('message', () => answered++);
      for (let j = 0; j < perPort; j++) socket.send(v2Connect(), port, '127.0.0.1');
      // One port's burst at a time, so the kernel's receive buffer never overflows.
      expect(await eventually(() => server.counters.packetsIn === (i + 1) * perPort, 10_000)).to.equal(true);
    }
    expect(server.counters.handshakes, 'one burst for the whole host, not one per port').to.equal(20);
    expect(server.counters.dropsOf('rate-limit')).to.equal(ports * perPort - 20);
    expect(await eventually(() => answered === 20, 5_000)).to.equal(true);

    const other = await socketOn('127.0.0.2');
    other.send(v2Connect(), port, '127.0.0.1');
    const reply = await nextDatagram(other, 10_000);
    expect(reply, 'another host is answered').to.not.equal(null);
    expect(server.counters.handshakes).to.equal(21);
  });

  it('a flood from many hosts gets no more handshakes than the global burst plus the global rate over the time it took', async () => {
    const rate = 20;
    const burst = 40;
    // The bucket starts full when the server is made: time from then bounds what it can have refilled.
    const made = performance.now();
    server = createServer({ handshakeThreads: 0, rateLimits: { globalRate: rate, globalBurst: burst, perSourceRate: 1000, perSourceBurst: 1000 } });
    const { port } = await server.listen(0, '127.0.0.1');
    const hosts = await Promise.all(Array.from({ length: 16 }, (_, i) => socketOn(`127.0.2.${i + 1}`)));
    const connects = 1500;
    for (let i = 0; i < connects; i++) {
      hosts[i % hosts.length]!.send(v2Connect(), port, '127.0.0.1');
      // In bursts the server drains before the next, so the kernel's receive buffer never overflows.
      if (i % 50 === 49) expect(await eventually(() => server.counters.packetsIn === i + 1, 10_000), `connect ${i} arrived`).to.equal(true);
    }
    const seconds = (performance.now() - made) / 1000;
    const handshakes = server.counters.handshakes;
    console.log(`      ${connects} connects in ${seconds.toFixed(2)} s: ${handshakes} handshakes, ${server.counters.cookiesSent} cookie requests (ceiling ${Math.floor(burst + rate * seconds)})`);
    expect(handshakes).to.be.at.most(burst + rate * seconds);
    expect(handshakes, 'the budget was used').to.be.at.least(burst / 2);
    expect(server.counters.cookiesSent, 'the rest were asked to prove their address').to.be.above(0);
  });

  it('one host holds at most maxSessionsPerHost sessions, from any ports; other hosts and freed slots are not affected', async () => {
    server = createServer({ handshakeThreads: 0, maxSessionsPerHost: 3 });
    const { port } = await server.listen(0, '127.0.0.1');
    for (let i = 0; i < 3; i++) sessions.push(await connect({ host: '127.0.0.1', port }));
    const refused = await connect({ host: '127.0.0.1', port, attempts: 3, delayMs: 50 }).then(
      (s) => { s.close(); return null; },
      (err: Error) => err,
    );
    expect(refused).to.be.instanceOf(HandshakeTimeoutError);
    expect(await eventually(() => server.counters.dropsOf('host-session-limit') === 3, 5_000)).to.equal(true);
    expect(server.sessionCount).to.equal(3);

    const other = await socketOn('127.0.0.2');
    other.send(v2Connect(), port, '127.0.0.1');
    expect(await nextDatagram(other, 10_000), 'another host is answered').to.not.equal(null);
    expect(server.sessionCount).to.equal(4);

    // A closed session frees its host's slot.
    sessions.shift()!.close();
    expect(await eventually(() => server.sessionCount === 3, 5_000)).to.equal(true);
    sessions.push(await connect({ host: '127.0.0.1', port }));
    expect(server.sessionCount).to.equal(4);
  });
});
