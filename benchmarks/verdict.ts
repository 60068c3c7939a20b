/**
 * How the bench judges a goal: pure functions, no I/O, no timing (test/bench/verdict.test.ts).
 *
 * A judged figure is a set of samples, one per independent run. Its verdict is
 *   INCONCLUSIVE  when a sample is impossible (not finite, or outside what the measurement can
 *                 produce: negative memory, zero time), when there are too few samples, or when
 *                 they spread so widely that another run could well give the other verdict;
 *   PASS / FAIL   otherwise, from the median against the goal.
 * A check that cannot come out INCONCLUSIVE proves nothing when its measurement goes wrong.
 */

export type Verdict = 'PASS' | 'FAIL' | 'INCONCLUSIVE';

/** Samples of one figure, summarised. */
export interface Spread {
  readonly samples: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Half of (max − min), relative to the median, in percent; 0 with one sample, NaN when the median is 0. */
  readonly spreadPercent: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (i: number): number => sorted[i] ?? Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
}

export function spread(samples: readonly number[]): Spread {
  if (samples.length === 0) throw new Error('spread of no samples');
  const mid = median(samples);
  const min = Math.min(...samples);
  const max = Math.max(...samples);
  return { samples, median: mid, min, max, spreadPercent: ((max - min) / 2 / Math.abs(mid)) * 100 };
}

/** A least-squares line through points, and how far the points lie from it. */
export interface LineFit {
  readonly slope: number;
  readonly intercept: number;
  /** The largest distance of a point from the line, in units of y. */
  readonly maxResidual: number;
}

/**
 * Least-squares line of y over x: bytes per session from memory sampled at several session
 * counts. Fitting all the steps, rather than subtracting a "before" from an "after", keeps one
 * disturbed sample from deciding the figure, and leaves out whatever the first sessions cost once;
 * the residual shows how far the samples stray from one cost per session. NaN with fewer than
 * two distinct x.
 */
export function fitLine(points: readonly (readonly [x: number, y: number])[]): LineFit {
  const none: LineFit = { slope: Number.NaN, intercept: Number.NaN, maxResidual: Number.NaN };
  if (points.length < 2) return none;
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (sxx === 0) return none;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  return { slope, intercept, maxResidual: Math.max(...points.map(([x, y]) => Math.abs(y - (intercept + slope * x)))) };
}

export const slope = (points: readonly (readonly [x: number, y: number])[]): number => fitLine(points).slope;

export interface Goal {
  /** What is judged, as printed: 'handshakes/s', 'B RSS per idle session'. */
  readonly what: string;
  readonly target: number;
  /** How values print: a count ('5,300'), bytes ('1,565 B') or a ratio ('35.2%'). */
  readonly unit: 'count' | 'bytes' | 'ratio';
  /** 'atLeast': PASS when median ≥ target; 'below': PASS when median < target. */
  readonly direction: 'atLeast' | 'below';
  /** The range a correct measurement can produce (inclusive); a sample outside it is impossible. */
  readonly plausible: readonly [low: number, high: number];
  /**
   * A goal the project already documents as unmet: its FAIL is printed but does not fail the
   * bench's exit code (an INCONCLUSIVE still does).
   */
  readonly knownUnmet?: boolean;
  /** What one sample is, as printed: 'runs' (independent runs, the default) or 'rounds' (rounds within one process). */
  readonly samplesAre?: 'runs' | 'rounds';
}

export interface JudgeRules {
  /** Fewer samples than this: INCONCLUSIVE. */
  readonly minSamples: number;
  /** A spread wider than ± this many percent: INCONCLUSIVE. */
  readonly maxSpreadPercent: number;
}

/** The bench's rules: three independent runs at least, agreeing within ±15% (the issue's acceptance bound). */
export const DEFAULT_RULES: JudgeRules = { minSamples: 3, maxSpreadPercent: 15 };

export interface Judgement {
  readonly goal: Goal;
  readonly verdict: Verdict;
  /** Null when no sample could be taken at all. */
  readonly spread: Spread | null;
  /** Why the verdict is INCONCLUSIVE; null otherwise. */
  readonly reason: string | null;
}

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/**
 * Judges `samples` against `goal`. `problems` are faults the caller found in the runs themselves
 * (a session that was not established, an answer that did not verify): any of them makes the
 * figure INCONCLUSIVE, since the number no longer measures what the goal is about.
 */
export function judge(goal: Goal, samples: readonly number[], rules: JudgeRules = DEFAULT_RULES,
  problems: readonly string[] = []): Judgement {
  const inconclusive = (reason: string, s: Spread | null): Judgement => ({ goal, verdict: 'INCONCLUSIVE', spread: s, reason });
  if (samples.length === 0) return inconclusive(problems[0] ?? 'no sample', null);
  const [low, high] = goal.plausible;
  const impossible = samples.find((v) => !Number.isFinite(v) || v < low || v > high);
  const s = spread(samples);
  if (impossible !== undefined) {
    return inconclusive(`impossible value ${number.format(impossible)} (a correct measurement gives ${number.format(low)} to ${number.format(high)})`, s);
  }
  if (problems.length > 0) return inconclusive(problems.join('; '), s);
  if (samples.length < rules.minSamples) {
    return inconclusive(`${samples.length} run(s); a verdict needs at least ${rules.minSamples} (--repeat)`, s);
  }
  if (!(s.spreadPercent <= rules.maxSpreadPercent)) {
    return inconclusive(`runs differ by ±${s.spreadPercent.toFixed(1)}%, more than ±${rules.maxSpreadPercent}%: the figure does not hold`, s);
  }
  const pass = goal.direction === 'atLeast' ? s.median >= goal.target : s.median < goal.target;
  return { goal, verdict: pass ? 'PASS' : 'FAIL', spread: s, reason: null };
}

/**
 * The bench's exit code: 0 only if no judged figure is INCONCLUSIVE and every FAIL is of a goal
 * already documented as unmet.
 */
export function exitCode(judgements: readonly Judgement[]): number {
  return judgements.some((j) => j.verdict === 'INCONCLUSIVE' || (j.verdict === 'FAIL' && j.goal.knownUnmet !== true)) ? 1 : 0;
}

export function formatValue(unit: Goal['unit'], v: number): string {
  if (unit === 'ratio') return `${(v * 100).toFixed(1)}%`;
  return `${Math.round(v).toLocaleString('en-US')}${unit === 'bytes' ? ' B' : ''}`;
}

/** "1,565 (1,480–1,610, ±4.2%, 3 runs)". */
export function formatSpread(s: Spread, format: (v: number) => string = (v) => number.format(v), samplesAre: 'runs' | 'rounds' = 'runs'): string {
  if (s.samples.length === 1) return `${format(s.median)} (1 ${samplesAre.slice(0, -1)})`;
  return `${format(s.median)} (${format(s.min)}–${format(s.max)}, ±${s.spreadPercent.toFixed(1)}%, ${s.samples.length} ${samplesAre})`;
}

/** One line per judged figure: verdict, median and spread, and why when inconclusive. */
export function formatJudgement(j: Judgement): string {
  const { goal } = j;
  const format = (v: number): string => formatValue(goal.unit, v);
  const target = `${goal.direction === 'atLeast' ? '≥' : '<'} ${format(goal.target)}`;
  const figure = j.spread === null ? 'no sample' : formatSpread(j.spread, format, goal.samplesAre);
  const unmet = goal.knownUnmet === true && j.verdict === 'FAIL' ? ' (documented as unmet)' : '';
  return `${j.verdict}${unmet}: ${goal.what} ${figure}; goal ${target}${j.reason === null ? '' : `. ${j.reason}`}`;
}
