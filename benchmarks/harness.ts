import { Bench, type FnReturnedObject } from 'tinybench';
import type { CryptoBackend } from '../lib/crypto/backend.js';
import { median } from './verdict.js';

/** One measured operation. Its return value is kept in a sink so the work cannot be optimised away. */
export type Op = () => unknown;

export type BackendName = CryptoBackend['name'];
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'js'];
export type Backends = Readonly<Record<BackendName, CryptoBackend>>;

/** A case measured once per backend: `prepare` builds (and checks) inputs, then returns the op to time. */
export interface BackendCase {
  readonly kind: 'backend';
  readonly id: string;
  readonly label: string;
  prepare(backend: CryptoBackend): Op;
}

/** A case that does not depend on the crypto backend (node:crypto underneath): measured once. */
export interface SharedCase {
  readonly kind: 'shared';
  readonly id: string;
  readonly label: string;
  prepare(): Op;
}

export type Case = BackendCase | SharedCase;

export interface BenchConfig {
  /** Measured time per case and backend, in ms, split evenly over the rounds. */
  readonly timeMs: number;
  /**
   * The whole case list is measured this many times, round-robin, and each case reports its median
   * round. A drift or a burst of other load (GC heap sizing, JIT tier-up, a noisy neighbour) then
   * hits every case alike, or is outvoted, instead of skewing whichever case ran at that moment;
   * that matters when two cases are compared with each other.
   */
  readonly rounds: number;
  /** tinybench warmup per measurement, in ms. */
  readonly warmupMs: number;
  /** Each tinybench sample times a batch of calls lasting about this long, so timer cost is amortised. */
  readonly batchMs: number;
  /** Time spent sizing the batch (this also warms the op up before tinybench's own warmup). */
  readonly calibrateMs: number;
}

export const DEFAULT_CONFIG: BenchConfig = { timeMs: 1000, rounds: 5, warmupMs: 30, batchMs: 1, calibrateMs: 8 };
export const QUICK_CONFIG: BenchConfig = { timeMs: 100, rounds: 1, warmupMs: 20, batchMs: 0.5, calibrateMs: 4 };

/** One tinybench task: one case on one backend in one round. */
export interface RoundResult {
  readonly opsPerSec: number;
  /** Relative margin of error of the mean (95%) within the round, in percent. */
  readonly rmePercent: number;
  /** tinybench samples; each is the mean per-call time of one batch. */
  readonly samples: number;
  /** Calls per sample. */
  readonly batch: number;
}

export interface Measurement {
  /** Calls per second: the median of the rounds' ops/s (each round: calls / measured time). */
  readonly opsPerSec: number;
  /** Time per call at that rate, in nanoseconds. */
  readonly nsPerOp: number;
  /** Half the spread between the rounds' ops/s, relative to opsPerSec, in percent (null with one round). */
  readonly spreadPercent: number | null;
  /** The largest within-round relative margin of error, in percent. */
  readonly rmePercent: number;
  readonly rounds: readonly RoundResult[];
}

let sink: unknown;

/** Returns whatever the last measured call produced (read once at the end so results stay observable). */
export function sinkValue(): unknown {
  return sink;
}

/** Runs `op` in doubling rounds for about `calibrateMs`; returns how many calls make one ~batchMs batch. */
function calibrateBatch(op: Op, config: BenchConfig): number {
  for (let calls = 1; ; calls *= 2) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) sink = op();
    const elapsed = performance.now() - start;
    if (elapsed >= config.calibrateMs / 2 || calls >= 1 << 24) {
      return Math.max(1, Math.round((config.batchMs * calls) / Math.max(elapsed, 1e-6)));
    }
  }
}

/** Measures one op with tinybench; each sample is the mean per-call time over a calibrated batch. */
export async function measureRound(name: string, op: Op, config: BenchConfig): Promise<RoundResult> {
  const batch = calibrateBatch(op, config);
  const bench = new Bench({
    name,
    time: config.timeMs / config.rounds,
    warmupTime: config.warmupMs,
    warmupIterations: 4,
    iterations: 16,
    throws: true,
  });
  bench.add(name, (): FnReturnedObject => {
    const start = bench.now();
    for (let i = 0; i < batch; i++) sink = op();
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
  }, { async: false });
  const [task] = await bench.run();
  const result = task?.result;
  if (result === undefined) throw new Error(`${name}: tinybench returned no task`);
  if (result.state === 'errored') throw result.error;
  if (result.state !== 'completed') throw new Error(`${name}: task ended in state ${result.state}`);
  const { latency } = result;
  return { opsPerSec: 1000 / latency.mean, rmePercent: latency.rme, samples: latency.samplesCount, batch };
}

/** Summarises a case's rounds by their median. */
export function summarise(rounds: readonly RoundResult[]): Measurement {
  if (rounds.length === 0) throw new Error('no rounds to summarise');
  const rates = rounds.map((r) => r.opsPerSec);
  const opsPerSec = median(rates);
  return {
    opsPerSec,
    nsPerOp: 1e9 / opsPerSec,
    spreadPercent: rounds.length > 1 ? ((Math.max(...rates) - Math.min(...rates)) / 2 / opsPerSec) * 100 : null,
    rmePercent: Math.max(...rounds.map((r) => r.rmePercent)),
    rounds,
  };
}

export interface BackendRow {
  readonly kind: 'backend';
  readonly id: string;
  readonly label: string;
  readonly results: Readonly<Record<BackendName, Measurement>>;
  /** native ops/s divided by js ops/s. */
  readonly nativeOverJs: number;
}

export interface SharedRow {
  readonly kind: 'shared';
  readonly id: string;
  readonly label: string;
  readonly result: Measurement;
}

export type Row = BackendRow | SharedRow;

export type Progress = (message: string) => void;

/** One thing to time: a shared case, or a per-backend case on one backend. Prepared on first use. */
interface Job {
  readonly label: string;
  readonly prepare: () => Op;
  op?: Op;
  readonly rounds: RoundResult[];
}

function job(label: string, prepare: () => Op): Job {
  return { label, prepare, rounds: [] };
}

/** A case expanded into its jobs: one per backend, or one for a shared case; `row` reads them back. */
interface Plan {
  readonly jobs: readonly Job[];
  row(): Row;
}

/** The one helper that turns a case into a job per backend (same process, same inputs) and its row. */
function plan(c: Case, backends: Backends): Plan {
  if (c.kind === 'shared') {
    const only = job(c.label, () => c.prepare());
    return { jobs: [only], row: () => ({ kind: 'shared', id: c.id, label: c.label, result: summarise(only.rounds) }) };
  }
  const on = (name: BackendName): Job => job(`${c.label} [${name}]`, () => c.prepare(backends[name]));
  const jobs = { native: on('native'), js: on('js') };
  return {
    jobs: BACKEND_NAMES.map((name) => jobs[name]),
    row() {
      const results = { native: summarise(jobs.native.rounds), js: summarise(jobs.js.rounds) };
      return { kind: 'backend', id: c.id, label: c.label, results, nativeOverJs: results.native.opsPerSec / results.js.opsPerSec };
    },
  };
}

/** Measures every case on every backend, `config.rounds` times round-robin, in list order. */
export async function runCases(cases: readonly Case[], backends: Backends, config: BenchConfig, progress: Progress): Promise<Row[]> {
  const plans = cases.map((c) => plan(c, backends));
  const jobs = plans.flatMap((p) => p.jobs);
  for (let round = 1; round <= config.rounds; round++) {
    for (const [index, j] of jobs.entries()) {
      progress(`round ${round}/${config.rounds}, ${index + 1}/${jobs.length}: ${j.label}`);
      j.op ??= j.prepare();
      j.rounds.push(await measureRound(j.label, j.op, config));
    }
  }
  return plans.map((p) => p.row());
}

/**
 * Two ops compared with each other: `other` ÷ `base` in calls per second. Judged ratios (the
 * facade's overhead) come from these rather than from two cases timed one after the other: at
 * 200 ms per case, a burst of other load or a GC in one case's slot but not the other's moved the
 * ratio of a round by ±15–35% on the shared 2-core machine.
 */
export interface PairCase {
  readonly id: string;
  readonly label: string;
  readonly base: BackendCase;
  readonly other: BackendCase;
}

/** One round of a pair: the median over its alternations. */
export interface PairedRound {
  /** Median over the alternations of other's calls per second ÷ base's in the same alternation. */
  readonly ratio: number;
  readonly alternations: number;
  /** Calls per batch of base and of other. */
  readonly batches: readonly [base: number, other: number];
}

export interface PairRow {
  readonly id: string;
  readonly label: string;
  /** One list of rounds per backend, in round order. */
  readonly rounds: Readonly<Record<BackendName, readonly PairedRound[]>>;
}

/** Calls `op` `calls` times; returns the time per call in ms. */
function timeBatch(op: Op, calls: number): number {
  const start = performance.now();
  for (let i = 0; i < calls; i++) sink = op();
  return (performance.now() - start) / calls;
}

/**
 * Times `base` and `other` in alternating batches of about `config.batchMs` each (AB, BA, AB, …,
 * so neither always runs first) for `config.timeMs / config.rounds`, after `config.warmupMs` of
 * the same. Each alternation's ratio compares batches a few ms apart, so load that comes and goes
 * hits both alike; the median over hundreds of alternations outvotes the ones a GC or a
 * preemption landed in.
 */
export function measurePairedRound(base: Op, other: Op, config: BenchConfig): PairedRound {
  const batches: [number, number] = [calibrateBatch(base, config), calibrateBatch(other, config)];
  const ratios: number[] = [];
  const alternate = (untilMs: number, record: boolean): void => {
    const end = performance.now() + untilMs;
    for (let i = 0; performance.now() < end; i++) {
      const baseFirst = i % 2 === 0;
      const first = baseFirst ? timeBatch(base, batches[0]) : timeBatch(other, batches[1]);
      const second = baseFirst ? timeBatch(other, batches[1]) : timeBatch(base, batches[0]);
      const [baseMs, otherMs] = baseFirst ? [first, second] : [second, first];
      if (record && otherMs > 0) ratios.push(baseMs / otherMs);
    }
  };
  alternate(config.warmupMs, false);
  alternate(config.timeMs / config.rounds, true);
  return { ratio: median(ratios), alternations: ratios.length, batches };
}

const perBackend = <T>(make: (name: BackendName) => T): Record<BackendName, T> => ({ native: make('native'), js: make('js') });

/** Measures every pair on every backend, `config.rounds` times round-robin, like runCases. */
export async function runPairs(pairs: readonly PairCase[], backends: Backends, config: BenchConfig, progress: Progress): Promise<PairRow[]> {
  const prepared = pairs.map((pair) => ({
    pair,
    ops: perBackend((name) => [pair.base.prepare(backends[name]), pair.other.prepare(backends[name])] as const),
    rounds: perBackend((): PairedRound[] => []),
  }));
  // Round 0 is not recorded: in a fresh process the first round of a pair ran 20% below the rest
  // (JIT tier-up in one of the two calls), beyond what its warmup absorbs.
  for (let round = 0; round <= config.rounds; round++) {
    for (const { pair, ops, rounds } of prepared) {
      for (const name of BACKEND_NAMES) {
        progress(`paired round ${round === 0 ? 'warmup' : `${round}/${config.rounds}`}: ${pair.label} [${name}]`);
        const measured = measurePairedRound(...ops[name], config);
        if (round > 0) rounds[name].push(measured);
        // Lets pending I/O (the progress output) through between rounds.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
  return prepared.map(({ pair, rounds }) => ({ id: pair.id, label: pair.label, rounds }));
}

/** Throws when a benchmark's setup produced a wrong result: numbers for broken code are worthless. */
export function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`benchmark self-check failed: ${what}`);
}
