import type { SeededRandom } from './random.js';
import type { Simulator } from './simulator.js';

export interface LinkOptions {
  /** Bottleneck rate, bits per second. */
  rateBps: number;
  /** One-way propagation delay, ms. */
  delayMs: number;
  /** Drop-tail queue limit, bytes (what waits to be serialised, not counting the datagram on the wire). */
  queueBytes: number;
  /** Probability that a datagram is lost on the wire, after the queue. */
  loss?: number;
  /** Extra delay, uniform in [0, jitterMs), per datagram; datagrams may overtake each other by it. */
  jitterMs?: number;
}

/**
 * One direction of a path: a bottleneck that serialises datagrams at its rate from a drop-tail
 * queue, then a wire with propagation delay, random loss and jitter. Several flows may share it.
 * Counts what it forwarded and dropped and integrates the queue over time, for averages.
 */
export class SimLink {
  forwarded = 0;
  forwardedBytes = 0;
  queueDrops = 0;
  lossDrops = 0;
  maxQueueBytes = 0;
  #queued = 0;
  #busyUntil = 0;
  #queueArea = 0;
  #areaSince: number;
  readonly #started: number;

  constructor(private readonly sim: Simulator, private readonly random: SeededRandom, public options: LinkOptions) {
    this.#areaSince = sim.now;
    this.#started = sim.now;
  }

  /** Bytes waiting in the queue now. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Time-weighted mean of the queue, bytes, since the link was made (or since resetStats). */
  get meanQueueBytes(): number {
    this.#integrate();
    const elapsed = this.sim.now - this.#started;
    return elapsed > 0 ? this.#queueArea / elapsed : 0;
  }

  /** Sends a datagram of `bytes` (as on the wire, headers included); `deliver` runs when it arrives. */
  send(bytes: number, deliver: () => void): void {
    const { rateBps, delayMs, queueBytes, loss = 0, jitterMs = 0 } = this.options;
    const now = this.sim.now;
    const serialise = (bytes * 8 * 1000) / rateBps;
    if (this.#busyUntil > now && this.#queued + bytes > queueBytes) {
      this.queueDrops++;
      return;
    }
    this.#integrate();
    const start = Math.max(now, this.#busyUntil);
    if (start > now) this.#queued += bytes;
    this.maxQueueBytes = Math.max(this.maxQueueBytes, this.#queued);
    this.#busyUntil = start + serialise;
    this.sim.at(start, () => {
      if (start > now) {
        this.#integrate();
        this.#queued -= bytes;
      }
    });
    const departed = start + serialise;
    this.sim.at(departed, () => {
      if (this.random.next() < loss) {
        this.lossDrops++;
        return;
      }
      this.forwarded++;
      this.forwardedBytes += bytes;
      this.sim.at(departed + delayMs + (jitterMs > 0 ? this.random.next() * jitterMs : 0), deliver);
    });
  }

  #integrate(): void {
    const now = this.sim.now;
    this.#queueArea += this.#queued * (now - this.#areaSince);
    this.#areaSince = now;
  }
}
