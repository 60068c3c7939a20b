import type { RateSample } from './delivery-rate.js';
import { MaxFilter } from './max-filter.js';

/*
 * Model-based congestion control in the BBR family (draft-ietf-ccwg-bbr; Linux tcp_bbr.c). The
 * sender keeps a model of the path: its bottleneck bandwidth (the largest delivery rate of the
 * last rounds) and its propagation round trip (the smallest RTT of the last seconds). It paces at
 * a gain times that bandwidth and keeps at most a gain times their product (the BDP) in flight.
 * Random loss does not move the model, so it does not collapse the rate as it does a loss-driven
 * window; only a round whose loss rate passes LOSS_THRESHOLD while this flow probes, the sign of
 * a queue that its probe overflowed, bounds what may be in flight (BBRv3's inflight_hi), and only
 * down to the model's BDP.
 */

/** Startup's pacing gain, 2/ln 2 rounded down as BBRv3 has it: the smallest that doubles the rate each round. */
const STARTUP_PACING_GAIN = 2.77;
/** Startup's and ProbeBW's window gain: room for delayed and aggregated acknowledgements (draft §2.6). */
const CWND_GAIN = 2;
/** Drain's pacing gain (BBRv3): empties Startup's queue in about one round. */
const DRAIN_PACING_GAIN = 0.35;
/**
 * ProbeBW's pacing gains, one phase per min RTT (BBRv1's cycle): probe up a quarter, drain what
 * that queued, then cruise. Flows start at a random phase other than the drain, and each cycle
 * cruises a random number of phases (CRUISE_PHASES_MIN up to all six), so two flows do not probe in
 * step.
 */
const PROBE_BW_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
/**
 * Fewest cruise phases in a ProbeBW cycle; each cycle picks from here to six at random, as BBRv3
 * picks its wait between probes at random. With a fixed cycle, two flows whose drains end together
 * (each drains until the shared queue is gone) probe together from then on: in a simulated trace
 * the smaller flow paced 23.6 Mbit/s in its probe while the larger paced 98.6 in its own, so the
 * smaller one measured 19 again and the split froze. A flow that started 100 ms after another
 * between Node-like hosts (24 seeds, Jain over 20 s): mean 0.917, 20 seeds under 0.95, fixed; mean
 * 0.980 and one under 0.95 with 2–6 cruise phases. Started together, worst 0.968 → 0.990. Cycles
 * are never longer than before, so the 8-round bandwidth filter still holds each probe's peak; they
 * are 6 phases on average instead of 8, and the mean queue between Node-like hosts rose from 0.17–0.19
 * to 0.21–0.24 BDP.
 */
const CRUISE_PHASES_MIN = 2;
/** PROBE_BW_GAINS' index of the first cruise phase (after the probe and the drain). */
const FIRST_CRUISE_PHASE = 2;
/** Rounds over which the bandwidth estimate is the maximum: one ProbeBW cycle, so each holds one probe's peak (v1 keeps 10; with 8 a later flow took its share within 10 s on a simulated 100 Mbit/s x 50 ms path, 16 s with 10). */
const BANDWIDTH_FILTER_ROUNDS = 8;
/** How long the min RTT estimate holds before ProbeRTT measures it again (BBRv1: 10 s), and how long ProbeRTT lasts. */
const MIN_RTT_WINDOW_MS = 10_000;
/**
 * When the min RTT estimate expires, a sample taken within this share above it in its window
 * confirms it, and it holds another window without a ProbeRTT: the queue was all but empty when the
 * sample was taken, which is what ProbeRTT would go and look for. BBR in the kernel needs no such
 * margin: its timestamps are microseconds with no event loop between the wire and the clock, so a
 * sample taken with the queue drained is at or below the min. Here the same sample is a few hundred
 * microseconds late: a `--bwup` at 0.1% loss over 100 Mbit/s x 50 ms (WAN bench, 20 s) took no
 * sample at or below the min after its first half second, and paid a ProbeRTT at 10.5 s (half the
 * BDP for 200 ms and a round, about 0.15 s of the link), while 763 of its 139,184 samples (about 38
 * a second) came within 1% above the min. 1% of a 50 ms path is 0.5 ms, 4 datagrams' worth at
 * 100 Mbit/s: a queue no goal cares about. 60 s `--bwup` runs on that path, two each: 92.8 and
 * 92.8 Mbit/s without the confirmation, 93.6 and 93.5 with it.
 */
const MIN_RTT_CONFIRM_SHARE = 0.01;
/**
 * …but only while the bandwidth estimate is at least this share of what it was when the min RTT
 * was last measured or confirmed. A flow whose estimate fell since (a newcomer took part of the
 * link, or the path slowed) still pays its ProbeRTT: draining to half the BDP is what lets a later
 * flow measure the link and take its share. In simulation, a flow that started 3 s after another
 * had 29% of the link at 13–15 s when every confirmation skipped ProbeRTT, and 41% (as before)
 * with this condition.
 */
const CONFIRM_BANDWIDTH_SHARE = 0.9;
const PROBE_RTT_MS = 200;
/** ProbeRTT keeps this share of the BDP in flight (BBRv2/v3: half, not v1's four packets, so throughput dips less). */
const PROBE_RTT_CWND_GAIN = 0.5;
/** Startup ends once the bandwidth estimate has not grown by this factor for FULL_PIPE_ROUNDS rounds (draft §4.3.1.2). */
const FULL_PIPE_GROWTH = 1.25;
const FULL_PIPE_ROUNDS = 3;
/**
 * A round that loses more than this share of what it sent is congestion, not noise (BBRv3's
 * BBR.LossThresh). At or below it, loss is left to retransmission: random loss on a long path must
 * not cost rate. Above it, in-flight data is bounded (inflight_hi), never below INFLIGHT_HI_FLOOR × BDP.
 */
export const LOSS_THRESHOLD = 0.02;
/**
 * A high-loss round sets inflight_hi only if this flow probed (pacing gain above 1) in it or in the
 * rounds just before, whose datagrams it is still finding lost; BBRv3 likewise adapts inflight_hi
 * only to loss in its own probes (bw_probe_samples). On a shared bottleneck the loss a cruising flow
 * sees comes from another flow's probe: bounding the cruising flow as well kept a flow that left
 * Startup with the smaller share window-limited in its own probes, and the split froze (simulated
 * trace: the smaller flow's probes went out window-bound at 338 of 338 KB). A real overload still
 * bounds every flow: each probes once a cycle, and its estimate falls with its share meanwhile.
 */
const PROBE_LOSS_ROUNDS = 2;
/** Lost datagrams a round needs before its loss rate counts (a single loss in a short round is not a rate). */
const LOSS_EVENTS_MIN = 3;
/** inflight_hi after a high-loss round: this share of what was in flight (BBRv3's BBR.Beta)… */
const INFLIGHT_HI_BETA = 0.7;
/** …but never below this many BDPs, so loss alone cannot take the window under what the path carries. */
const INFLIGHT_HI_FLOOR = 1.25;
/** Smallest window, in datagrams (draft: BBR.MinPipeCwnd, 4 packets). */
const MIN_WINDOW_PACKETS = 4;
/** Window before the first estimate, in datagrams (RFC 9002 allows 10; 32 as many stacks on fast paths). */
const INITIAL_WINDOW_PACKETS = 32;
/**
 * The round trip the window allows for is never taken below this (ms). A Node process answers
 * between other work: on a loopback or LAN path of 0.2 ms, a busy event loop holds
 * acknowledgements for milliseconds, and a window of twice the 0.2 ms BDP would stall the sender
 * for the rest of each wait. Pacing still holds the rate; only the in-flight cap is larger, and on
 * any path longer than this nothing changes.
 */
const HOST_RTT_FLOOR_MS = 4;
/** Pacing before any RTT sample: the initial window over this assumed round trip (ms). */
const INITIAL_RTT_MS = 1;
/**
 * Startup paces at least this many windows per min RTT, so a round's window goes out within two
 * thirds of a round trip. Pacing at STARTUP_PACING_GAIN times the bandwidth estimate alone is
 * slower than that early on: while the window binds, a delivery-rate sample spans a round trip plus
 * the round's sending time, so the estimate lags the window, the pacing spreads each round's window
 * over most of the round trip, and the next samples lag again. In simulation (100 Mbit/s x 50 ms)
 * the estimate grew about 1.3x a round (6.4, 6.9, 10.2, 11.7 Mbit/s in the first four) instead of
 * doubling. The window still bounds what is in flight. With this floor and the acknowledgement
 * bursts in Startup's window target (#setWindow), the estimate reached 90 Mbit/s at 307 ms instead
 * of 370 (a round earlier); 64 MiB at 1% took 5.995 s instead of 6.037 (median of 12 seeds); and a
 * flow that started 3 s after another had 40–60% of the link at 13–15 s in 22 of 24 seeds instead
 * of 14. Floors of 1 and 1.25 left more of the first twelve seeds out of range; 2 split two flows
 * that started together 38/62 in one of six.
 */
const STARTUP_WINDOW_PACING = 1.5;

export type BbrState = 'startup' | 'drain' | 'probe-bw' | 'probe-rtt';

export interface BbrOptions {
  /** A datagram's payload, the unit of windows. */
  datagramBytes: number;
  /** Uniform in [0, 1): picks the first ProbeBW phase and each cycle's cruise. Injected so a simulation can be replayed. */
  random: () => number;
}

/** What the controller needs of one acknowledgement. */
export interface AckEvent {
  now: number;
  sample: RateSample;
  /** The latest RTT sample (ms), NaN if this acknowledgement gave none. */
  rtt: number;
  /** Bytes in flight after the acknowledgement. */
  inFlight: number;
}

export class Bbr {
  state: BbrState = 'startup';
  /** Most bytes that may be in flight. */
  window: number;
  /** Bytes per millisecond. */
  pacingRate: number;
  readonly #mss: number;
  readonly #random: () => number;
  readonly #bandwidth = new MaxFilter(BANDWIDTH_FILTER_ROUNDS);
  #minRtt = Infinity;
  #minRttStamp = 0;
  /** When a sample last came within MIN_RTT_CONFIRM_SHARE above the min. */
  #minRttConfirmedAt = -Infinity;
  /** The bandwidth estimate when the min RTT was last measured or confirmed. */
  #minRttBandwidth = 0;
  #pacingGain = STARTUP_PACING_GAIN;
  #cwndGain = CWND_GAIN;
  // Rounds: a round ends when a datagram sent after it began is acknowledged.
  #round = 0;
  #nextRoundDelivered = 0;
  #roundStart = false;
  // Startup's full-pipe detector.
  #filledPipe = false;
  #fullBandwidth = 0;
  #fullBandwidthRounds = 0;
  // ProbeBW.
  #cycleIndex = 0;
  #cycleStamp = 0;
  // ProbeRTT.
  #probeRttDone = -1;
  #probeRttRoundDone = false;
  #priorWindow = 0;
  // Loss in the current round, and the bound it sets.
  #lostInRound = 0;
  #ackedInRound = 0;
  #lossEventsInRound = 0;
  #maxInFlightInRound = 0;
  #inflightHi = Infinity;
  #inflightHiGrowth = 1;
  /** The last round in which the pacing gain was above 1 (Startup or a ProbeBW probe). */
  #probedRound = -Infinity;
  // Acknowledgement aggregation: how far acknowledgements ran ahead of the bandwidth estimate.
  readonly #extraAcked = new MaxFilter(BANDWIDTH_FILTER_ROUNDS);
  #aggregationStart = 0;
  #aggregationDelivered = 0;

  constructor(options: BbrOptions) {
    this.#mss = options.datagramBytes;
    this.#random = options.random;
    this.window = INITIAL_WINDOW_PACKETS * this.#mss;
    this.pacingRate = (STARTUP_PACING_GAIN * this.window) / INITIAL_RTT_MS;
  }

  /** The bottleneck bandwidth estimate (bytes/ms), 0 before any sample. */
  get bandwidth(): number {
    return this.#bandwidth.best;
  }

  get minRtt(): number {
    return this.#minRtt;
  }

  /** The estimated bandwidth-delay product, bytes (the initial window before an estimate). */
  get bdp(): number {
    return this.#bdpOver(this.#minRtt);
  }

  /** Bandwidth × `rtt`, bytes (the initial window before an estimate). */
  #bdpOver(rtt: number): number {
    if (this.bandwidth === 0 || this.#minRtt === Infinity) return INITIAL_WINDOW_PACKETS * this.#mss;
    return this.bandwidth * rtt;
  }

  /** The bound a high-loss round set on what may be in flight (Infinity when none). */
  get inflightHi(): number {
    return this.#inflightHi;
  }

  /** The pacing rate before a bandwidth sample, once an RTT is known: the window over that RTT. */
  onFirstRtt(rtt: number): void {
    if (this.bandwidth === 0) this.pacingRate = (STARTUP_PACING_GAIN * this.window) / Math.max(rtt, INITIAL_RTT_MS / 10);
  }

  /** A datagram went out with `inFlight` bytes (itself included) now in flight. */
  onSent(inFlight: number): void {
    if (inFlight > this.#maxInFlightInRound) this.#maxInFlightInRound = inFlight;
  }

  onAck(ack: AckEvent): void {
    const { now, sample } = ack;
    this.#updateRound(sample);
    if (sample.rate > 0 && (sample.rate >= this.bandwidth || !sample.appLimited)) this.#bandwidth.update(sample.rate, this.#round);
    this.#updateMinRtt(now, ack.rtt);
    this.#lostInRound += sample.newlyLost;
    this.#ackedInRound += sample.newlyAcked;
    this.#lossEventsInRound += Math.ceil(sample.newlyLost / this.#mss);
    if (this.#pacingGain > 1) this.#probedRound = this.#round;
    if (this.#roundStart) this.#endRound();
    this.#updateAggregation(now, sample.newlyAcked);
    this.#updateStartup(sample);
    this.#updateDrain(ack.inFlight);
    this.#updateProbeBw(now, ack.inFlight, sample);
    this.#updateProbeRtt(now, ack.inFlight);
    this.#setPacingRate();
    this.#setWindow(sample.newlyAcked);
  }

  /** The retransmission timer fired. */
  onTimeout(): void {
    // Everything in flight was presumed lost: start again from a small window, and let
    // acknowledgements grow it back to the model's target (draft §4.6.4.4, the RTO case).
    this.#priorWindow = Math.max(this.#priorWindow, this.window);
    this.window = MIN_WINDOW_PACKETS * this.#mss;
  }

  #updateRound(sample: RateSample): void {
    this.#roundStart = false;
    if (sample.priorDelivered >= this.#nextRoundDelivered) {
      this.#nextRoundDelivered = sample.priorDelivered + sample.delivered;
      this.#round++;
      this.#roundStart = true;
    }
  }

  #updateMinRtt(now: number, rtt: number): void {
    // Not before the first sample: the clock need not start at zero (a process's monotonic clock counts from its start).
    let expired = this.#minRtt !== Infinity && now - this.#minRttStamp > MIN_RTT_WINDOW_MS;
    if (expired && this.#minRttConfirmedAt > this.#minRttStamp && this.bandwidth >= CONFIRM_BANDWIDTH_SHARE * this.#minRttBandwidth) {
      // Confirmed in its window, and the link carries what it did: the estimate holds from the confirmation on.
      this.#minRttMeasured(this.#minRttConfirmedAt);
      expired = now - this.#minRttStamp > MIN_RTT_WINDOW_MS;
    }
    if (rtt > 0 && (rtt <= this.#minRtt || expired)) {
      this.#minRtt = rtt;
      this.#minRttMeasured(now);
    } else if (rtt > 0 && rtt <= this.#minRtt * (1 + MIN_RTT_CONFIRM_SHARE)) {
      this.#minRttConfirmedAt = now;
    }
    if (expired && this.state !== 'probe-rtt' && this.#minRtt !== Infinity) {
      this.state = 'probe-rtt';
      this.#pacingGain = 1;
      this.#cwndGain = 1;
      this.#priorWindow = Math.max(this.#priorWindow, this.window);
      this.#probeRttDone = -1;
    }
  }

  /** The min RTT was measured (or confirmed) `at`: its window starts there, beside the bandwidth estimate of the moment. */
  #minRttMeasured(at: number): void {
    this.#minRttStamp = at;
    this.#minRttBandwidth = this.bandwidth;
  }

  /**
   * At the end of each round: was it a high-loss round of this flow's probe? If so, bound what is
   * in flight (BBRv3's inflight_hi on loss, with a floor at the BDP); if not, let the bound grow
   * back, doubling its step each round (as BBRv3's ProbeBW_UP), and lift it once it no longer binds.
   */
  #endRound(): void {
    const sent = this.#lostInRound + this.#ackedInRound;
    const highLoss = this.#lossEventsInRound >= LOSS_EVENTS_MIN && this.#lostInRound > LOSS_THRESHOLD * sent;
    const probed = this.#round - this.#probedRound <= PROBE_LOSS_ROUNDS;
    if (highLoss && probed && this.#filledPipe) {
      const floor = INFLIGHT_HI_FLOOR * this.bdp;
      this.#inflightHi = Math.max(floor, Math.min(this.#inflightHi, this.#maxInFlightInRound) * INFLIGHT_HI_BETA);
      this.#inflightHiGrowth = 1;
    } else if (this.#inflightHi !== Infinity) {
      // Each round without high loss, the bound grows by a step that doubles (as BBRv3's
      // ProbeBW_UP does), so a flow cut by a burst of drops is back within a few rounds.
      this.#inflightHi += this.#inflightHiGrowth * this.#mss;
      this.#inflightHiGrowth *= 2;
      if (this.#inflightHi > 2 * CWND_GAIN * this.bdp) this.#inflightHi = Infinity;
    }
    this.#lostInRound = 0;
    this.#ackedInRound = 0;
    this.#lossEventsInRound = 0;
    this.#maxInFlightInRound = 0;
  }

  /**
   * Acknowledgements come in bursts (a receiver that answers once per event-loop turn, a sender
   * whose timers are a millisecond coarse): the window must hold what a burst's wait keeps in
   * flight beyond the BDP, or the sender stalls between bursts (draft §4.6.4.3, BBR.extra_acked).
   */
  #updateAggregation(now: number, acked: number): void {
    if (this.bandwidth === 0 || acked === 0) return;
    let expected = this.bandwidth * (now - this.#aggregationStart);
    if (this.#aggregationDelivered <= expected) {
      this.#aggregationDelivered = 0;
      this.#aggregationStart = now;
      expected = 0;
    }
    this.#aggregationDelivered += acked;
    this.#extraAcked.update(Math.min(this.#aggregationDelivered - expected, this.window), this.#round);
  }

  /**
   * Startup ends when the bandwidth estimate has not grown by 25% for FULL_PIPE_ROUNDS rounds
   * (BBRv1). Not on loss, as BBRv3 also does: measured in simulation, leaving on a lossy round
   * (even one that showed a queue) cut Startup's overshoot into a quarter-BDP buffer from about 3%
   * to 1% retransmitted, but a flow that started beside another then left Startup at a third of
   * its share and took more than 10 s to converge; random loss alone would cost seconds of ProbeBW.
   */
  #updateStartup(sample: RateSample): void {
    if (this.#filledPipe || !this.#roundStart || sample.appLimited) return;
    if (this.bandwidth >= this.#fullBandwidth * FULL_PIPE_GROWTH) {
      this.#fullBandwidth = this.bandwidth;
      this.#fullBandwidthRounds = 0;
      return;
    }
    if (++this.#fullBandwidthRounds < FULL_PIPE_ROUNDS) return;
    this.#filledPipe = true;
    if (this.state === 'startup') {
      this.state = 'drain';
      this.#pacingGain = DRAIN_PACING_GAIN;
      this.#cwndGain = CWND_GAIN;
    }
  }

  #updateDrain(inFlight: number): void {
    if (this.state === 'drain' && inFlight <= this.bdp) this.#enterProbeBw();
  }

  #enterProbeBw(): void {
    this.state = 'probe-bw';
    this.#cwndGain = CWND_GAIN;
    // Any phase but the drain one (index 1) first.
    const start = Math.floor(this.#random() * (PROBE_BW_GAINS.length - 1));
    this.#cycleIndex = start === 1 ? PROBE_BW_GAINS.length - 1 : start;
    this.#cycleStamp = -Infinity; // set on the next acknowledgement
    this.#pacingGain = PROBE_BW_GAINS[this.#cycleIndex]!;
  }

  /** Advances the gain cycle each min RTT; probing up lasts until in flight reaches its target or loss is high, draining until the queue is gone. */
  #updateProbeBw(now: number, inFlight: number, sample: RateSample): void {
    if (this.state !== 'probe-bw') return;
    if (this.#cycleStamp === -Infinity) this.#cycleStamp = now;
    const elapsed = now - this.#cycleStamp > this.#minRtt;
    let next = elapsed;
    if (this.#pacingGain > 1) {
      next = elapsed && (sample.newlyLost > 0 || inFlight >= this.#pacingGain * this.bdp || inFlight >= this.#inflightHi);
      // Give up probing after a few rounds that did not reach the target (app-limited or window-bound).
      if (!next && now - this.#cycleStamp > 4 * this.#minRtt) next = true;
    } else if (this.#pacingGain < 1) {
      // Drain until the queue is gone (BBRv3's ProbeBW_DOWN), not for one round as v1 does: a
      // probe that found the path full leaves a datagram or two queued, and a cruise at the
      // bandwidth estimate never drains them, so v1's queue ratchets up cycle after cycle.
      next = inFlight <= this.bdp || now - this.#cycleStamp > 4 * this.#minRtt;
    }
    if (!next) return;
    this.#cycleIndex = (this.#cycleIndex + 1) % PROBE_BW_GAINS.length;
    if (this.#cycleIndex === FIRST_CRUISE_PHASE) {
      // Skip 0 to 4 of the six cruise phases: this cycle cruises 6 down to CRUISE_PHASES_MIN.
      const cruisePhases = PROBE_BW_GAINS.length - FIRST_CRUISE_PHASE;
      this.#cycleIndex += Math.floor(this.#random() * (cruisePhases - CRUISE_PHASES_MIN + 1));
    }
    this.#cycleStamp = now;
    this.#pacingGain = PROBE_BW_GAINS[this.#cycleIndex]!;
  }

  #updateProbeRtt(now: number, inFlight: number): void {
    if (this.state !== 'probe-rtt') return;
    const target = Math.max(MIN_WINDOW_PACKETS * this.#mss, PROBE_RTT_CWND_GAIN * this.bdp);
    if (this.#probeRttDone < 0 && inFlight <= target) {
      this.#probeRttDone = now + PROBE_RTT_MS;
      this.#probeRttRoundDone = false;
      this.#nextRoundDelivered = 0; // the next acknowledgement starts a round
    } else if (this.#probeRttDone >= 0) {
      if (this.#roundStart) this.#probeRttRoundDone = true;
      if (this.#probeRttRoundDone && now >= this.#probeRttDone) {
        this.#minRttMeasured(now);
        this.window = Math.max(this.window, this.#priorWindow);
        if (this.#filledPipe) this.#enterProbeBw();
        else {
          this.state = 'startup';
          this.#pacingGain = STARTUP_PACING_GAIN;
          this.#cwndGain = CWND_GAIN;
        }
      }
    }
  }

  #setPacingRate(): void {
    if (this.bandwidth === 0) return;
    let rate = this.#pacingGain * this.bandwidth;
    if (!this.#filledPipe && this.#minRtt !== Infinity) rate = Math.max(rate, (STARTUP_WINDOW_PACING * this.window) / this.#minRtt);
    // Before the pipe is full, only raise it: one low sample must not slow Startup.
    if (this.#filledPipe || rate > this.pacingRate) this.pacingRate = rate;
  }

  /** Grows the window towards gain × BDP by what is acknowledged (draft §4.6.4.6), within inflight_hi. */
  #setWindow(acked: number): void {
    const floor = MIN_WINDOW_PACKETS * this.#mss;
    if (this.state === 'probe-rtt') {
      this.window = Math.max(floor, Math.min(this.window, PROBE_RTT_CWND_GAIN * this.bdp));
      return;
    }
    // Acknowledgements that run ahead of the estimate count in Startup too (the draft's
    // BBRUpdateMaxInflight, in every state): early rounds' acknowledgements come in one burst, and
    // without them the window would grow by only the part of that burst that came after the
    // estimate passed it.
    let target = this.#cwndGain * this.#bdpOver(Math.max(this.#minRtt, HOST_RTT_FLOOR_MS)) + this.#extraAcked.best;
    if (this.#filledPipe) target = Math.min(target, this.#inflightHi);
    if (this.#filledPipe) this.window = Math.min(this.window + acked, target);
    // Before a bandwidth estimate the target is only the initial window: grow by what is acknowledged, as slow start does.
    else if (this.window < target || this.bandwidth === 0) this.window += acked;
    if (this.#priorWindow > 0 && this.window >= this.#priorWindow) this.#priorWindow = 0;
    this.window = Math.max(this.window, floor);
  }
}
