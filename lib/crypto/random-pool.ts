import { randomFillSync } from 'node:crypto';
import { RANDOM_POOL_BYTES, RANDOM_POOL_MAX_REQUEST } from '../constants.js';

/**
 * Small random requests served from a buffer filled in bulk. Each call into a CSPRNG costs a
 * syscall (libsodium's getrandom) or a trip through node:crypto: 5–10 µs under load on this
 * class of machine, three times per handshake. One fill of RANDOM_POOL_BYTES serves hundreds
 * of requests. Bytes handed out are zeroed in the pool at once, so none is ever given twice
 * and none lingers after use; the pool does hold up to 4 KiB of bytes not yet handed out
 * (future ephemeral secrets among them) in memory, as a CSPRNG's own state does. Larger
 * requests go straight to the source.
 */
export class RandomPool {
  readonly #fill: (buf: Uint8Array) => void;
  readonly #pool = new Uint8Array(RANDOM_POOL_BYTES);
  /** Bytes before this offset are used up (and zeroed). */
  #used = RANDOM_POOL_BYTES;

  constructor(fill: (buf: Uint8Array) => void) {
    this.#fill = fill;
  }

  /** Fills `buf` with random bytes. */
  fill(buf: Uint8Array): void {
    const n = buf.length;
    if (n > RANDOM_POOL_MAX_REQUEST) {
      this.#fill(buf);
      return;
    }
    if (this.#used + n > RANDOM_POOL_BYTES) {
      this.#fill(this.#pool);
      this.#used = 0;
    }
    const end = this.#used + n;
    buf.set(this.#pool.subarray(this.#used, end));
    this.#pool.fill(0, this.#used, end);
    this.#used = end;
  }
}

/** node:crypto's CSPRNG (OpenSSL), pooled: for Fernet IVs and the pure-JS backend. */
export const nodeRandom = new RandomPool((buf) => {
  randomFillSync(buf);
});
