import { SimFlow, type FlowOptions } from './flow.js';
import { SimLink } from './link.js';
import { SeededRandom } from './random.js';
import { Simulator } from './simulator.js';

export interface PathOptions {
  rateMbps: number;
  rttMs: number;
  /** Drop-tail buffer in bandwidth-delay products. */
  bufferBdp: number;
  /** Random loss, each direction. */
  loss: number;
  jitterMs?: number;
  seed: number;
}

/** A path between two hosts: a bottleneck each way with the same rate, half the RTT each, shared by every flow on it. */
export class SimPath {
  readonly sim = new Simulator();
  readonly random: SeededRandom;
  readonly forward: SimLink;
  readonly back: SimLink;
  readonly flows: SimFlow[] = [];

  constructor(readonly options: PathOptions) {
    this.random = new SeededRandom(options.seed);
    const bdpBytes = (options.rateMbps * 1e6 * options.rttMs) / 8000;
    const link = {
      rateBps: options.rateMbps * 1e6, delayMs: options.rttMs / 2, queueBytes: Math.max(3000, options.bufferBdp * bdpBytes),
      loss: options.loss, jitterMs: options.jitterMs,
    };
    this.forward = new SimLink(this.sim, this.random, { ...link });
    this.back = new SimLink(this.sim, this.random, { ...link });
  }

  get bdpBytes(): number {
    return (this.options.rateMbps * 1e6 * this.options.rttMs) / 8000;
  }

  /** Starts a flow now (or at `at`, virtual ms). */
  addFlow(options: FlowOptions, at = this.sim.now): SimFlow {
    const flow = new SimFlow(this.sim, this.forward, this.back, new SeededRandom(this.random.int(2 ** 31)), options);
    this.flows.push(flow);
    this.sim.at(at, () => flow.start());
    return flow;
  }

  run(untilMs: number, stop?: () => boolean): void {
    this.sim.run(untilMs, stop);
  }
}

/** Goodput of a flow between two virtual times, Mbit/s, from its acknowledged-in-order samples. */
export function goodputMbps(flow: SimFlow, fromMs: number, toMs: number): number {
  const at = (t: number): number => {
    let bytes = 0;
    for (const [time, cumulative] of flow.deliveredAt) {
      if (time > t) break;
      bytes = cumulative;
    }
    return bytes;
  };
  return ((at(toMs) - at(fromMs)) * 8) / ((toMs - fromMs) * 1000);
}

/** Jain's fairness index of some shares: 1 when equal, 1/n when one takes all. */
export function jain(shares: number[]): number {
  const sum = shares.reduce((a, b) => a + b, 0);
  const squares = shares.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 0 : (sum * sum) / (shares.length * squares);
}
