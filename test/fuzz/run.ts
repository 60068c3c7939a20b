/**
 * `npm run fuzz`: runs every fuzz target for a set time with a random seed and prints the cases
 * run per target, what they reached, and any failure (with the seed to replay it).
 *
 *   node dist/test/fuzz/run.js [--seconds N] [--seed S] [--target NAME]... [--verbose]
 *
 *   --seconds N   time per target (default 60)
 *   --seed S      base seed instead of a random one (the same for every target)
 *   --target NAME only this target (repeatable): fernet, handshake, frame-header, server-receive, server-receive-crowded,
 *                 native-arguments, native-wire (the last two when the native addon is built)
 *   --verbose     print every outcome and drop reason counted, not just the summary
 *
 * Exit status: 0 if every target passed, 1 if any failed, 2 for bad arguments.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { NATIVE_TARGETS } from './native-targets.js';
import { TARGETS as PARSER_TARGETS, type FuzzReport } from './targets.js';

const TARGETS = [...PARSER_TARGETS, ...NATIVE_TARGETS];

function usage(message: string): never {
  console.error(`${message}\nusage: node dist/test/fuzz/run.js [--seconds N] [--seed S] [--target NAME]... [--verbose]`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      seed: { type: 'string' },
      target: { type: 'string', multiple: true },
      verbose: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  usage((err as Error).message);
}
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) usage(`--seconds must be a positive number, not ${values.seconds}`);
const seed = values.seed === undefined ? undefined : Number(values.seed);
if (seed !== undefined && !Number.isSafeInteger(seed)) usage(`--seed must be an integer, not ${values.seed}`);
const names = TARGETS.map((t) => t.name);
for (const name of values.target ?? []) if (!names.includes(name)) usage(`unknown target ${name}; targets: ${names.join(', ')}`);
const selected = TARGETS.filter((t) => !values.target || values.target.includes(t.name));

const rate = (r: FuzzReport): string => `${Math.round(r.cases / (r.ms / 1000)).toLocaleString('en-US')}/s`;

console.log(`fuzzing ${selected.length} target(s) for ${seconds} s each`);
const started = performance.now();
let failed = 0;
const rows: string[] = [];
for (const target of selected) {
  try {
    const report = await target.run({ seconds, seed });
    rows.push(`${target.name.padEnd(24)} ${String(report.cases).padStart(9)} cases  ${(report.ms / 1000).toFixed(1).padStart(6)} s  ${rate(report).padStart(10)}  seed ${report.seed}`);
    console.log(rows[rows.length - 1]);
    if (values.verbose) {
      for (const [key, n] of Object.entries(report.stats).sort(([a], [b]) => a.localeCompare(b))) console.log(`    ${key}: ${n}`);
    }
  } catch (err) {
    failed++;
    rows.push(`${target.name.padEnd(24)} FAILED`);
    console.log(`${target.name.padEnd(24)} FAILED\n${err instanceof Error ? err.message : String(err)}\n`);
  }
}
console.log(`\n${rows.join('\n')}\n${failed ? `${failed} target(s) failed` : 'all targets passed'} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
// Sockets and timers of the targets are closed; exit anyway, so a leak cannot hang the run.
process.exit(failed ? 1 : 0);
