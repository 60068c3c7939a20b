import { HASH_JOBS_IN_ALL, HASH_JOBS_PER_HOST } from '../constants.js';
import { HostSlots } from './host-slots.js';

/**
 * Bounds the prefix hashing peers can cause: how many run at once in all and per host. A request
 * that does not fit is refused at once with the reason. Hashing is also stoppable between blocks
 * (files.ts), so an abort ends it.
 */
export class HashLimiter {
  readonly #slots: HostSlots;
  /** Bytes hashed under this limiter, in all (what tests measure). */
  hashedBytes = 0;

  constructor(inAll = HASH_JOBS_IN_ALL, perHost = HASH_JOBS_PER_HOST) {
    this.#slots = new HostSlots(inAll, perHost);
  }

  /** Jobs running now. */
  get running(): number {
    return this.#slots.running;
  }

  /** A release function, or the reason `host` may not start a hash now. */
  admit(host: string): (() => void) | string {
    const place = this.#slots.take(host);
    if (place === 'host') return 'this client is already resuming a file; try again when that is done';
    if (place === 'all') return 'the server is busy checking other resumed files; try again shortly';
    return place;
  }
}

/** The limiter every endpoint without one of its own shares: prefix hashing is bounded per process. */
export const processHashLimiter = new HashLimiter();

/** Between blocks of a long hash: the reason to stop now, if any; and a count of bytes hashed. */
export interface HashControl {
  stopped(): string | undefined;
  hashed(bytes: number): void;
}
