import { expect } from 'chai';
import type { PathSpec, Protocol } from '../../benchmarks/wan/args.js';
import { goodputChart } from '../../benchmarks/wan/chart.js';
import { formatTable, jainIndex, judgeWan, type RunResult, type WanResults } from '../../benchmarks/wan/results.js';
import { formatJudgement } from '../../benchmarks/verdict.js';

const path = (lossPercent: number, rateMbit = 100, rttMs = 50): PathSpec => ({ rateMbit, rttMs, lossPercent, bufferBdp: 1 });
const run = (protocol: Protocol, goodputMbit: number | null, extra: Partial<RunResult> = {}): RunResult => ({
  protocol, flow: goodputMbit === null ? null : { goodputMbit, retransmitPercent: 0.5, rttMs: 60 },
  error: goodputMbit === null ? 'iperf3: unable to connect' : null, note: null, emulator: null, problems: [], ...extra,
});
const none = { coexist: null, fairness: null, latency: null, tree: null };

describe('WAN bench: fairness and verdicts', () => {
  it('computes Jain\'s index: 1 for equal shares, 1/n when one flow takes all', () => {
    expect(jainIndex([50, 50])).to.equal(1);
    expect(jainIndex([100, 0])).to.equal(0.5);
    expect(jainIndex([10, 0, 0, 0])).to.equal(0.25);
    expect(jainIndex([30, 10])).to.be.closeTo(0.8, 1e-12);
    expect(jainIndex([])).to.be.NaN;
    expect(jainIndex([0, 0])).to.be.NaN;
  });

  it('judges --bwup against BBR: 95% on the clean main path, 100% with loss, 90% on the other paths; 10× CUBIC and the --send at 1%', () => {
    const results: WanResults = {
      ...none,
      rows: [
        { row: path(0), runs: [run('bbr', 93), run('bittrrt', 89)] },
        { row: path(1), runs: [run('cubic', 3), run('bbr', 89), run('bittrrt', 88), run('send', 86)] },
        { row: path(0, 20, 150), runs: [run('bbr', 19), run('bittrrt', 17)] },
      ],
    };
    const lines = judgeWan(results).map(formatJudgement);
    expect(lines).to.deep.equal([
      'PASS: bittrrt --bwup ÷ TCP BBR, 100M×50ms 0% 95.7% (1 run); goal ≥ 95.0%',
      'FAIL: bittrrt --bwup ÷ TCP BBR, 100M×50ms 1% 98.9% (1 run); goal ≥ 100.0%',
      'PASS: bittrrt --bwup ÷ TCP CUBIC, 100M×50ms 1% 2933.3% (1 run); goal ≥ 1000.0%',
      'PASS: 64 MiB --send from process start ÷ link rate, 100M×50ms 1% 86.0% (1 run); goal ≥ 85.0%',
      'FAIL: bittrrt --bwup ÷ TCP BBR, 20M×150ms 0% 89.5% (1 run); goal ≥ 90.0%',
    ]);
  });

  it('with --repeat, pairs each round\'s bittrrt run with that round\'s BBR run and judges the median of the ratios', () => {
    const [bbrShare, cubicTimes, send] = judgeWan({
      ...none,
      rows: [{
        row: path(1),
        // Rounds: BBR 90, 100, 80 against bittrrt 85, 97, 83: 94.4%, 97.0%, 103.75% (the median is
        // neither the first round's nor the ratio of the medians, 85/90).
        runs: [run('cubic', 4), run('bbr', 90), run('bittrrt', 85), run('send', 80),
          run('send', 88), run('bittrrt', 97), run('bbr', 100), run('cubic', 5),
          run('cubic', 6), run('bbr', 80), run('bittrrt', 83), run('send', 84)],
      }],
    });
    expect(bbrShare?.verdict).to.equal('FAIL');
    expect(bbrShare?.spread?.median).to.be.closeTo(97 / 100, 1e-12);
    expect(bbrShare?.spread?.samples).to.have.length(3);
    // 85/4, 97/5, 83/6: the median is 19.4.
    expect(cubicTimes?.spread?.median).to.be.closeTo(97 / 5, 1e-12);
    expect(send?.spread?.median).to.be.closeTo(0.84, 1e-12);
    expect(send?.verdict).to.equal('FAIL');
  });

  it('calls a failed run, or one whose emulator dropped packets itself, INCONCLUSIVE with the reason', () => {
    const [failed, suspect] = judgeWan({
      ...none,
      rows: [
        { row: path(0.1), runs: [run('bbr', null), run('bittrrt', 50)] },
        { row: path(3), runs: [run('bbr', 88), run('bittrrt', 90, { problems: ['a_to_b: 7 packets dropped for want of ring slots'] })] },
      ],
    });
    expect(failed?.verdict).to.equal('INCONCLUSIVE');
    expect(failed?.reason).to.equal('bbr: iperf3: unable to connect');
    expect(suspect?.verdict).to.equal('INCONCLUSIVE');
    expect(suspect?.reason).to.equal('a_to_b: 7 packets dropped for want of ring slots');
  });

  it('judges coexistence shares, Jain\'s index of two flows and ping under load', () => {
    const judgements = judgeWan({
      rows: [],
      coexist: { path: path(0), bittrrt: run('bittrrt', 15), cubic: run('cubic', 75) },
      fairness: { path: path(0), flows: [run('bittrrt', 45), run('bittrrt', 40)] },
      latency: { path: path(0), baseMedianMs: 52, loadedMedianMs: 70, loadedSamples: 80, load: run('bittrrt', 60), error: null },
      // A tree's upload time is shown, not judged: the issue sets it no goal.
      tree: { path: path(0), files: 200, fileBytes: 4096, seconds: 3.2, error: null, problems: [] },
    });
    expect(judgements.map((j) => j.verdict)).to.deep.equal(['FAIL', 'PASS', 'PASS', 'FAIL']);
    expect(judgements[0]?.spread?.median).to.be.closeTo(15 / 90, 1e-12);
    expect(judgements[2]?.spread?.median).to.be.closeTo(jainIndex([45, 40]), 1e-12);
    expect(judgements[3]?.spread?.median).to.be.closeTo(70 / 52, 1e-12);
    const noBase = judgeWan({ rows: [], coexist: null, fairness: null, tree: null,
      latency: { path: path(0), baseMedianMs: null, loadedMedianMs: 70, loadedSamples: 80, load: run('bittrrt', 60), error: '--ping gave no round trip' } });
    expect(noBase[0]?.verdict).to.equal('INCONCLUSIVE');
    expect(noBase[0]?.reason).to.equal('--ping gave no round trip');
  });

  it('tables every run with its share of the link and the emulator\'s drops', () => {
    const emulator = {
      aToB: { direction: 'a_to_b', received: 10, forwarded: 8, forwardedBytes: 9000, droppedQueue: 1, droppedLoss: 1, droppedRing: 0, droppedLength: 0,
        droppedDown: 0, writeErrors: 0, firstWriteError: '', maxQueueBytes: 3000 },
      bToA: { direction: 'b_to_a', received: 5, forwarded: 5, forwardedBytes: 300, droppedQueue: 0, droppedLoss: 0, droppedRing: 0, droppedLength: 0,
        droppedDown: 0, writeErrors: 0, firstWriteError: '', maxQueueBytes: 60 },
    } as const;
    const table = formatTable([{ row: path(1), runs: [run('bbr', 88.84, { emulator }), run('cubic', null)] }]).split('\n');
    expect(table).to.have.length(4);
    expect(table[2]).to.equal('| 100M×50ms 1% | TCP BBR | 88.8 | 89% | 0.50% | 60.0 | 1 / 1 |  |');
    expect(table[3]).to.equal('| 100M×50ms 1% | TCP CUBIC | – | – | – | – | – | iperf3: unable to connect |');
  });
});

describe('WAN bench: goodput chart', () => {
  const svg = goodputChart({
    title: 'Goodput <vs> loss',
    lossPercents: [0, 0.1, 1, 3],
    linkMbit: 100,
    series: [
      { label: 'TCP BBR', color: '#1f77b4', values: [93, 91, 89, 88] },
      { label: 'bittrrt & co', color: '#d62728', values: [48, null, 6, 130] },
    ],
    caption: 'one run each',
  });

  it('is one well-formed SVG document with escaped text', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).to.equal(true);
    expect(svg.trimEnd().endsWith('</svg>')).to.equal(true);
    expect(svg).to.include('Goodput &lt;vs&gt; loss');
    expect(svg).to.include('bittrrt &amp; co');
    expect(svg).not.to.match(/NaN|undefined|Infinity/);
    const opened = (svg.match(/<(?!\/)(?:text|svg)\b/g) ?? []).length;
    const closed = (svg.match(/<\/(?:text|svg)>/g) ?? []).length;
    expect(opened).to.equal(closed);
  });

  it('draws one point per number, skips a missing one, and keeps every point inside the plot', () => {
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(circles).to.have.length(4 + 3);
    for (const [, cy] of circles) expect(cy).to.be.within(44, 400 - 76);
    // 130 Mbit/s on a 100 Mbit/s link is drawn at the top edge; 93 lower down (larger y) than that.
    const ys = circles.map(([, cy]) => cy);
    expect(Math.min(...ys)).to.equal(44);
    expect(ys[0]).to.be.greaterThan(44);
    for (const label of ['0%', '0.1%', '1%', '3%', 'TCP BBR']) expect(svg).to.include(`>${label}</text>`);
  });
});
