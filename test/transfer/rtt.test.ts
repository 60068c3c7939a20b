import { expect } from 'chai';
import { INITIAL_RTO_MS, MAX_RTO_MS, MIN_RTO_MS, RTO_MIN_MARGIN_SHARE } from '../../lib/constants.js';
import { RttEstimator } from '../../lib/transfer/rtt.js';

describe('transfer/rtt (RFC 6298)', () => {
  it('starts at the initial RTO, then SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR', () => {
    const rtt = new RttEstimator();
    expect(rtt.rto).to.equal(INITIAL_RTO_MS);
    expect(rtt.hasSample).to.equal(false);
    rtt.sample(100);
    expect(rtt.smoothed).to.equal(100);
    expect(rtt.variance).to.equal(50);
    expect(rtt.rto).to.equal(300);
  });

  it('updates with gains 1/8 and 1/4 (RTTVAR first, with the old SRTT)', () => {
    const rtt = new RttEstimator();
    rtt.sample(100);
    rtt.sample(200);
    expect(rtt.variance).to.equal(0.75 * 50 + 0.25 * 100);
    expect(rtt.smoothed).to.equal(0.875 * 100 + 0.125 * 200);
    expect(rtt.min).to.equal(100);
    expect(rtt.latest).to.equal(200);
  });

  it('clamps to the floor and ceiling, doubles on timeouts and resets on a new sample', () => {
    const rtt = new RttEstimator();
    rtt.sample(1);
    expect(rtt.rto).to.equal(MIN_RTO_MS);
    rtt.backOff();
    expect(rtt.rto).to.equal(2 * MIN_RTO_MS);
    for (let i = 0; i < 20; i++) rtt.backOff();
    expect(rtt.rto).to.equal(MAX_RTO_MS);
    rtt.sample(1);
    expect(rtt.rto).to.equal(MIN_RTO_MS);
  });

  it('a steady flight of equal samples does not take the RTO under 2 SRTT: a queue that grows by a third is no timeout', () => {
    const rtt = new RttEstimator();
    // One flight's worth of per-datagram samples, all alike: RFC 6298's RTTVAR decays towards zero.
    for (let i = 0; i < 400; i++) rtt.sample(50);
    expect(rtt.variance).to.be.below(0.01);
    expect(rtt.rto).to.equal(50 * (1 + RTO_MIN_MARGIN_SHARE));
    // A datagram that waits behind a queue a third of the path deep is still inside the timeout.
    expect(rtt.rto).to.be.above(50 * 4 / 3 + 10);
  });

  it('ignores impossible samples', () => {
    const rtt = new RttEstimator();
    rtt.sample(-1);
    rtt.sample(Number.NaN);
    expect(rtt.hasSample).to.equal(false);
  });
});
