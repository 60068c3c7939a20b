import { expect } from 'chai';
import type { MemorySample } from '../../benchmarks/session-rpc.js';
import { judgeIdleMemory, perSessionSlopes, type IdleMemoryRun, type MemoryStep } from '../../benchmarks/sessions.js';
import { judgeTransfer, QUICK_TRANSFER_CONFIG, type TransferSet } from '../../benchmarks/transfer.js';
import { exitCode } from '../../benchmarks/verdict.js';
import type { ThroughputResult, TransferRun } from '../../benchmarks/baselines.js';

const MIB = 2 ** 20;
const memory = (rssMiB: number, heapUsed: number, external = 0): MemorySample =>
  ({ rss: rssMiB * MIB, heapTotal: heapUsed, heapUsed, external, arrayBuffers: 0 });

/** A run whose memory grows `rssPerSession` and `heapPerSession` bytes per session from a base. */
function run(rssPerSession: number, heapPerSession: number, steps = [1000, 5000, 10_000], live = steps): IdleMemoryRun {
  const at: MemoryStep[] = steps.map((n, i) => ({
    sessions: live[i] ?? n, memory: memory(60 + (n * rssPerSession) / MIB, 20 * MIB + n * heapPerSession, 1 * MIB),
  }));
  return { empty: { sessions: 0, memory: memory(60, 20 * MIB) }, steps: at, requested: steps, failed: 0, collected: true, perSession: perSessionSlopes(at) };
}

describe('judged bench figures', () => {
  it('idle memory: passes a steady slope under the goal and reports both slopes', () => {
    const r = run(1500, 1300);
    expect(r.perSession.rss).to.be.closeTo(1500, 1e-6);
    expect(r.perSession.heap).to.be.closeTo(1300, 1e-6);
    expect(judgeIdleMemory([r, run(1550, 1300), run(1480, 1290)]).verdict).to.equal('PASS');
    expect(judgeIdleMemory([run(2500, 1300), run(2400, 1300), run(2450, 1300)]).verdict).to.equal('FAIL');
  });

  it('idle memory: a first sample still holding garbage gives a falling slope, which is INCONCLUSIVE, never PASS', () => {
    // The broken run: the first sample held the garbage of 10,000 connect + close, so
    // RSS fell from 108.0 MiB to 88.9 MiB while sessions were added.
    const steps: MemoryStep[] = [
      { sessions: 1000, memory: memory(108.0, 40 * MIB) },
      { sessions: 5000, memory: memory(95.0, 30 * MIB) },
      { sessions: 10_000, memory: memory(88.9, 25 * MIB) },
    ];
    const broken: IdleMemoryRun = { ...run(1500, 1300), steps, perSession: perSessionSlopes(steps) };
    expect(broken.perSession.rss).to.be.below(0);
    const j = judgeIdleMemory([broken, run(1500, 1300), run(1500, 1300)]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(exitCode([j])).to.equal(1);
  });

  it('idle memory: INCONCLUSIVE when a step did not hold the sessions asked for, or the heap slope is impossible', () => {
    const short = run(1500, 1300, [1000, 5000, 10_000], [1000, 5000, 9000]);
    expect(judgeIdleMemory([short, run(1500, 1300), run(1500, 1300)]).reason).to.contain('9000 of 10000');
    const heapFell = run(1500, -200);
    expect(judgeIdleMemory([heapFell, run(1500, 1300), run(1500, 1300)]).verdict).to.equal('INCONCLUSIVE');
  });

  it('idle memory: INCONCLUSIVE when RSS falls between steps, even if the slope still looks plausible', () => {
    // Measured: 96.4, 108.3, then 85.9 MiB at 1k, 5k, 10k sessions as V8 shrank its heap.
    const steps: MemoryStep[] = [
      { sessions: 1000, memory: memory(60, 11 * MIB) },
      { sessions: 5000, memory: memory(110, 17 * MIB) },
      { sessions: 10_000, memory: memory(90, 24 * MIB) },
    ];
    const dipped: IdleMemoryRun = { ...run(1500, 1300), steps, perSession: perSessionSlopes(steps) };
    expect(dipped.perSession.rss).to.be.within(1, 65_536);
    const j = judgeIdleMemory([dipped, run(1500, 1300), run(1500, 1300)]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.contain('RSS fell from 110.0 MiB to 90.0 MiB');
  });

  it('transfer: raw UDP delivering more than was sent makes b/a INCONCLUSIVE', () => {
    const result = (mbPerSec: number, bytes = QUICK_TRANSFER_CONFIG.bytes): ThroughputResult =>
      ({ name: 'x', bytes, seconds: 1, mbPerSec, cpuPerGb: { sender: 1, receiver: 1 }, peakRss: { sender: 1, receiver: 1 } });
    const transfer = (mbPerSec: number): TransferRun =>
      ({ ...result(mbPerSec), retransmitPercent: 0, srttMs: null, minRttMs: null, proxy: null });
    const set = (rawBytes: number): TransferSet => ({
      rawUdp: result(300, rawBytes), bittrrt: transfer(100), tls: result(900),
      viaProxy: { noLoss: transfer(80), loss1: transfer(60), loss5: transfer(30) }, udx: result(200),
      ratios: { bittrrtOfRawUdp: 1 / 3, bittrrtOfTls: 1 / 9, bittrrtOfUdx: 1 / 2, loss1OfNoLoss: 0.75, loss5OfNoLoss: 0.375, loss1OfDirect: 0.6 },
    });
    const good = judgeTransfer([set(QUICK_TRANSFER_CONFIG.bytes), set(QUICK_TRANSFER_CONFIG.bytes), set(QUICK_TRANSFER_CONFIG.bytes)], QUICK_TRANSFER_CONFIG);
    expect(good.bittrrtOfRawUdp.verdict).to.equal('FAIL');
    expect(good.loss1OfNoLoss.verdict).to.equal('PASS');
    // b/a is documented as unmet: its FAIL alone keeps exit code 0.
    expect(exitCode([good.bittrrtOfRawUdp, good.loss1OfNoLoss])).to.equal(0);
    const over = judgeTransfer([set(QUICK_TRANSFER_CONFIG.bytes + 1), set(QUICK_TRANSFER_CONFIG.bytes), set(QUICK_TRANSFER_CONFIG.bytes)], QUICK_TRANSFER_CONFIG);
    expect(over.bittrrtOfRawUdp.verdict).to.equal('INCONCLUSIVE');
  });
});
