/**
 * The bench's figures as one flat list, name → number, and two checkouts' lists compared round by
 * round (compare.ts). Pure: test/bench/figures.test.ts.
 *
 * A report is read back from JSON that an older checkout may have written, so every part of it
 * may be missing: a figure one side lacks is listed as such, never guessed. Figures are named by
 * their printed labels, not their ids, so a case whose meaning changed under the same id (the
 * server handshake went from a version-1 copy to version 2) shows as two figures, not one.
 */
import { BACKEND_NAMES } from './harness.js';
import type { Report } from './report.js';
import { median, spread } from './verdict.js';

/** `T` as parsed JSON of uncertain age: every property optional, all the way down. */
export type Loose<T> = T extends readonly (infer E)[] ? readonly Loose<E>[]
  : T extends object ? { readonly [K in keyof T]?: Loose<T[K]> } : T;

export type Figures = ReadonlyMap<string, number>;

/** The median of the values that are numbers; undefined when there are none. */
function medianOf(values: readonly (number | undefined)[]): number | undefined {
  const numbers = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return numbers.length === 0 ? undefined : median(numbers);
}

/** Every figure the README and binding-notes cite, from one run's JSON report. */
export function figuresOf(report: Loose<Report>): Figures {
  const out = new Map<string, number>();
  const put = (name: string, value: number | undefined): void => {
    if (typeof value === 'number' && Number.isFinite(value)) out.set(name, value);
  };
  for (const row of report.crypto?.cases ?? []) {
    if ('result' in row) put(`crypto: ${row.label} ops/s`, row.result?.opsPerSec);
    if ('results' in row) for (const backend of BACKEND_NAMES) put(`crypto: ${row.label} [${backend}] ops/s`, row.results?.[backend]?.opsPerSec);
  }
  for (const row of report.crypto?.facade?.rows ?? []) {
    put(`facade ${row.backend} ${row.size} B: encryptInto ÷ bare prealloc`, row.encryptInto?.ratio);
    put(`facade ${row.backend} ${row.size} B: encrypt ÷ bare alloc`, row.encrypt?.ratio);
  }
  const network = report.network;
  const capacity = network?.capacity ?? [];
  for (const threads of new Set(capacity.map((c) => c.threads))) {
    const mode = threads === null ? 'default handshake threads' : `${threads} handshake threads`;
    put(`sessions: handshake capacity, ${mode}, handshakes/s`, medianOf(capacity.filter((c) => c.threads === threads).map((c) => c.perSec)));
  }
  for (const h of network?.handshakes ?? []) put(`sessions: connect() + close() [${h.backend}] handshakes/s`, h.perSec);
  const memory = network?.idleMemory?.runs ?? [];
  put('sessions: idle memory, RSS less V8 free, B/session', medianOf(memory.map((r) => r.perSession?.rssLessFreeHeap)));
  put('sessions: idle memory, heap used + external, B/session', medianOf(memory.map((r) => r.perSession?.heap)));
  put('sessions: echo 64 B round trips/s', network?.latency?.echo?.perSec);
  put('sessions: echo 64 B p50 µs', network?.latency?.echo?.p50Us);
  put('sessions: session.ping() p50 µs', network?.latency?.ping?.p50Us);
  for (const row of report.replay?.rows ?? []) put(`replay: ${row.label} ns/packet`, row.nsPerPacket);
  const runs = report.transfer?.runs ?? [];
  const runNames = ['rawUdp', 'bittrrt', 'bittrrtDgram', 'tls', 'udx'] as const;
  for (const name of runNames) put(`transfer: ${name} MB/s`, medianOf(runs.map((r) => r[name]?.mbPerSec)));
  for (const name of ['noLoss', 'loss1', 'loss5'] as const) put(`transfer: proxy ${name} MB/s`, medianOf(runs.map((r) => r.viaProxy?.[name]?.mbPerSec)));
  for (const [name, value] of Object.entries(report.transfer?.medians ?? {})) put(`transfer: ratio ${name}`, value);
  return out;
}

/** One figure over the rounds of a comparison: each side's median, and B ÷ A within each round. */
export interface FigureComparison {
  readonly name: string;
  readonly a: number;
  readonly b: number;
  /** Median over the rounds of B ÷ A, each round's B divided by the A run just before it. */
  readonly ratio: number;
  readonly ratioRange: readonly [min: number, max: number];
  /** Half the range of each side's own values over the rounds, relative to its median, in percent: its noise. */
  readonly spreadA: number;
  readonly spreadB: number;
  readonly rounds: number;
}

export interface Comparison {
  readonly figures: readonly FigureComparison[];
  /** Figures that only one side reported (a section the other checkout lacks, a renamed case). */
  readonly onlyA: readonly string[];
  readonly onlyB: readonly string[];
}

/** Compares round i of A with round i of B, figure by figure, in A's order. */
export function compareRounds(a: readonly Figures[], b: readonly Figures[]): Comparison {
  const names = (side: readonly Figures[]): Set<string> => new Set(side.flatMap((f) => [...f.keys()]));
  const [namesA, namesB] = [names(a), names(b)];
  const figures = [...namesA].filter((name) => namesB.has(name)).flatMap((name): FigureComparison[] => {
    const pairs = a.flatMap((fa, i) => {
      const [x, y] = [fa.get(name), b[i]?.get(name)];
      return x === undefined || y === undefined ? [] : [[x, y] as const];
    });
    if (pairs.length === 0) return [];
    const ratios = pairs.map(([x, y]) => y / x);
    const as = pairs.map(([x]) => x);
    const bs = pairs.map(([, y]) => y);
    return [{
      name,
      a: median(as),
      b: median(bs),
      ratio: median(ratios),
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      spreadA: spread(as).spreadPercent,
      spreadB: spread(bs).spreadPercent,
      rounds: pairs.length,
    }];
  });
  return {
    figures,
    onlyA: [...namesA].filter((name) => !namesB.has(name)),
    onlyB: [...namesB].filter((name) => !namesA.has(name)),
  };
}
