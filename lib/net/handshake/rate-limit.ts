import {
  GLOBAL_HANDSHAKE_BURST, GLOBAL_HANDSHAKE_RATE, MAX_RATE_LIMITED_SOURCES, SOURCE_HANDSHAKE_BURST, SOURCE_HANDSHAKE_RATE,
} from '../../constants.js';
import { hostKey } from '../address.js';
import { clock } from '../../time.js';

/**
 * Token buckets for handshakes: one global, and one per source host (IPv4 /32, IPv6 /64; see
 * hostKey()), as WireGuard's ratelimiter. Keyed by host, not by address and port: a host has
 * 65,535 ports to spread a flood over, and each would otherwise get a burst of its own. The
 * per-source table is bounded: when full, the bucket refilled longest ago is dropped (it would
 * be full again by now anyway, or nearly).
 */
export interface RateLimitOptions {
  /** Handshakes per second per source host, and the burst a host may spend at once. */
  perSourceRate: number;
  perSourceBurst: number;
  /** Handshakes per second for the whole server (the X25519 budget), and its burst. */
  globalRate: number;
  globalBurst: number;
  /** Most source hosts tracked at once. */
  maxSources: number;
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimitOptions> = Object.freeze({
  perSourceRate: SOURCE_HANDSHAKE_RATE,
  perSourceBurst: SOURCE_HANDSHAKE_BURST,
  globalRate: GLOBAL_HANDSHAKE_RATE,
  globalBurst: GLOBAL_HANDSHAKE_BURST,
  maxSources: MAX_RATE_LIMITED_SOURCES,
});

/** Limits from per-second rates, with bursts of twice the rate. */
export function rateLimitsFor(globalRate: number, perSourceRate: number): Partial<RateLimitOptions> {
  return { globalRate, globalBurst: 2 * globalRate, perSourceRate, perSourceBurst: 2 * perSourceRate };
}

export class TokenBucket {
  #tokens: number;
  #updated: number;

  constructor(readonly rate: number, readonly burst: number, now: number) {
    this.#tokens = burst;
    this.#updated = now;
  }

  /** Refills for the time elapsed, then takes one token if there is one. */
  take(now: number): boolean {
    this.refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Tokens left, as a fraction of the burst. */
  level(now: number): number {
    this.refill(now);
    return this.#tokens / this.burst;
  }

  get updated(): number {
    return this.#updated;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.#updated) / 1000;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.rate);
    this.#updated = now;
  }
}

export class HandshakeRateLimiter {
  readonly #options: RateLimitOptions;
  readonly #global: TokenBucket;
  /** Address-validated (cookie) handshakes have their own budget, so a flood cannot starve them. */
  readonly #validated: TokenBucket;
  readonly #sources = new Map<string, TokenBucket>();

  constructor(options: Partial<RateLimitOptions> = {}, now = clock()) {
    this.#options = { ...DEFAULT_RATE_LIMITS, ...options };
    this.#global = new TokenBucket(this.#options.globalRate, this.#options.globalBurst, now);
    this.#validated = new TokenBucket(this.#options.globalRate, this.#options.globalBurst, now);
  }

  /**
   * True if the host of `address` may start a handshake now; spends its token and a global one.
   * A validated host draws on a bucket of its own, so a flood it did not send (spoofed from its
   * address) cannot spend the handshakes it proves it can receive.
   */
  allow(address: string, now: number, validated = false): boolean {
    const source = validated ? `cookie|${hostKey(address)}` : hostKey(address);
    let bucket = this.#sources.get(source);
    if (!bucket) {
      if (this.#sources.size >= this.#options.maxSources) this.evictOldest();
      bucket = new TokenBucket(this.#options.perSourceRate, this.#options.perSourceBurst, now);
      this.#sources.set(source, bucket);
    } else {
      // Re-insert so Map order stays "least recently used first".
      this.#sources.delete(source);
      this.#sources.set(source, bucket);
    }
    return bucket.take(now) && (validated ? this.#validated : this.#global).take(now);
  }

  /**
   * Forgets sources whose bucket has had time to refill completely: a full bucket says nothing a
   * new one would not. Sources are kept least recently used first, so the sweep stops early.
   */
  sweep(now: number): void {
    const refillMs = (1000 * this.#options.perSourceBurst) / this.#options.perSourceRate;
    for (const [source, bucket] of this.#sources) {
      if (now - bucket.updated < refillMs) break;
      this.#sources.delete(source);
    }
  }

  /** Under load: less than half the global budget left. */
  underLoad(now: number): boolean {
    return this.#global.level(now) < 0.5;
  }

  get trackedSources(): number {
    return this.#sources.size;
  }

  private evictOldest(): void {
    const oldest = this.#sources.keys().next();
    if (!oldest.done) this.#sources.delete(oldest.value);
  }
}
