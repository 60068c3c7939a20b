/**
 * What a WAN bench run found, and how it is judged against the issue's goals: pure, no I/O
 * (test/bench/wan-results.test.ts). A row's goals are judged on the median of its rounds (one, or
 * --repeat N; a ratio pairs each round's two runs), the scenarios' on their one run; a run that
 * failed, or whose emulator dropped packets itself, makes its goal INCONCLUSIVE.
 */
import { rowLabel, type PathSpec, type Protocol } from './args.js';
import type { EmulatorCounters, FlowResult } from './parse.js';
import { judge, median, type Goal, type Judgement, type JudgeRules } from '../verdict.js';

export interface RunResult {
  readonly protocol: Protocol;
  /** Null when the run failed; `error` says why. */
  readonly flow: FlowResult | null;
  readonly error: string | null;
  /** Something to know about the number that does not make it wrong (a bound rather than a measurement). */
  readonly note: string | null;
  readonly emulator: { readonly aToB: EmulatorCounters; readonly bToA: EmulatorCounters } | null;
  /** Faults of the measurement itself (the emulator's own drops): they make a verdict INCONCLUSIVE. */
  readonly problems: readonly string[];
}

export interface RowResult {
  readonly row: PathSpec;
  readonly runs: readonly RunResult[];
}

export interface CoexistResult {
  readonly path: PathSpec;
  readonly bittrrt: RunResult;
  readonly cubic: RunResult;
}

export interface FairnessResult {
  readonly path: PathSpec;
  readonly flows: readonly RunResult[];
}

export interface LatencyResult {
  readonly path: PathSpec;
  /** --ping medians in ms: without load, and during a full-rate --bwup. */
  readonly baseMedianMs: number | null;
  readonly loadedMedianMs: number | null;
  readonly loadedSamples: number;
  readonly load: RunResult;
  readonly error: string | null;
}

/** A tree of many small files sent with one `--send DIR` (no goal: what a tree costs per file on this path). */
export interface TreeResult {
  readonly path: PathSpec;
  readonly files: number;
  readonly fileBytes: number;
  /** From the client's process start to its exit; null when the upload failed (`error`). */
  readonly seconds: number | null;
  readonly error: string | null;
  readonly problems: readonly string[];
}

export interface WanResults {
  readonly rows: readonly RowResult[];
  readonly coexist: CoexistResult | null;
  readonly fairness: FairnessResult | null;
  readonly latency: LatencyResult | null;
  readonly tree: TreeResult | null;
}

/** One sample per figure: a single run cannot spread. */
export const WAN_RULES: JudgeRules = { minSamples: 1, maxSpreadPercent: Number.POSITIVE_INFINITY };

/** Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one takes everything; NaN for none or all zero. */
export function jainIndex(values: readonly number[]): number {
  const sum = values.reduce((s, v) => s + v, 0);
  const squares = values.reduce((s, v) => s + v * v, 0);
  return values.length === 0 || squares === 0 ? Number.NaN : (sum * sum) / (values.length * squares);
}

/** A protocol's runs on a row, in the order they ran (one per round of --repeat). */
export const runsOf = (row: RowResult, protocol: Protocol): RunResult[] => row.runs.filter((r) => r.protocol === protocol);
/** The median goodput of a protocol's runs on a row that gave one; null when none did. */
export function medianGoodput(row: RowResult, protocol: Protocol): number | null {
  const rates = runsOf(row, protocol).flatMap((r) => (r.flow === null ? [] : [r.flow.goodputMbit]));
  return rates.length === 0 ? null : median(rates);
}
const goodput = (run: RunResult | undefined): number => run?.flow?.goodputMbit ?? Number.NaN;
const problemsOf = (...runs: (RunResult | undefined)[]): string[] => runs.flatMap((r) => {
  if (r === undefined) return ['not run'];
  return [...(r.error === null ? [] : [`${r.protocol}: ${r.error}`]), ...r.problems];
});

/**
 * Judged on the median of `samples` (a row's rounds, or a scenario's one run); a run that gave no
 * number leaves no sample, and its problems say why rather than "impossible value NaN".
 */
const judgeSamples = (goal: Goal, samples: readonly number[], problems: readonly string[]): Judgement =>
  judge(goal, samples.filter(Number.isFinite), WAN_RULES, problems);

/** Round i's figure of `a` over round i's of `b`, for every round both ran. */
const roundRatios = (a: readonly RunResult[], b: readonly RunResult[]): number[] =>
  a.slice(0, b.length).map((run, i) => goodput(run) / goodput(b[i]));

/** The issue's paths: 100 Mbit/s × 50 ms is the main one; others are judged against BBR at 90%. */
const isMainPath = (r: PathSpec): boolean => r.rateMbit === 100 && r.rttMs === 50;

/** How much of BBR's rate bittrrt --bwup must reach on `row`. */
export function bbrShareTarget(row: PathSpec): number {
  if (row.lossPercent > 0) return 1;
  return isMainPath(row) ? 0.95 : 0.9;
}

/** A ratio of rates: 0 is a measurement (nothing moved); above `high` something was not measured. */
const ratioGoal = (what: string, target: number, high: number): Goal => ({ what, target, unit: 'ratio', direction: 'atLeast', plausible: [0, high] });

/** Links cannot carry more than their rate; above 110% the run measured something else. */
const LINK_SHARE_HIGH = 1.1;
/** Two TCP variants on the same path differ, but not by more than this many times unless one failed. */
const RATE_RATIO_HIGH = 1000;

export function judgeRow(row: RowResult): Judgement[] {
  const label = rowLabel(row.row);
  const bittrrt = runsOf(row, 'bittrrt');
  const bbr = runsOf(row, 'bbr');
  const cubic = runsOf(row, 'cubic');
  const send = runsOf(row, 'send');
  const out: Judgement[] = [];
  if (bittrrt.length > 0 && bbr.length > 0) {
    out.push(judgeSamples(ratioGoal(`bittrrt --bwup ÷ TCP BBR, ${label}`, bbrShareTarget(row.row), RATE_RATIO_HIGH),
      roundRatios(bittrrt, bbr), problemsOf(...bittrrt, ...bbr)));
  }
  if (bittrrt.length > 0 && cubic.length > 0 && row.row.lossPercent === 1) {
    out.push(judgeSamples(ratioGoal(`bittrrt --bwup ÷ TCP CUBIC, ${label}`, 10, RATE_RATIO_HIGH),
      roundRatios(bittrrt, cubic), problemsOf(...bittrrt, ...cubic)));
  }
  if (send.length > 0 && row.row.lossPercent === 1) {
    out.push(judgeSamples(ratioGoal(`64 MiB --send from process start ÷ link rate, ${label}`, 0.85, LINK_SHARE_HIGH),
      send.map((run) => goodput(run) / row.row.rateMbit), problemsOf(...send)));
  }
  return out;
}

export function judgeCoexist(c: CoexistResult): Judgement[] {
  const total = goodput(c.bittrrt) + goodput(c.cubic);
  const problems = problemsOf(c.bittrrt, c.cubic);
  const label = rowLabel(c.path);
  return [
    judgeSamples(ratioGoal(`coexistence: bittrrt's share beside one TCP CUBIC flow, ${label}`, 0.2, 1),
      [goodput(c.bittrrt) / total], problems),
    judgeSamples(ratioGoal(`coexistence: TCP CUBIC's share beside one bittrrt flow, ${label}`, 0.2, 1),
      [goodput(c.cubic) / total], problems),
  ];
}

export function judgeFairness(f: FairnessResult): Judgement {
  const goal: Goal = { what: `Jain's index of ${f.flows.length} bittrrt flows, ${rowLabel(f.path)}`, target: 0.95, unit: 'ratio', direction: 'atLeast',
    // Jain's index of n flows lies in [1/n, 1].
    plausible: [1 / Math.max(1, f.flows.length), 1] };
  return judgeSamples(goal, [jainIndex(f.flows.map(goodput))], problemsOf(...f.flows));
}

export function judgeLatency(l: LatencyResult): Judgement {
  const goal: Goal = { what: `--ping median under a full-rate --bwup ÷ unloaded median, ${rowLabel(l.path)}`, target: 1.25, unit: 'ratio', direction: 'below',
    // Load cannot make round trips much shorter than without it; a queue of seconds is no measurement of this path.
    plausible: [0.5, 100] };
  const sample = l.baseMedianMs === null || l.loadedMedianMs === null ? Number.NaN : l.loadedMedianMs / l.baseMedianMs;
  return judgeSamples(goal, [sample], [...(l.error === null ? [] : [l.error]), ...problemsOf(l.load)]);
}

export function judgeWan(results: WanResults): Judgement[] {
  return [
    ...results.rows.flatMap(judgeRow),
    ...(results.coexist === null ? [] : judgeCoexist(results.coexist)),
    ...(results.fairness === null ? [] : [judgeFairness(results.fairness)]),
    ...(results.latency === null ? [] : [judgeLatency(results.latency)]),
  ];
}

const fixed = (v: number | null | undefined, digits: number): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));

/** A markdown table: one line per path and protocol. */
export function formatTable(rows: readonly RowResult[]): string {
  const lines = [
    '| path | protocol | goodput Mbit/s | of link | retransmitted | RTT under load ms | path drops: queue / loss | note |',
    '|---|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    for (const run of row.runs) {
      const f = run.flow;
      const note = [run.error ?? '', run.note ?? '', ...run.problems].filter((s) => s !== '').join('; ');
      lines.push(`| ${rowLabel(row.row)} | ${PROTOCOL_LABELS[run.protocol]} | ${fixed(f?.goodputMbit, 1)} | ${f === null ? '–' : `${fixed((100 * f.goodputMbit) / row.row.rateMbit, 0)}%`}`
        + ` | ${f?.retransmitPercent === null || f === null ? '–' : `${fixed(f.retransmitPercent, 2)}%`} | ${fixed(f?.rttMs, 1)}`
        + ` | ${run.emulator === null ? '–' : `${run.emulator.aToB.droppedQueue} / ${run.emulator.aToB.droppedLoss}`} | ${note} |`);
    }
  }
  return lines.join('\n');
}

export const PROTOCOL_LABELS: Readonly<Record<Protocol, string>> = {
  cubic: 'TCP CUBIC', bbr: 'TCP BBR', bittrrt: 'bittrrt --bwup', udx: 'udx-native', send: 'bittrrt --send 64 MiB',
};
