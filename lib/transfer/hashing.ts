import { HASH_JOBS_IN_ALL, HASH_JOBS_PER_HOST } from '../constants.js';

/**
 * Bounds the prefix hashing peers can cause: how many run at once in all and per host. A request
 * that does not fit is refused at once with the reason (it never queues: a queue would only move
 * the work later). Hashing is also stoppable between blocks (files.ts), so an abort ends it.
 */
export class HashLimiter {
  #running = 0;
  readonly #byHost = new Map<string, number>();
  /** Bytes hashed under this limiter, in all (what tests measure). */
  hashedBytes = 0;

  constructor(readonly inAll = HASH_JOBS_IN_ALL, readonly perHost = HASH_JOBS_PER_HOST) {}

  /** Jobs running now. */
  get running(): number {
    return this.#running;
  }

  /** A release function, or the reason `host` may not start a hash now. */
  admit(host: string): (() => void) | string {
    const mine = this.#byHost.get(host) ?? 0;
    if (mine >= this.perHost) return 'this client is already resuming a file; try again when that is done';
    if (this.#running >= this.inAll) return 'the server is busy checking other resumed files; try again shortly';
    this.#running++;
    this.#byHost.set(host, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      const left = (this.#byHost.get(host) ?? 1) - 1;
      if (left === 0) this.#byHost.delete(host);
      else this.#byHost.set(host, left);
    };
  }
}

/** The limiter every endpoint without one of its own shares: prefix hashing is bounded per process. */
export const processHashLimiter = new HashLimiter();

/** Between blocks of a long hash: the reason to stop now, if any; and a count of bytes hashed. */
export interface HashControl {
  stopped(): string | undefined;
  hashed(bytes: number): void;
}
