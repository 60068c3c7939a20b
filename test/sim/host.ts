import type { SeededRandom } from './random.js';
import type { Simulator } from './simulator.js';

/**
 * How a simulated host's single thread behaves, as a Node process's event loop does at high rates:
 * each event costs CPU time, and the thread pauses now and then (garbage collection, other work).
 */
export interface HostOptions {
  /** CPU time per handled event (ms): a datagram received, an acknowledgement, a timer. */
  costMs: number;
  /** Mean time between pauses (ms, exponentially distributed); Infinity for none. */
  pauseEveryMs: number;
  /** A pause lasts uniformly between these (ms). */
  pauseMs: [min: number, max: number];
}

/**
 * A Node process moving 100 Mbit/s, roughly: tens of microseconds per datagram or acknowledgement,
 * and a pause of a few milliseconds a few times a second. With these, the simulated sender's
 * bandwidth estimate runs above the link as the real one does on the emulated WAN path (binding-notes.md).
 */
export const NODE_LIKE_HOST: HostOptions = { costMs: 0.03, pauseEveryMs: 200, pauseMs: [1, 8] };

/**
 * One host's thread. Events that reach it while it is busy or paused wait, in order, as datagrams
 * wait in a socket's receive buffer, and then run back to back: what happened over a pause is
 * seen in a burst, with the host's clock at the time it got to each event. That burst is what a
 * sender's delivery-rate samples see of a receiver that catches up, and is why the host matters
 * to the bandwidth estimate; with no host, events run the instant they arrive.
 */
export class SimHost {
  #busyUntil = 0;
  #pauseAt: number;
  /** Events waiting for the thread: a new one runs at once only when none is. */
  #waiting = 0;

  constructor(private readonly sim: Simulator, private readonly random: SeededRandom, private readonly options: HostOptions) {
    this.#pauseAt = this.#nextPauseAfter(0);
  }

  /** Runs `event` when the thread gets to it. */
  handle(event: () => void): void {
    let start = Math.max(this.sim.now, this.#busyUntil);
    while (this.#pauseAt <= start) {
      const [min, max] = this.options.pauseMs;
      const end = this.#pauseAt + min + this.random.next() * (max - min);
      start = Math.max(start, end);
      this.#pauseAt = this.#nextPauseAfter(end);
    }
    this.#busyUntil = start + this.options.costMs;
    if (start === this.sim.now && this.#waiting === 0) {
      event();
      return;
    }
    this.#waiting++;
    this.sim.at(start, () => {
      this.#waiting--;
      event();
    });
  }

  #nextPauseAfter(t: number): number {
    const every = this.options.pauseEveryMs;
    return every === Infinity ? Infinity : t - every * Math.log(1 - this.random.next());
  }
}
