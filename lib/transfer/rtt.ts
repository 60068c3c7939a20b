import { INITIAL_RTO_MS, MAX_ACK_DELAY_MS, MAX_RTO_MS, MIN_RTO_MS, RTO_MIN_MARGIN_SHARE } from '../constants.js';

/**
 * Round-trip estimate and retransmission timeout as RFC 6298: SRTT and RTTVAR with gains 1/8
 * and 1/4, RTO = SRTT + 4 RTTVAR (but at least 2 SRTT: RTO_MIN_MARGIN_SHARE), doubled on each
 * timeout (backoff) until an acknowledgement of new data resets it. Only samples from datagrams
 * sent once count (Karn); transfer packet numbers are never reused, so every sample qualifies.
 * Times in milliseconds.
 */
export class RttEstimator {
  smoothed = NaN;
  variance = NaN;
  min = Infinity;
  latest = NaN;
  #backoff = 1;

  constructor(private readonly initialRtoMs = INITIAL_RTO_MS) {}

  get hasSample(): boolean {
    return !Number.isNaN(this.smoothed);
  }

  /**
   * Takes one round trip as measured (`measuredMs`, send to acknowledgement) and the delay the
   * receiver says it held the acknowledgement. As RFC 9002 §5.3, the minimum takes the measured
   * value, and the delay (at most MAX_ACK_DELAY_MS) is subtracted only where that leaves at least
   * the minimum: whatever a peer reports, a sample never falls below the path's own round trip.
   */
  sample(measuredMs: number, ackDelayMs = 0): void {
    if (!(measuredMs >= 0)) return;
    this.min = Math.min(this.min, measuredMs);
    const delay = Math.min(Math.max(ackDelayMs, 0), MAX_ACK_DELAY_MS);
    const rttMs = measuredMs - delay >= this.min ? measuredMs - delay : measuredMs;
    this.latest = rttMs;
    if (Number.isNaN(this.smoothed)) {
      this.smoothed = rttMs;
      this.variance = rttMs / 2;
    } else {
      this.variance = 0.75 * this.variance + 0.25 * Math.abs(this.smoothed - rttMs);
      this.smoothed = 0.875 * this.smoothed + 0.125 * rttMs;
    }
    this.#backoff = 1;
  }

  /** The current timeout, backoff included, clamped to [MIN_RTO_MS, MAX_RTO_MS]. */
  get rto(): number {
    const base = Number.isNaN(this.smoothed) ? this.initialRtoMs : this.smoothed + Math.max(4 * this.variance, RTO_MIN_MARGIN_SHARE * this.smoothed);
    return Math.min(MAX_RTO_MS, Math.max(MIN_RTO_MS, base) * this.#backoff);
  }

  /** A timeout fired: double the next one (RFC 6298 5.5). */
  backOff(): void {
    if (this.rto < MAX_RTO_MS) this.#backoff *= 2;
  }
}
