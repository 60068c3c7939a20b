/**
 * Sliding anti-replay window over 64-bit-ish message counters (RFC 6479, as WireGuard's
 * `replay` package): a ring of 32-bit blocks, so advancing the window clears whole blocks instead
 * of shifting bits. It accepts each counter at most once, and nothing older than WINDOW_SIZE
 * behind the highest counter seen.
 *
 * Counters are JS numbers (exact below 2^53); callers refuse to send past REJECT_AFTER_MESSAGES.
 */
const BLOCK_BITS = 32;
const BLOCK_SHIFT = 5;
const RING_BLOCKS = 256; // 8192 bits
const BLOCK_MASK = RING_BLOCKS - 1;

/** How far behind the newest counter a packet may be and still be accepted. */
export const REPLAY_WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS; // 8160

export class ReplayWindow {
  readonly #ring = new Uint32Array(RING_BLOCKS);
  /** Highest counter accepted so far; -1 before the first. */
  #last = -1;

  /**
   * True if `counter` has not been seen and is inside the window: a cheap filter to run *before*
   * authenticating a packet. It changes nothing.
   */
  check(counter: number, limit: number): boolean {
    if (counter >= limit || counter < 0) return false;
    if (counter > this.#last) return true;
    if (this.#last - counter >= REPLAY_WINDOW_SIZE) return false;
    const bit = 1 << (counter & (BLOCK_BITS - 1));
    return (this.#ring[Math.floor(counter / BLOCK_BITS) & BLOCK_MASK]! & bit) === 0;
  }

  /**
   * Records `counter` if it is new and inside the window; returns false for a replay or a packet
   * too old. Call only after the packet authenticated, so forgeries cannot move the window.
   */
  accept(counter: number, limit: number): boolean {
    if (counter >= limit || counter < 0) return false;
    const block = Math.floor(counter / BLOCK_BITS);
    if (counter > this.#last) {
      const lastBlock = this.#last < 0 ? -1 : Math.floor(this.#last / BLOCK_BITS);
      const clear = Math.min(block - lastBlock, RING_BLOCKS);
      for (let i = 1; i <= clear; i++) this.#ring[(lastBlock + i) & BLOCK_MASK] = 0;
      this.#last = counter;
    } else if (this.#last - counter >= REPLAY_WINDOW_SIZE) {
      return false;
    }
    const index = block & BLOCK_MASK;
    const bit = 1 << (counter & (BLOCK_BITS - 1));
    const old = this.#ring[index]!;
    if ((old & bit) !== 0) return false;
    this.#ring[index] = old | bit;
    return true;
  }

  /** Highest counter accepted so far, -1 before the first. */
  get last(): number {
    return this.#last;
  }
}
