import { expect } from 'chai';
import { SimHost } from './host.js';
import { SeededRandom } from './random.js';
import { Simulator } from './simulator.js';

describe('simulated host thread', () => {
  it('runs events in arrival order, each after the CPU time of the one before', () => {
    const sim = new Simulator();
    const host = new SimHost(sim, new SeededRandom(1), { costMs: 1, pauseEveryMs: Infinity, pauseMs: [0, 0] });
    const ran: Array<[string, number]> = [];
    sim.at(0, () => {
      for (const name of ['a', 'b', 'c']) host.handle(() => ran.push([name, sim.now]));
    });
    sim.at(10, () => host.handle(() => ran.push(['d', sim.now])));
    sim.run(100);
    expect(ran).to.deep.equal([['a', 0], ['b', 1], ['c', 2], ['d', 10]]);
  });

  it('holds what arrives during a pause and runs it, in order, when the pause ends', () => {
    const sim = new Simulator();
    const host = new SimHost(sim, new SeededRandom(3), { costMs: 0.01, pauseEveryMs: 50, pauseMs: [5, 5] });
    const ran: number[] = [];
    for (let t = 0; t < 1000; t += 0.5) sim.at(t, () => host.handle(() => ran.push(sim.now)));
    sim.run(2000);
    expect(ran).to.have.length(2000);
    const gaps = ran.slice(1).map((t, i) => t - ran[i]!);
    // Every pause shows as one gap of its length at least, with the events it held run back to back after it.
    const pauses = gaps.filter((gap) => gap >= 5).length;
    expect(pauses).to.be.within(10, 30);
    expect(gaps.filter((gap) => gap === 0.01 || Math.abs(gap - 0.01) < 1e-9).length).to.be.at.least(pauses * 9);
    expect(gaps.every((gap) => gap > 0)).to.equal(true);
  });
});
