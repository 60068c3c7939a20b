import { expect } from 'chai';
import {
  INITIAL_RTO_MS, INITIAL_WINDOW_PACKETS, LOSS_BETA, MAX_RTO_MS, MIN_RTO_MS, MIN_WINDOW_PACKETS, QUEUE_DELAY_TARGET_MS,
} from '../../lib/constants.js';
import { CongestionControl } from '../../lib/transfer/congestion.js';
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

  it('ignores impossible samples', () => {
    const rtt = new RttEstimator();
    rtt.sample(-1);
    rtt.sample(Number.NaN);
    expect(rtt.hasSample).to.equal(false);
  });
});

describe('transfer/congestion (AIMD)', () => {
  const MSS = 1000;

  it('slow start grows by the bytes acknowledged', () => {
    const cc = new CongestionControl(MSS);
    expect(cc.window).to.equal(INITIAL_WINDOW_PACKETS * MSS);
    cc.onAcked(5 * MSS);
    expect(cc.window).to.equal((INITIAL_WINDOW_PACKETS + 5) * MSS);
    expect(cc.inSlowStart).to.equal(true);
  });

  it('a loss cuts the window to beta once per round trip, then grows by about one datagram per window', () => {
    const cc = new CongestionControl(MSS);
    cc.onAcked(84 * MSS); // 100 datagrams
    cc.onLost(10, 20);
    expect(cc.window).to.equal(100 * MSS * LOSS_BETA);
    cc.onLost(15, 21); // sent before the cut: the same loss event
    expect(cc.window).to.equal(100 * MSS * LOSS_BETA);
    expect(cc.inSlowStart).to.equal(false);
    const before = cc.window;
    cc.onAcked(before); // a whole window acknowledged
    expect(cc.window - before).to.be.within(0.9 * MSS, MSS);
    cc.onLost(25, 30); // sent after the cut: a new event
    expect(cc.window).to.be.closeTo((before + MSS) * LOSS_BETA, MSS);
  });

  it('never goes below the floor; a timeout drops to it', () => {
    const cc = new CongestionControl(MSS);
    for (let t = 1; t < 50; t++) cc.onLost(t * 10, t * 10 + 5);
    expect(cc.window).to.equal(MIN_WINDOW_PACKETS * MSS);
    const grown = new CongestionControl(MSS);
    grown.onAcked(100 * MSS);
    grown.onTimeout(1);
    expect(grown.window).to.equal(MIN_WINDOW_PACKETS * MSS);
    expect(grown.inSlowStart).to.equal(true);
  });
});

describe('transfer/congestion (queueing delay)', () => {
  it('treats queueing delay above the target as a loss event, and small delay as nothing', () => {
    const cc = new CongestionControl(1000);
    cc.onAcked(84_000);
    const window = cc.window;
    cc.onRtt(5, 1, 10, 20);
    expect(cc.window).to.equal(window);
    cc.onRtt(1 + QUEUE_DELAY_TARGET_MS + 1, 1, 10, 20);
    expect(cc.window).to.equal(window * LOSS_BETA);
    expect(cc.inSlowStart).to.equal(false);
    cc.onRtt(1 + QUEUE_DELAY_TARGET_MS + 1, 1, 15, 21); // sent before the cut: the same event
    expect(cc.window).to.equal(window * LOSS_BETA);
  });
});
