import { expect } from 'chai';
import { Bbr, type BbrState } from '../../lib/transfer/congestion/bbr.js';

/**
 * The controller alone, fed a steady path: 100 Mbit/s (12,500 bytes/ms) over 50 ms, one
 * acknowledgement a millisecond, the queue empty. Only the RTT samples change between tests.
 */
const RATE = 12_500;
const MIN_RTT = 50;
const BDP = RATE * MIN_RTT;

/**
 * Runs `ms` of acknowledgements; the first RTT sample is MIN_RTT and later ones `rtt(t)`, and the
 * delivery rate is `rate(t)` bytes/ms. Returns each state and when it began.
 */
function drive(ms: number, rtt: (t: number) => number, rate: (t: number) => number = () => RATE): Array<[number, BbrState]> {
  const bbr = new Bbr({ datagramBytes: 1400, random: () => 0.5 });
  const states: Array<[number, BbrState]> = [[0, bbr.state]];
  let delivered = 0;
  for (let t = 1; t <= ms; t++) {
    delivered += rate(t);
    bbr.onAck({
      now: t,
      rtt: t === 1 ? MIN_RTT : rtt(t),
      inFlight: BDP,
      sample: {
        rate: rate(t), delivered: rate(t) * MIN_RTT, interval: MIN_RTT, appLimited: false,
        priorDelivered: Math.max(0, delivered - rate(t) * MIN_RTT), newlyAcked: rate(t), newlyLost: 0,
      },
    });
    if (bbr.state !== states.at(-1)![1]) states.push([t, bbr.state]);
  }
  return states;
}

describe('BBR: the min RTT and ProbeRTT', () => {
  it('with no sample at or near the min for 10 s, ProbeRTT measures it again', () => {
    const states = drive(12_000, () => MIN_RTT * 1.05);
    const probe = states.find(([, state]) => state === 'probe-rtt');
    expect(probe, JSON.stringify(states)).to.not.equal(undefined);
    expect(probe![0]).to.be.within(10_000, 10_010);
  });

  it('samples within 1% above the min confirm it: 30 s without a ProbeRTT', () => {
    const states = drive(30_000, (t) => (t % 1_000 === 0 ? MIN_RTT * 1.009 : MIN_RTT * 1.05));
    expect(states.map(([, state]) => state)).to.not.include('probe-rtt');
  });

  it('a flow whose bandwidth estimate fell under 90% of what it was when the min RTT was measured (a newcomer took share) still pays its ProbeRTT', () => {
    const near = (t: number): number => (t % 1_000 === 0 ? MIN_RTT * 1.009 : MIN_RTT * 1.05);
    const shared = drive(12_000, near, (t) => (t < 2_000 ? RATE : 0.85 * RATE));
    expect(shared.map(([, state]) => state)).to.include('probe-rtt');
    const kept = drive(30_000, near, (t) => (t < 2_000 ? RATE : 0.95 * RATE));
    expect(kept.map(([, state]) => state)).to.not.include('probe-rtt');
  });

  it('a sample just over 1% above the min confirms nothing', () => {
    const states = drive(12_000, (t) => (t % 1_000 === 0 ? MIN_RTT * 1.011 : MIN_RTT * 1.05));
    expect(states.map(([, state]) => state)).to.include('probe-rtt');
  });

  it('a sample at or below the min renews it, as before', () => {
    const states = drive(30_000, (t) => (t % 5_000 === 0 ? MIN_RTT : MIN_RTT * 1.05));
    expect(states.map(([, state]) => state)).to.not.include('probe-rtt');
  });
});

/**
 * The same steady path, with one lost datagram reported on every acknowledgement for which
 * `lose(t)` holds (about 11% of a round's bytes: a high-loss round). Returns the controller and the
 * milliseconds at which it paced above its estimate (a probe).
 */
function driveWithLoss(ms: number, lose: (t: number) => boolean): { bbr: Bbr; probing: Set<number> } {
  // random() = 0: ProbeBW starts with a probe, and every cycle cruises all six phases (300 ms).
  const bbr = new Bbr({ datagramBytes: 1400, random: () => 0 });
  const probing = new Set<number>();
  let delivered = 0;
  for (let t = 1; t <= ms; t++) {
    delivered += RATE;
    bbr.onAck({
      now: t,
      rtt: MIN_RTT,
      inFlight: BDP,
      sample: {
        rate: RATE, delivered: RATE * MIN_RTT, interval: MIN_RTT, appLimited: false,
        priorDelivered: Math.max(0, delivered - RATE * MIN_RTT), newlyAcked: RATE, newlyLost: lose(t) ? 1400 : 0,
      },
    });
    if (bbr.state === 'probe-bw' && bbr.pacingRate > 1.1 * bbr.bandwidth) probing.add(t);
  }
  return { bbr, probing };
}

describe('BBR: loss bounds in-flight data only in the flow\'s own probes', () => {
  // Without loss the schedule is fixed (random() is 0): find a probe after 2 s, and the cruise before it.
  const { probing } = driveWithLoss(4_000, () => false);
  const probeStart = [...probing].find((t) => t > 2_000 && !probing.has(t - 1))!;
  const probeEnd = [...probing].filter((t) => t > probeStart).find((t) => !probing.has(t + 1))!;
  const previousProbeEnd = [...probing].filter((t) => t < probeStart).at(-1)!;

  it('finds the schedule it tests: a probe after 2 s, with at least 250 ms of cruise before it', () => {
    expect(probeStart).to.be.a('number');
    expect(probeStart - previousProbeEnd).to.be.at.least(250);
  });

  it('a high-loss round while cruising (another flow\'s probe) leaves in-flight data unbounded', () => {
    // Loss in the middle of the cruise, three rounds after the last probe and a round before the next.
    const { bbr } = driveWithLoss(probeStart - 1, (t) => t > previousProbeEnd + 3 * MIN_RTT && t < probeStart - MIN_RTT);
    expect(bbr.inflightHi).to.equal(Infinity);
  });

  it('the same loss in its own probe bounds it (BBRv3\'s inflight_hi)', () => {
    const { bbr } = driveWithLoss(probeEnd, (t) => t >= probeStart && t <= probeEnd);
    expect(bbr.inflightHi).to.be.below(Infinity);
    expect(bbr.inflightHi).to.be.at.least(BDP);
  });
});
