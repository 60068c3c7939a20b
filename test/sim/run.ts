import { goodputMbps, SimPath } from './path.js';

/**
 * Runs one simulated path from the command line and prints what happened:
 * node dist/test/sim/run.js RATE_MBPS RTT_MS LOSS BUFFER_BDP SECONDS [SEED]
 */
const [rate = '100', rtt = '50', loss = '0', buffer = '1', seconds = '10', seed = '1'] = process.argv.slice(2);
const path = new SimPath({ rateMbps: Number(rate), rttMs: Number(rtt), loss: Number(loss), bufferBdp: Number(buffer), seed: Number(seed) });
const flow = path.addFlow({ size: null });
const started = process.hrtime.bigint();
const ms = Number(seconds) * 1000;
path.run(ms);
const cpu = Number(process.hrtime.bigint() - started) / 1e6;
const s = flow.sender;
console.log(JSON.stringify({
  goodputMbps: +goodputMbps(flow, 0, ms).toFixed(2),
  steadyMbps: +goodputMbps(flow, ms / 2, ms).toFixed(2),
  retransmitPct: +((100 * s.retransmittedBytes) / Math.max(1, s.sentBytes)).toFixed(2),
  meanQueueBdp: +(path.forward.meanQueueBytes / path.bdpBytes).toFixed(3),
  queueDrops: path.forward.queueDrops, lossDrops: path.forward.lossDrops,
  state: s.congestion.state, bwMbps: +((s.congestion.bandwidth * 8) / 1000).toFixed(2), minRtt: s.congestion.minRtt,
  cwndBdp: +(s.congestion.window / path.bdpBytes).toFixed(2), inflightHi: s.congestion.inflightHi,
  timeouts: s.timeouts, cpuMs: Math.round(cpu),
}));
