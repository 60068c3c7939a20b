/**
 * The WAN bench's command line and its grid of paths: pure, no I/O (test/bench/wan-args.test.ts).
 */
import { parseArgs } from 'node:util';

/** One emulated path, the same each direction. */
export interface PathSpec {
  readonly rateMbit: number;
  readonly rttMs: number;
  /** Random loss in percent, each direction. */
  readonly lossPercent: number;
  /** Drop-tail buffer, in bandwidth-delay products of this path. */
  readonly bufferBdp: number;
}

export const PROTOCOLS = ['cubic', 'bbr', 'bittrrt', 'udx', 'send'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const SCENARIOS = ['coexist', 'fairness', 'latency', 'tree'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface WanOptions {
  readonly rows: readonly PathSpec[];
  /** Seconds of each timed run (iperf3 -t, --bwup, udx), and of each coexistence run. */
  readonly seconds: number;
  readonly protocols: readonly Protocol[];
  readonly scenarios: readonly Scenario[];
  /** Where the JSON results go; null for none. */
  readonly jsonPath: string | null;
  /** Write docs/wan-goodput.svg from this run. */
  readonly writeChart: boolean;
  readonly seed: number;
  readonly quick: boolean;
  /** Runs of each protocol on each row, alternating the order; goals are judged on the median. */
  readonly repeat: number;
}

/** 1-BDP drop-tail buffer: what the issue's grid asks for. */
const DEFAULT_BUFFER_BDP = 1;
/** The issue's grid: 100 Mbit/s × 50 ms at four loss rates, then a thin long path and a fat short one. */
export const DEFAULT_ROWS: readonly PathSpec[] = [
  ...[0, 0.1, 1, 3].map((lossPercent) => ({ rateMbit: 100, rttMs: 50, lossPercent, bufferBdp: DEFAULT_BUFFER_BDP })),
  { rateMbit: 20, rttMs: 150, lossPercent: 0, bufferBdp: DEFAULT_BUFFER_BDP },
  { rateMbit: 200, rttMs: 10, lossPercent: 0, bufferBdp: DEFAULT_BUFFER_BDP },
];
/** --quick: the clean and the 1%-loss path only. */
export const QUICK_ROWS: readonly PathSpec[] = DEFAULT_ROWS.filter((r) => r.rateMbit === 100 && (r.lossPercent === 0 || r.lossPercent === 1));

/** Long enough for CUBIC and BBR to leave slow start on a 150 ms path several times over. */
export const DEFAULT_SECONDS = 20;
export const QUICK_SECONDS = 8;
/** Bounded durations: no run may ask for more than the server's longest bandwidth test. */
export const MAX_SECONDS = 60;
const DEFAULT_SEED = 1;
/** A row's runs, at most: five rounds of a grid row already take minutes. */
export const MAX_REPEAT = 5;

export const USAGE = `usage: node dist/benchmarks/wan/run.js [--quick] [--seconds N] [--rows SPEC[,SPEC...]] [--only P[,P...]]
       [--scenarios S[,S...]|none] [--json PATH] [--write-chart] [--seed N] [--repeat N]
  SPEC is RATExRTT@LOSS[/BUF]: 100x50@1 is 100 Mbit/s, 50 ms RTT, 1% loss each way, 1-BDP buffer;
       100x50@1/0.5 a half-BDP buffer
  P    is one of ${PROTOCOLS.join(', ')} (default: all)
  S    is one of ${SCENARIOS.join(', ')} (default: all; run on the first row's rate and RTT without loss)
  --repeat N runs every protocol of every row N times (1-${MAX_REPEAT}, default 1), in turn and the order
       reversed each round; a goal is judged on the median of its N figures
`;

/** "100x50@1/0.5" → a path; null when it does not parse or is out of range. Never throws. */
export function parseRow(text: string): PathSpec | null {
  const m = /^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)@(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (m === null) return null;
  const [rateMbit, rttMs, lossPercent] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const bufferBdp = m[4] === undefined ? DEFAULT_BUFFER_BDP : Number(m[4]);
  // The emulator takes 1 kbit/s to 100 Gbit/s and one-way delays up to 10 s; a buffer under a
  // tenth of a BDP or over 16 is no path anybody asks about.
  if (!(rateMbit >= 0.001 && rateMbit <= 100_000) || !(rttMs >= 0 && rttMs <= 20_000)) return null;
  if (!(lossPercent >= 0 && lossPercent < 100) || !(bufferBdp >= 0.1 && bufferBdp <= 16)) return null;
  return { rateMbit, rttMs, lossPercent, bufferBdp };
}

export const rowLabel = (r: PathSpec): string =>
  `${r.rateMbit}M×${r.rttMs}ms ${r.lossPercent}%${r.bufferBdp === DEFAULT_BUFFER_BDP ? '' : ` buf ${r.bufferBdp} BDP`}`;

/** Drop-tail limit in bytes; never below one full-size packet, or nothing would pass. */
export function bufferBytes(r: PathSpec): number {
  const bdp = (r.rateMbit * 1e6 / 8) * (r.rttMs / 1000);
  return Math.max(1500, Math.round(bdp * r.bufferBdp));
}

function listOf<T extends string>(flag: string, raw: string | undefined, known: readonly T[]): readonly T[] {
  if (raw === undefined) return known;
  const named = raw.split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (flag === '--scenarios' && named.length === 1 && named[0] === 'none') return [];
  const unknown = named.filter((n) => !known.some((k) => k === n));
  if (unknown.length > 0 || named.length === 0) throw new Error(`${flag}: unknown ${unknown.join(', ') || 'empty list'}; known: ${known.join(', ')}`);
  return known.filter((k) => named.includes(k));
}

export type ParsedArgs = { readonly kind: 'run'; readonly options: WanOptions } | { readonly kind: 'help' } | { readonly kind: 'error'; readonly message: string };

/** The command line; never throws. */
export function parseWanArgs(argv: readonly string[]): ParsedArgs {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        seconds: { type: 'string' },
        rows: { type: 'string', multiple: true },
        only: { type: 'string' },
        scenarios: { type: 'string' },
        json: { type: 'string' },
        'write-chart': { type: 'boolean', default: false },
        seed: { type: 'string' },
        repeat: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help === true) return { kind: 'help' };
    const quick = values.quick === true;
    const seconds = values.seconds === undefined ? (quick ? QUICK_SECONDS : DEFAULT_SECONDS) : Number(values.seconds);
    if (!Number.isInteger(seconds) || seconds < 2 || seconds > MAX_SECONDS) {
      throw new Error(`--seconds wants a whole number from 2 to ${MAX_SECONDS}, not ${values.seconds}`);
    }
    const specs = (values.rows ?? []).flatMap((v) => v.split(',')).filter((v) => v.trim() !== '');
    const rows = specs.map((spec) => {
      const row = parseRow(spec);
      if (row === null) throw new Error(`--rows: cannot read '${spec}' (want RATExRTT@LOSS[/BUF], e.g. 100x50@1)`);
      return row;
    });
    const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed wants a whole number ≥ 0, not ${values.seed}`);
    const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT) throw new Error(`--repeat wants a whole number from 1 to ${MAX_REPEAT}, not ${values.repeat}`);
    return {
      kind: 'run',
      options: {
        rows: rows.length > 0 ? rows : quick ? QUICK_ROWS : DEFAULT_ROWS,
        seconds,
        protocols: listOf('--only', values.only, PROTOCOLS),
        scenarios: listOf('--scenarios', values.scenarios, SCENARIOS),
        jsonPath: values.json ?? null,
        writeChart: values['write-chart'] === true,
        seed,
        quick,
        repeat,
      },
    };
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  }
}
