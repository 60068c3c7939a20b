import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { COOKIE_BYTES, COOKIE_SECRET_PERIOD_MS } from '../../constants.js';
import { clock } from '../../time.js';
import type { PeerAddress } from '../session.js';


/**
 * Stateless proof that a client receives at its source address (as WireGuard's cookie reply
 * and QUIC's Retry): a MAC of the address and the client's ephemeral key under a rotating
 * secret. A client that echoes it back has shown it is not spoofing; the server keeps no state.
 */
export class CookieJar {
  #secret = randomBytes(32);
  #previous = randomBytes(32);
  #rotated: number;

  /** `now` and every later `now`: milliseconds on the monotonic clock (lib/time.ts). */
  constructor(now = clock()) {
    this.#rotated = now;
  }

  issue(peer: PeerAddress, ephemeralPublic: Uint8Array, now: number): Buffer {
    this.rotate(now);
    return mac(this.#secret, peer, ephemeralPublic);
  }

  verify(cookie: Uint8Array, peer: PeerAddress, ephemeralPublic: Uint8Array, now: number): boolean {
    this.rotate(now);
    if (cookie.length !== COOKIE_BYTES) return false;
    // Both comparisons always run, so the time taken does not say which secret matched.
    const current = timingSafeEqual(mac(this.#secret, peer, ephemeralPublic), cookie);
    const previous = timingSafeEqual(mac(this.#previous, peer, ephemeralPublic), cookie);
    return current || previous;
  }

  private rotate(now: number): void {
    const elapsed = now - this.#rotated;
    if (elapsed < COOKIE_SECRET_PERIOD_MS) return;
    // After two idle periods even the current secret is too old to honour.
    this.#previous = elapsed >= 2 * COOKIE_SECRET_PERIOD_MS ? randomBytes(32) : this.#secret;
    this.#secret = randomBytes(32);
    this.#rotated = now;
  }
}

function mac(secret: Buffer, peer: PeerAddress, ephemeralPublic: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${peer.address}|${peer.port}|`).update(ephemeralPublic).digest().subarray(0, COOKIE_BYTES);
}
