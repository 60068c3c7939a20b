import type { FlowOptions, SimFlow } from './flow.js';
import { goodputMbps, SimPath, type PathOptions } from './path.js';

/** What one single-flow run measured. */
export interface SingleResult {
  /** Payload goodput over the measured part of the run, Mbit/s. */
  goodputMbps: number;
  /** Retransmitted payload bytes as a share of all payload bytes sent, percent. */
  retransmitPct: number;
  /** Time-weighted mean of the bottleneck queue, in BDPs. */
  meanQueueBdp: number;
  flow: SimFlow;
  path: SimPath;
}

/**
 * One open-ended flow on a fresh path for `seconds` of virtual time; goodput counted after the
 * first `warmupRtts` round trips (Startup), as a long transfer would see it.
 */
export function runSingle(options: PathOptions, seconds: number, warmupRtts = 20, flowOptions: Omit<FlowOptions, 'size'> = {}): SingleResult {
  const path = new SimPath(options);
  const flow = path.addFlow({ ...flowOptions, size: null });
  const end = seconds * 1000;
  path.run(end);
  const s = flow.sender;
  return {
    goodputMbps: goodputMbps(flow, Math.min(end / 2, warmupRtts * options.rttMs), end),
    retransmitPct: (100 * s.retransmittedBytes) / Math.max(1, s.sentBytes),
    meanQueueBdp: path.forward.meanQueueBytes / path.bdpBytes,
    flow,
    path,
  };
}
