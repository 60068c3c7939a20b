import { expect } from 'chai';
import { aeadCaseId, facadePairId, type AeadOperation } from '../../benchmarks/crypto.js';
import { summarise, type BackendRow, type PairedRound, type PairRow, type Row } from '../../benchmarks/harness.js';
import { facadeRows } from '../../benchmarks/report.js';
import { exitCode, formatJudgement } from '../../benchmarks/verdict.js';

/** A main-table row whose rounds ran at these ops/s, the same on both backends. */
function tableRow(operation: AeadOperation, opsPerSec: readonly number[]): BackendRow {
  const m = summarise(opsPerSec.map((ops) => ({ opsPerSec: ops, rmePercent: 1, samples: 10, batch: 100 })));
  return { kind: 'backend', id: aeadCaseId(operation, 1400), label: operation, results: { native: m, js: m }, nativeOverJs: 1 };
}

const rounds = (ratios: readonly number[]): PairedRound[] => ratios.map((ratio) => ({ ratio, alternations: 200, batches: [100, 100] }));
const pairRow = (call: 'encryptInto' | 'encrypt', ratios: readonly number[]): PairRow =>
  ({ id: facadePairId(call, 1400), label: call, rounds: { native: rounds(ratios), js: rounds(ratios) } });

// The main table's rounds, timed one case after the other: their ratios swing ±15–35%, as on the shared machine.
const cases: Row[] = [
  tableRow('seal.bare', [400_000, 300_000, 420_000, 250_000, 410_000]),
  tableRow('encryptInto', [300_000, 380_000, 250_000, 330_000, 360_000]),
  tableRow('seal.bare.alloc', [300_000, 200_000, 310_000, 290_000, 180_000]),
  tableRow('encrypt', [200_000, 290_000, 300_000, 180_000, 260_000]),
];

describe('facade ratios', () => {
  it('are judged on the paired measurements, not on the ratio of the table\'s rounds', () => {
    const [native] = facadeRows(cases, [pairRow('encryptInto', [0.91, 0.92, 0.9, 0.93, 0.92]), pairRow('encrypt', [0.99, 1.0, 0.98, 1.01, 0.99])],
      ['native'], [1400]);
    expect(native?.encryptInto.ratio).to.be.closeTo(0.92, 1e-9);
    expect(native?.encryptInto.judgement?.verdict).to.equal('PASS');
    expect(native?.encrypt.judgement?.verdict).to.equal('PASS');
    expect(native?.encrypt.judgement?.spread?.samples).to.have.length(5);
    expect(formatJudgement(native!.encryptInto.judgement!)).to.match(/^PASS: native encryptInto ÷ bare prealloc.* 92\.0% \(90\.0%–93\.0%, ±1\.6%, 5 rounds\); goal ≥ 80\.0%$/);
    // The informational pairing still comes from the table, and is not judged.
    expect(native?.encryptVsPreallocated.judgement).to.equal(null);
  });

  it('fail under the target and are INCONCLUSIVE when the paired rounds disagree or are impossible', () => {
    const judged = (ratios: readonly number[]): string | undefined =>
      facadeRows(cases, [pairRow('encryptInto', ratios), pairRow('encrypt', [1, 1, 1])], ['js'], [1400])[0]?.encryptInto.judgement?.verdict;
    expect(judged([0.7, 0.72, 0.71])).to.equal('FAIL');
    expect(judged([0.6, 0.9, 1.0])).to.equal('INCONCLUSIVE');
    expect(judged([0.9, 0.9, 0])).to.equal('INCONCLUSIVE');
    const row = facadeRows(cases, [pairRow('encryptInto', [0.9, 0.9, 0]), pairRow('encrypt', [1, 1, 1])], ['js'], [1400])[0];
    expect(exitCode(row === undefined ? [] : [row.encryptInto.judgement!, row.encrypt.judgement!])).to.equal(1);
  });
});
