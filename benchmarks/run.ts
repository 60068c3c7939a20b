/**
 * bittrrt benchmarks: native (sodium-native) against pure-JS (@noble) in one process.
 *
 *   node dist/benchmarks/run.js [--quick] [--json]
 *
 * default  ~500 ms per case and backend, in 5 interleaved rounds of 100 ms (about 25 s in all)
 * --quick  ~100 ms per case and backend, one round (about 5 s), for smoke runs
 * --json   one JSON object on stdout instead of the tables (progress still goes to stderr)
 */
import { parseArgs } from 'node:util';
import { loadNobleBackend } from '../lib/crypto/noble-backend.js';
import { loadSodiumBackend } from '../lib/crypto/sodium-backend.js';
import {
  AEAD_SIZES, bareSealCase, decryptCase, encryptCase, encryptIntoCase, FACADE_TARGET_SIZE, fdecryptCase, fencryptCase,
  hkdfCase, keyPairCase, scalarMultCase,
} from './crypto.js';
import { npmFernetDecodeCase } from './fernet-baseline.js';
import { serverHandshakeCase } from './handshake.js';
import { BACKEND_NAMES, DEFAULT_CONFIG, QUICK_CONFIG, runCases, sinkValue, type Case, type Progress } from './harness.js';
import { FACADE_TARGET, facadeRows, fernetRows, formatText, machineInfo, type Report } from './report.js';

/**
 * Table and run order. For each size the bare seal, encryptInto and encrypt run back to back so the
 * facade ratios compare measurements taken under the same conditions. The npm fernet baseline is
 * last: it is required when first measured and patches String.prototype.lpad, which no bittrrt code
 * uses, so only later rounds run after the patch.
 */
const CASES: readonly Case[] = [
  keyPairCase,
  scalarMultCase,
  hkdfCase,
  ...AEAD_SIZES.flatMap((size) => [bareSealCase(size), encryptIntoCase(size), encryptCase(size), decryptCase(size)]),
  fencryptCase,
  fdecryptCase,
  serverHandshakeCase,
  npmFernetDecodeCase,
];

const USAGE = 'usage: node dist/benchmarks/run.js [--quick] [--json]\n';

function parseFlags(): { quick: boolean; json: boolean } | null {
  try {
    const { values } = parseArgs({
      options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(USAGE);
      return null;
    }
    return { quick: values.quick, json: values.json };
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exitCode = 2;
    return null;
  }
}

async function main(): Promise<void> {
  const values = parseFlags();
  if (values === null) return;
  const config = values.quick ? QUICK_CONFIG : DEFAULT_CONFIG;
  const machine = machineInfo();
  const backends = { native: loadSodiumBackend(), js: loadNobleBackend() };
  const started = performance.now();
  const progress: Progress = (message) => process.stderr.write(`  ${message}\n`);

  const cases = await runCases(CASES, backends, config, progress);
  if (sinkValue() === undefined) throw new Error('benchmark sink is empty');

  const report: Report = {
    machine,
    mode: values.quick ? 'quick' : 'default',
    config,
    elapsedSeconds: (performance.now() - started) / 1000,
    cases,
    facade: { target: FACADE_TARGET, targetSize: FACADE_TARGET_SIZE, rows: facadeRows(cases, BACKEND_NAMES, AEAD_SIZES) },
    fernet: fernetRows(cases, npmFernetDecodeCase.id, [fdecryptCase.id]),
  };
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${formatText(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
