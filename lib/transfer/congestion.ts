import { INITIAL_WINDOW_PACKETS, LOSS_BETA, MIN_WINDOW_PACKETS, QUEUE_DELAY_TARGET_MS } from '../constants.js';

/**
 * AIMD congestion control in the style of TCP NewReno (RFC 5681, RFC 6582) with CUBIC's gentler
 * decrease, reacting to loss and to queueing delay (below): slow start doubles the window each round trip; after the first loss,
 * congestion avoidance adds one datagram per window acknowledged. A loss shrinks the window to
 * LOSS_BETA of itself, once per round trip (losses of datagrams sent before the cut belong to the
 * same event); a retransmission timeout drops it to the floor and starts over in slow start.
 * Windows are in bytes, counted as bytes acknowledged (RFC 3465), so sparse acks grow it alike.
 */
export class CongestionControl {
  window: number;
  #threshold = Infinity;
  /** Send time (ms) of the cut; losses of datagrams sent earlier belong to it. */
  #recoveryStart = -Infinity;
  readonly #floor: number;

  constructor(private readonly datagramBytes: number) {
    this.window = INITIAL_WINDOW_PACKETS * datagramBytes;
    this.#floor = MIN_WINDOW_PACKETS * datagramBytes;
  }

  get inSlowStart(): boolean {
    return this.window < this.#threshold;
  }

  onAcked(bytes: number): void {
    if (this.inSlowStart) this.window += bytes;
    else this.window += (this.datagramBytes * bytes) / this.window;
  }

  /** A datagram sent at `sentAt` was lost; `now` starts a new recovery period if it is a new event. */
  onLost(sentAt: number, now: number): void {
    if (sentAt <= this.#recoveryStart) return;
    this.#recoveryStart = now;
    this.window = Math.max(this.#floor, this.window * LOSS_BETA);
    this.#threshold = this.window;
  }

  /**
   * A round-trip sample. Queueing delay above QUEUE_DELAY_TARGET_MS counts as congestion, as a
   * loss would: a loss-only window would fill every buffer on the path first (a 4 MiB socket
   * buffer is 30 ms at 150 MB/s), and everything else on the session would wait behind it.
   */
  onRtt(latest: number, min: number, sentAt: number, now: number): void {
    if (latest - min > QUEUE_DELAY_TARGET_MS) this.onLost(sentAt, now);
  }

  onTimeout(now: number): void {
    this.#threshold = Math.max(this.#floor, this.window * LOSS_BETA);
    this.window = this.#floor;
    this.#recoveryStart = now;
  }
}
