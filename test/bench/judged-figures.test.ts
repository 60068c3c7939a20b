import { expect } from 'chai';
import type { MemorySample } from '../../benchmarks/session-rpc.js';
import { judgeIdleMemory, perSessionSlopes, type IdleMemoryRun, type MemoryStep } from '../../benchmarks/sessions.js';
import { judgeTransfer, QUICK_TRANSFER_CONFIG, type TransferSet } from '../../benchmarks/transfer.js';
import { exitCode } from '../../benchmarks/verdict.js';
import type { ThroughputResult, TransferRun } from '../../benchmarks/baselines.js';

const MIB = 2 ** 20;
const STEPS = [5000, 10_000, 15_000, 20_000];
const memory = (rssMiB: number, heapUsed: number, external = 0, v8FreeMiB = 0): MemorySample =>
  ({ rss: rssMiB * MIB, heapTotal: heapUsed + v8FreeMiB * MIB, heapUsed, external, arrayBuffers: 0, v8Free: v8FreeMiB * MIB });

/** A run from samples given as [sessions, RSS MiB, V8 free MiB] with heap used growing 1,300 B per session. */
function sampled(points: readonly (readonly [sessions: number, rssMiB: number, v8FreeMiB: number])[], requested = points.map(([n]) => n)): IdleMemoryRun {
  const steps: MemoryStep[] = points.map(([n, rss, free]) => ({ sessions: n, memory: memory(rss, 20 * MIB + n * 1300, 1 * MIB, free) }));
  return { empty: { sessions: 0, memory: memory(60, 20 * MIB) }, steps, requested, failed: 0, collected: true, perSession: perSessionSlopes(steps) };
}

/** A run whose RSS less V8's free pages grows `perSession` bytes per session from 60 MiB, V8's free pages given per step. */
function run(perSession: number, freeMiB: readonly number[] = STEPS.map(() => 2), steps = STEPS, live = steps): IdleMemoryRun {
  return sampled(steps.map((n, i) => {
    const free = freeMiB[i] ?? 0;
    return [live[i] ?? n, 60 + (n * perSession) / MIB + free, free] as const;
  }), steps);
}

describe('judged bench figures', () => {
  it('idle memory: judges RSS less V8\'s free pages, passes a steady slope under the goal, fails one over it', () => {
    const r = run(1500);
    expect(r.perSession.rssLessFreeHeap).to.be.closeTo(1500, 1e-6);
    expect(r.perSession.residualPercent).to.be.below(1e-6);
    expect(r.perSession.heap).to.be.closeTo(1300, 1e-6);
    const pass = judgeIdleMemory([r, run(1550), run(1480)]);
    expect(pass.verdict).to.equal('PASS');
    expect(pass.spread?.median).to.be.closeTo(1500, 1e-6);
    expect(pass.goal.what).to.contain('less free V8 heap');
    expect(judgeIdleMemory([run(2500), run(2400), run(2450)]).verdict).to.equal('FAIL');
  });

  it('idle memory: V8 giving back empty pages between steps moves RSS, not the judged figure', () => {
    // Measured on one fresh server: V8's free pages were 33, 3 and 10 MiB at three steps, so RSS
    // fell while sessions were added and its slope was meaningless.
    const r = run(1400, [33, 3, 10, 20]);
    expect(r.steps[1]!.memory.rss).to.be.below(r.steps[0]!.memory.rss);
    expect(r.perSession.rssLessFreeHeap).to.be.closeTo(1400, 1e-6);
    expect(judgeIdleMemory([r, run(1400, [2, 30, 4, 4]), run(1420)]).verdict).to.equal('PASS');
  });

  it('idle memory: a first sample still holding garbage gives a falling slope, which is INCONCLUSIVE, never PASS', () => {
    // The broken run: the first sample held the garbage of 10,000 connect + close, so
    // RSS fell from 108.0 MiB to 88.9 MiB while sessions were added.
    const broken = sampled([[5000, 108.0, 2], [10_000, 100.0, 2], [15_000, 95.0, 2], [20_000, 88.9, 2]]);
    expect(broken.perSession.rssLessFreeHeap).to.be.below(0);
    const j = judgeIdleMemory([broken, run(1500), run(1500)]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.contain('impossible');
    expect(exitCode([j])).to.equal(1);
  });

  it('idle memory: INCONCLUSIVE when the judged memory falls between steps, even if the slope still looks plausible', () => {
    const dipped = sampled([[5000, 70, 2], [10_000, 110, 2], [15_000, 90, 2], [20_000, 115, 2]]);
    expect(dipped.perSession.rssLessFreeHeap).to.be.within(1, 65_536);
    const j = judgeIdleMemory([dipped, run(1500), run(1500)]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.contain('fell from 108.0 MiB to 88.0 MiB between 10000 and 15000 sessions');
  });

  it('idle memory: a fall between steps within what the fit allows is noise, not a fault', () => {
    const wobbly = sampled([[5000, 70, 2], [10_000, 77, 2], [15_000, 76.9, 2], [20_000, 84, 2], [25_000, 91, 2], [30_000, 98, 2]]);
    expect(wobbly.perSession.residualPercent).to.be.below(15);
    expect(judgeIdleMemory([wobbly, wobbly, wobbly]).verdict).to.equal('PASS');
  });

  it('idle memory: INCONCLUSIVE when the steps rise but stray from one cost per session', () => {
    // 25 MiB over the first 5,000 sessions, then 1 MiB for each 5,000 after: not one cost per session.
    const bent = sampled([[5000, 60, 2], [10_000, 85, 2], [15_000, 86, 2], [20_000, 87, 2]]);
    expect(bent.perSession.residualPercent).to.be.above(15);
    const j = judgeIdleMemory([bent, run(1500), run(1500)]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.match(/stray from their line by \d+%/);
  });

  it('idle memory: INCONCLUSIVE when a step did not hold the sessions asked for, or the heap slope is impossible', () => {
    const short = run(1500, undefined, STEPS, [5000, 10_000, 15_000, 19_000]);
    expect(judgeIdleMemory([short, run(1500), run(1500)]).reason).to.contain('19000 of 20000');
    const heapFell: IdleMemoryRun = { ...run(1500), perSession: { ...run(1500).perSession, heap: -200 } };
    expect(judgeIdleMemory([heapFell, run(1500), run(1500)]).verdict).to.equal('INCONCLUSIVE');
    const uncollected: IdleMemoryRun = { ...run(1500), collected: false };
    expect(judgeIdleMemory([uncollected, run(1500), run(1500)]).reason).to.contain('no global.gc()');
  });

  it('idle memory: INCONCLUSIVE when the runs disagree by more than ±15%', () => {
    const j = judgeIdleMemory([run(1000), run(1500), run(1900)]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.contain('does not hold');
  });

  it('transfer: raw UDP delivering more than was sent makes b/a INCONCLUSIVE', () => {
    const result = (mbPerSec: number, bytes = QUICK_TRANSFER_CONFIG.bytes): ThroughputResult =>
      ({ name: 'x', bytes, seconds: 1, mbPerSec, cpuPerGb: { sender: 1, receiver: 1 }, peakRss: { sender: 1, receiver: 1 } });
    const transfer = (mbPerSec: number): TransferRun =>
      ({ ...result(mbPerSec), retransmitPercent: 0, srttMs: null, minRttMs: null, proxy: null });
    const set = (rawBytes: number): TransferSet => ({
      rawUdp: result(300, rawBytes), bittrrt: transfer(100), bittrrtDgram: transfer(50), tls: result(900),
      viaProxy: { noLoss: transfer(80), loss1: transfer(60), loss5: transfer(30) }, udx: result(200),
      ratios: { bittrrtOfRawUdp: 1 / 3, bittrrtOfTls: 1 / 9, bittrrtOfUdx: 1 / 2, nativeOfDgram: 2, loss1OfNoLoss: 0.75, loss5OfNoLoss: 0.375, loss1OfDirect: 0.6 },
    });
    const good = judgeTransfer([set(QUICK_TRANSFER_CONFIG.bytes), set(QUICK_TRANSFER_CONFIG.bytes), set(QUICK_TRANSFER_CONFIG.bytes)], QUICK_TRANSFER_CONFIG);
    expect(good.bittrrtOfRawUdp.verdict).to.equal('FAIL');
    expect(good.loss1OfNoLoss.verdict).to.equal('PASS');
    // The native path's ratio is judged when the two uploads are different runs (3 times needed, 2 here).
    expect(good.nativeOfDgram?.verdict).to.equal('FAIL');
    expect(good.bittrrtOfTls.verdict).to.equal('FAIL');
    // b/a, b/c and b/b′ are documented as unmet: their FAILs alone keep exit code 0.
    expect(exitCode([good.bittrrtOfRawUdp, good.bittrrtOfTls, good.nativeOfDgram!, good.loss1OfNoLoss])).to.equal(0);
    // Without the addon both uploads are one run on node:dgram, and there is no verdict on the native path.
    const dgramOnly = (): TransferSet => {
      const one = transfer(50);
      return { ...set(QUICK_TRANSFER_CONFIG.bytes), bittrrt: one, bittrrtDgram: one };
    };
    expect(judgeTransfer([dgramOnly(), dgramOnly(), dgramOnly()], QUICK_TRANSFER_CONFIG).nativeOfDgram).to.equal(null);
    const over = judgeTransfer([set(QUICK_TRANSFER_CONFIG.bytes + 1), set(QUICK_TRANSFER_CONFIG.bytes), set(QUICK_TRANSFER_CONFIG.bytes)], QUICK_TRANSFER_CONFIG);
    expect(over.bittrrtOfRawUdp.verdict).to.equal('INCONCLUSIVE');
  });
});
