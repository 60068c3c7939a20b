import { REPLAY_RING_BLOCKS } from '../constants.js';

/**
 * Sliding anti-replay window over 64-bit-ish message counters (RFC 6479, as WireGuard's
 * `replay` package): a ring of 32-bit blocks, so advancing the window clears whole blocks instead
 * of shifting bits. It accepts each counter at most once, and nothing older than WINDOW_SIZE
 * behind the highest counter seen.
 *
 * Counters are JS numbers (exact below 2^53); callers refuse to send past REJECT_AFTER_MESSAGES.
 */
const BLOCK_BITS = 32;
/**
 * REPLAY_RING_BLOCKS = 80: a window of 2528 packets (comfortably over the 2048 asked for) in 320
 * bytes per set of traffic keys, which matters with 10,000 idle sessions. Not a power of two, so slots are
 * found with `%` rather than a mask; that costs about a nanosecond per packet.
 */
const RING_BLOCKS = REPLAY_RING_BLOCKS;

/** Bits in the ring; one block of it is always being reused, hence the window below. */
export const REPLAY_RING_BITS = RING_BLOCKS * BLOCK_BITS;
/** How far behind the newest counter a packet may be and still be accepted. */
export const REPLAY_WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS; // 2528
/** Bytes of one ring. */
export const REPLAY_RING_BYTES = RING_BLOCKS * 4;

export class ReplayWindow {
  readonly #ring: Uint32Array;
  /** Highest counter accepted so far; -1 before the first. */
  #last = -1;

  /** `ring` (RING_BLOCKS zeroed blocks) may come from a pool; by default it is the window's own. */
  constructor(ring: Uint32Array = new Uint32Array(RING_BLOCKS)) {
    if (ring.length !== RING_BLOCKS) throw new RangeError(`a replay ring has ${RING_BLOCKS} blocks`);
    this.#ring = ring;
  }

  /**
   * True if `counter` has not been seen and is inside the window: a cheap filter to run *before*
   * authenticating a packet. It changes nothing.
   */
  check(counter: number, limit: number): boolean {
    if (counter >= limit || counter < 0) return false;
    if (counter > this.#last) return true;
    if (this.#last - counter >= REPLAY_WINDOW_SIZE) return false;
    const bit = 1 << (counter & (BLOCK_BITS - 1));
    return (this.#ring[Math.floor(counter / BLOCK_BITS) % RING_BLOCKS]! & bit) === 0;
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
      for (let i = 1; i <= clear; i++) this.#ring[(lastBlock + i) % RING_BLOCKS] = 0;
      this.#last = counter;
    } else if (this.#last - counter >= REPLAY_WINDOW_SIZE) {
      return false;
    }
    const index = block % RING_BLOCKS;
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
