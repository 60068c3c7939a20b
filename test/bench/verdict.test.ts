import { expect } from 'chai';
import { DEFAULT_RULES, exitCode, fitLine, formatJudgement, judge, median, slope, spread, type Goal } from '../../benchmarks/verdict.js';

const atLeast: Goal = { what: 'handshakes/s', target: 5000, unit: 'count', direction: 'atLeast', plausible: [1, 1e6] };
const below: Goal = { what: 'B per idle session', target: 2048, unit: 'bytes', direction: 'below', plausible: [1, 65536] };

describe('bench verdicts', () => {
  it('takes the median, not the mean, so one disturbed run cannot move it', () => {
    expect(median([3, 1, 100])).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    const s = spread([90, 100, 110]);
    expect([s.median, s.min, s.max]).to.deep.equal([100, 90, 110]);
    expect(s.spreadPercent).to.be.closeTo(10, 1e-9);
  });

  it('fits a slope over all the steps', () => {
    expect(slope([[1000, 5000], [5000, 13000], [10000, 23000]])).to.be.closeTo(2, 1e-9);
    // Two samples at one x give no slope: NaN, which the judge then calls impossible.
    expect(slope([[5, 1], [5, 2]])).to.be.NaN;
  });

  it('gives the largest distance of a step from the fitted line', () => {
    const fit = fitLine([[0, 0], [1, 1], [2, 4]]);
    expect(fit.slope).to.be.closeTo(2, 1e-9);
    expect(fit.intercept).to.be.closeTo(-1 / 3, 1e-9);
    expect(fit.maxResidual).to.be.closeTo(2 / 3, 1e-9);
    expect(fitLine([[0, 1], [10, 21], [20, 41]]).maxResidual).to.be.closeTo(0, 1e-9);
    expect(fitLine([[3, 1]]).maxResidual).to.be.NaN;
  });

  it('judges the median against the goal when the runs agree', () => {
    expect(judge(atLeast, [5100, 5300, 5200]).verdict).to.equal('PASS');
    expect(judge(atLeast, [4800, 4900, 4700]).verdict).to.equal('FAIL');
    expect(judge(below, [1500, 1600, 1550]).verdict).to.equal('PASS');
    expect(judge(below, [2048, 2050, 2100]).verdict).to.equal('FAIL');
  });

  it('never passes a negative memory figure: a "before" sample still holding garbage', () => {
    // The run: RSS fell from 108.0 MiB to 88.9 MiB while 10,000 sessions were added,
    // because the "before" sample still held the garbage of 10,000 connect + close.
    const perSession = slope([[0, 108.0 * 2 ** 20], [10_000, 88.9 * 2 ** 20]]);
    expect(perSession).to.be.below(0);
    const j = judge(below, [perSession, perSession, perSession]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.match(/impossible/);
    expect(exitCode([j])).to.equal(1);
  });

  it('calls zero time (an infinite rate) and non-numbers impossible', () => {
    expect(judge(atLeast, [5200, Number.POSITIVE_INFINITY, 5100]).verdict).to.equal('INCONCLUSIVE');
    expect(judge(atLeast, [5200, Number.NaN, 5100]).verdict).to.equal('INCONCLUSIVE');
    // More delivered than sent: a ratio above what the goal declares possible.
    const ratio: Goal = { what: 'b/a', target: 0.6, unit: 'ratio', direction: 'atLeast', plausible: [0.001, 1.5] };
    expect(judge(ratio, [0.7, 3, 0.7]).verdict).to.equal('INCONCLUSIVE');
  });

  it('is inconclusive with too few runs, even far from the goal', () => {
    const j = judge(atLeast, [9000]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.match(/at least 3/);
    expect(judge(atLeast, [9000], { ...DEFAULT_RULES, minSamples: 1 }).verdict).to.equal('PASS');
    expect(judge(atLeast, []).verdict).to.equal('INCONCLUSIVE');
  });

  it('is inconclusive when the runs spread wider than the rules allow', () => {
    // The handshake runs: 3,571/s in one, 6,906/s in another.
    const j = judge(atLeast, [3571, 6906, 5200]);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.match(/does not hold/);
    expect(judge(atLeast, [5000, 5700, 5300]).verdict).to.equal('PASS'); // ±6.6%
  });

  it('lets a problem found in the runs override any figure', () => {
    const j = judge(atLeast, [6000, 6000, 6000], DEFAULT_RULES, ['19,990 of 20,000 answers verified']);
    expect(j.verdict).to.equal('INCONCLUSIVE');
    expect(j.reason).to.contain('19,990');
  });

  it('exits 0 only without INCONCLUSIVE, and with no FAIL but of a goal documented as unmet', () => {
    const pass = judge(atLeast, [6000, 6000, 6000]);
    const fail = judge(atLeast, [4000, 4000, 4000]);
    const knownFail = judge({ ...atLeast, knownUnmet: true }, [4000, 4000, 4000]);
    expect(exitCode([pass])).to.equal(0);
    expect(exitCode([pass, knownFail])).to.equal(0);
    expect(exitCode([pass, fail])).to.equal(1);
    expect(exitCode([pass, judge(atLeast, [6000])])).to.equal(1);
    expect(formatJudgement(knownFail)).to.match(/^FAIL \(documented as unmet\)/);
  });

  it('prints the median, the range and the spread', () => {
    expect(formatJudgement(judge(atLeast, [5000, 5700, 5300]))).to.equal(
      'PASS: handshakes/s 5,300 (5,000–5,700, ±6.6%, 3 runs); goal ≥ 5,000');
  });
});
