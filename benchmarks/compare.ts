/**
 * Two checkouts' benches in the same run, interleaved, so the machine's load falls on both alike:
 * A, B, then B, A, … (the order alternates, so whatever favours the first or the second run of a
 * round, a cache, the CPU's clock, a neighbour's timer, falls on both alike), each a fresh
 * `node DIR/dist/benchmarks/run.js --json`, then every figure's
 * B ÷ A within each round, with each side's own spread over the rounds beside it. A ratio whose
 * range holds 1 and lies within the sides' spreads is "unchanged within noise in the same run".
 *
 *   node dist/benchmarks/compare.js DIR_A DIR_B [--rounds N] [--json] [-- RUN_FLAGS...]
 *
 * DIR_A and DIR_B are built checkouts (`npm ci && npx tsc`); RUN_FLAGS go to both run.js
 * (default: --quick). A run that exits 1 (a verdict not PASS, as every --quick run's is) counts;
 * one that prints no report ends the comparison.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { compareRounds, figuresOf, type Comparison, type Figures, type Loose } from './figures.js';
import { table, type Report } from './report.js';

const USAGE = 'usage: node dist/benchmarks/compare.js DIR_A DIR_B [--rounds N] [--json] [-- RUN_FLAGS...]\n';
const DEFAULT_ROUNDS = 3;
const DEFAULT_RUN_FLAGS = ['--quick'];

/** Runs one checkout's bench; its progress goes to our stderr, tagged with the side. */
function runBench(dir: string, side: string, flags: readonly string[]): Promise<Loose<Report>> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(dir, 'dist/benchmarks/run.js'), '--json', ...flags], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk.toString('utf8').replace(/^(?=.)/gm, `${side} `)));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(out).toString('utf8'));
        if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
        // The report's shape is the run.js of `dir`; figuresOf reads every part as possibly missing.
        resolvePromise(parsed as Loose<Report>);
      } catch (err) {
        reject(new Error(`${side} (${dir}) exited ${code} without a JSON report: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  });
}

const number = (v: number): string => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3));

function formatComparison(c: Comparison, dirs: readonly [string, string], rounds: number): string {
  const rows = c.figures.map((f) => [
    f.name, number(f.a), `±${f.spreadA.toFixed(1)}%`, number(f.b), `±${f.spreadB.toFixed(1)}%`,
    f.ratio.toFixed(3), `${f.ratioRange[0].toFixed(3)}–${f.ratioRange[1].toFixed(3)}`,
  ]);
  return [
    `A: ${dirs[0]}`,
    `B: ${dirs[1]}`,
    `${rounds} round(s), A then B in odd rounds, B then A in even ones; A and B: medians over the rounds, ± half their range; B/A: median of the rounds' ratios (min–max)`,
    table(['figure', 'A', 'A spread', 'B', 'B spread', 'B/A', 'B/A range'], rows),
    ...(c.onlyA.length === 0 ? [] : [`only in A: ${c.onlyA.join('; ')}`]),
    ...(c.onlyB.length === 0 ? [] : [`only in B: ${c.onlyB.join('; ')}`]),
  ].join('\n');
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { rounds: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  // parseArgs keeps what follows `--` among the positionals: the two directories come first.
  const [dirA, dirB, ...given] = positionals;
  const rounds = values.rounds === undefined ? DEFAULT_ROUNDS : Number(values.rounds);
  const refuse = (message: string): number => {
    process.stderr.write(`${message}\n${USAGE}`);
    return 2;
  };
  if (dirA === undefined || dirB === undefined) return refuse('two checkout directories are needed');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) return refuse(`--rounds wants a whole number from 1 to 50, not ${values.rounds}`);
  const unbuilt = [dirA, dirB].find((dir) => !existsSync(join(dir, 'dist/benchmarks/run.js')));
  if (unbuilt !== undefined) return refuse(`${unbuilt} has no dist/benchmarks/run.js: build it first (npm ci && npx tsc)`);
  const dirs = [resolve(dirA), resolve(dirB)] as const;
  const flags = given.length === 0 ? DEFAULT_RUN_FLAGS : given;
  const a = { label: 'A', dir: dirs[0], figures: [] as Figures[] };
  const b = { label: 'B', dir: dirs[1], figures: [] as Figures[] };
  for (let round = 1; round <= rounds; round++) {
    for (const side of round % 2 === 1 ? [a, b] : [b, a]) {
      process.stderr.write(`compare: round ${round}/${rounds}, ${side.label}\n`);
      side.figures.push(figuresOf(await runBench(side.dir, side.label, flags)));
    }
  }
  const comparison = compareRounds(a.figures, b.figures);
  process.stdout.write(values.json ? `${JSON.stringify({ dirs, flags, rounds, ...comparison }, null, 2)}\n` : `${formatComparison(comparison, dirs, rounds)}\n`);
  return 0;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
