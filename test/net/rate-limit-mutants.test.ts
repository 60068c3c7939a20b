import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { COOKIE_SECRET_PERIOD_MS } from '../../lib/constants.js';
import { CookieJar } from '../../lib/net/handshake/cookie.js';
import { HandshakeRateLimiter, rateLimitsFor } from '../../lib/net/handshake/rate-limit.js';

/** Cases rate-limit.test.ts leaves open: found by mutation testing (npm run mutate). */
describe('rate limits and cookies: what mutation testing found open', () => {
  it('rateLimitsFor gives bursts of twice each rate', () => {
    expect(rateLimitsFor(10, 3)).to.deep.equal({ globalRate: 10, globalBurst: 20, perSourceRate: 3, perSourceBurst: 6 });
    const limiter = new HandshakeRateLimiter(rateLimitsFor(100, 3), 0);
    const allowed = Array.from({ length: 10 }, () => limiter.allow('192.0.2.1', 0)).filter(Boolean).length;
    expect(allowed).to.equal(6);
  });

  it('a cookie verifies as often as it is echoed within its period', () => {
    const now = 1_000_000;
    const jar = new CookieJar(now);
    const peer = { address: '192.0.2.1', port: 1 };
    const key = randomBytes(32);
    const cookie = jar.issue(peer, key, now + 1);
    for (let i = 0; i < 3; i++) expect(jar.verify(cookie, peer, key, now + 2 + i), `echo ${i}`).to.equal(true);
  });

  it('the secret periods count from when the jar was made, not from its first use', () => {
    const made = 1_000_000;
    const jar = new CookieJar(made);
    const peer = { address: '192.0.2.1', port: 1 };
    const key = randomBytes(32);
    const cookie = jar.issue(peer, key, made + COOKIE_SECRET_PERIOD_MS - 1);
    expect(jar.verify(cookie, peer, key, made + COOKIE_SECRET_PERIOD_MS - 1)).to.equal(true);
    expect(jar.verify(cookie, peer, key, made + 2 * COOKIE_SECRET_PERIOD_MS)).to.equal(false);
  });
});
