/**
 * Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation): each datagram records,
 * when sent, how much had been delivered and when; its acknowledgement then gives the rate over
 * the interval between the two, whichever of the send and the ack intervals is longer (so a burst
 * of acknowledgements cannot inflate it). Bytes and milliseconds; rates in bytes per millisecond.
 */

/** What a datagram remembers of the connection's delivery state when it is sent (draft §3.2). */
export interface DeliveryStamp {
  sentAt: number;
  length: number;
  delivered: number;
  deliveredTime: number;
  firstSentTime: number;
  appLimited: boolean;
}

/** One acknowledgement's sample (draft §3.3). `rate` is 0 when the sample is unusable. */
export interface RateSample {
  rate: number;
  /** Bytes delivered over the sample's interval. */
  delivered: number;
  interval: number;
  /** The newest acknowledged datagram was sent while the sender had too little to send. */
  appLimited: boolean;
  /** Delivered bytes when that datagram was sent: the round-trip counter's mark (-1: nothing newly acknowledged). */
  priorDelivered: number;
  /** Bytes this acknowledgement newly delivered and newly declared lost. */
  newlyAcked: number;
  newlyLost: number;
}

export class DeliveryRateSampler {
  /** Bytes delivered (acknowledged) since the stream began, and when the latest were. */
  delivered = 0;
  deliveredTime = 0;
  lost = 0;
  #firstSentTime = 0;
  /** Delivered mark until which samples are app-limited; 0 when not. */
  #appLimitedUntil = 0;
  // The sample being built from one acknowledgement.
  #hasData = false;
  #prior = { delivered: 0, time: 0, sendElapsed: 0, ackElapsed: 0, appLimited: false };
  #newlyAcked = 0;
  #newlyLost = 0;

  /**
   * Stamps a datagram about to be sent with `inFlight` bytes already out (draft §3.2, SendPacket):
   * fills in `stamp`'s delivery state, so the caller makes one object per datagram, not two.
   */
  stamp(stamp: DeliveryStamp, now: number, inFlight: number): void {
    if (inFlight === 0) {
      this.#firstSentTime = now;
      this.deliveredTime = now;
    }
    stamp.sentAt = now;
    stamp.delivered = this.delivered;
    stamp.deliveredTime = this.deliveredTime;
    stamp.firstSentTime = this.#firstSentTime;
    stamp.appLimited = this.#appLimitedUntil !== 0;
  }

  /** The sender ran out of data with room in its window: samples until now says less than the path can (draft §3.4). */
  onAppLimited(inFlight: number): void {
    this.#appLimitedUntil = Math.max(this.delivered + inFlight, 1);
  }

  /**
   * A datagram was acknowledged (once: the caller forgets it). The sample is taken from the
   * newest of those an acknowledgement covers; among datagrams sent between the same two
   * acknowledgements (equal `delivered`), the one sent last, as Linux's tcp_rate does, so the send
   * interval spans everything the delivered count includes.
   */
  onAcked(now: number, p: DeliveryStamp): void {
    this.delivered += p.length;
    this.deliveredTime = now;
    this.#newlyAcked += p.length;
    if (!this.#hasData || p.delivered >= this.#prior.delivered) {
      this.#hasData = true;
      this.#prior.delivered = p.delivered;
      this.#prior.time = p.deliveredTime;
      this.#prior.appLimited = p.appLimited;
      this.#prior.sendElapsed = p.sentAt - p.firstSentTime;
      this.#prior.ackElapsed = now - p.deliveredTime;
      this.#firstSentTime = p.sentAt;
    }
  }

  onLost(p: DeliveryStamp): void {
    this.lost += p.length;
    this.#newlyLost += p.length;
  }

  /** Ends one acknowledgement's sample; intervals shorter than `minRtt` are unusable (draft §3.3). */
  sample(minRtt: number): RateSample {
    if (this.#appLimitedUntil !== 0 && this.delivered > this.#appLimitedUntil) this.#appLimitedUntil = 0;
    const out: RateSample = {
      rate: 0, delivered: 0, interval: 0, appLimited: this.#prior.appLimited, priorDelivered: this.#hasData ? this.#prior.delivered : -1,
      newlyAcked: this.#newlyAcked, newlyLost: this.#newlyLost,
    };
    if (this.#hasData) {
      out.interval = Math.max(this.#prior.sendElapsed, this.#prior.ackElapsed);
      out.delivered = this.delivered - this.#prior.delivered;
      if (out.interval >= minRtt && out.interval > 0) out.rate = out.delivered / out.interval;
    }
    this.#hasData = false;
    this.#newlyAcked = 0;
    this.#newlyLost = 0;
    return out;
  }
}
