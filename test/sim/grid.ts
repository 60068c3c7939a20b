import { NODE_LIKE_HOST } from './host.js';
import { runSingle } from './scenario.js';

/**
 * The transfer engine across the simulated grid of the transfer-engine issue: rates x round
 * trips x loss x buffers, one flow each, in virtual time. Prints one row per path with goodput as a
 * share of what the link can carry (rate x (1 - loss) x payload share), retransmissions and mean
 * queue, and the verdict against the goals (>= 90% up to 1% loss, >= 80% at 3%, >= 30% at 10%;
 * retransmissions <= loss + 2 points; mean queue < 1/4 BDP).
 *
 *   npm run sim                      the whole grid (about 135 paths; many minutes of CPU)
 *   npm run sim -- --rates 100 --rtts 50    a slice
 *   npm run sim -- --node-hosts             between Node-like hosts (test/sim/host.ts)
 */
const PAYLOAD_SHARE = (1444 - 48) / (1444 + 28);

function list(flag: string, fallback: number[]): number[] {
  const at = process.argv.indexOf(flag);
  return at < 0 ? fallback : process.argv[at + 1]!.split(',').map(Number);
}

const rates = list('--rates', [10, 100, 1000]);
const rtts = list('--rtts', [2, 50, 200]);
const losses = list('--losses', [0, 0.1, 1, 3, 10]);
const buffers = list('--buffers', [0.25, 1, 4]);
const flowOptions = process.argv.includes('--node-hosts') ? { hosts: NODE_LIKE_HOST } : {};
let failed = 0;
console.log('| Mbit/s | RTT ms | loss % | buffer BDP | goodput % of link | retransmitted % | mean queue BDP | verdict |');
console.log('|--:|--:|--:|--:|--:|--:|--:|:--|');
for (const rateMbps of rates) {
  for (const rttMs of rtts) {
    // Long enough for Startup and a few ProbeBW cycles; fast links need fewer seconds for as many datagrams.
    const seconds = Math.min(rateMbps >= 1000 ? 6 : 20, Math.max(4, (60 * rttMs) / 1000 + 2));
    for (const lossPct of losses) {
      for (const bufferBdp of buffers) {
        const loss = lossPct / 100;
        const r = runSingle({ rateMbps, rttMs, bufferBdp, loss, seed: 1 }, seconds, 20, flowOptions);
        const share = r.goodputMbps / (rateMbps * (1 - loss) * PAYLOAD_SHARE);
        const floor = lossPct <= 1 ? 0.9 : lossPct <= 3 ? 0.8 : 0.3;
        const problems = [
          share < floor ? `goodput < ${floor * 100}%` : '',
          r.retransmitPct > lossPct + 2 ? 'retransmissions' : '',
          r.meanQueueBdp >= 0.25 ? 'queue' : '',
        ].filter(Boolean);
        if (problems.length > 0) failed++;
        console.log(`| ${rateMbps} | ${rttMs} | ${lossPct} | ${bufferBdp} | ${(100 * share).toFixed(1)} | ${r.retransmitPct.toFixed(2)} | ${r.meanQueueBdp.toFixed(3)} | ${problems.length === 0 ? 'PASS' : `FAIL: ${problems.join(', ')}`} |`);
      }
    }
  }
}
console.log(`\n${failed === 0 ? 'every path met its goals' : `${failed} path(s) missed a goal`}`);
process.exitCode = failed === 0 ? 0 : 1;
