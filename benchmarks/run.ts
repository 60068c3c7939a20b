/**
 * bittrrt benchmarks: native (sodium-native) against pure-JS (@noble) in one process, then
 * sessions over loopback UDP (server and clients in worker processes), the replay window, and
 * file transfer on loopback against raw UDP and TLS 1.3 (every end in a worker process).
 *
 *   node dist/benchmarks/run.js [--quick] [--json] [--no-net]
 *
 * default   ~500 ms per case and backend, in 5 interleaved rounds of 100 ms, then the session
 *           benchmarks (2 × 20,000 generated connects, 2,000 connect() + close(), 10,000 idle
 *           sessions, 2 s of echoes), then file transfer
 *           (256 MiB over raw UDP, bittrrt and TLS; 64 MiB through the impairment proxy at 0, 1
 *           and 5% loss): a few minutes; needs about 600 MiB free in the temporary directory
 * --quick   ~100 ms per case and backend, one round, smaller session runs and 32 MiB transfers
 *           (16 MiB through the proxy), for smoke runs
 * --json    one JSON object on stdout instead of the tables (progress still goes to stderr)
 * --no-net  skip the loopback UDP session and file transfer benchmarks (the replay window still runs)
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
import { replayCases } from './replay.js';
import { FACADE_TARGET, facadeRows, fernetRows, formatText, machineInfo, replaySection, type Report } from './report.js';
import { DEFAULT_SESSIONS_CONFIG, QUICK_SESSIONS_CONFIG, runNetwork } from './sessions.js';
import { runTransferBenchmarks } from './transfer.js';

/**
 * Table and run order. For each size each facade call runs right after the bare calls it is judged
 * against (encryptInto after the preallocated bare seal, encrypt after the allocating one), so the
 * facade ratios compare measurements taken under the same conditions. The npm fernet baseline is
 * last: it is required when first measured and patches String.prototype.lpad, which no bittrrt code
 * uses, so only later rounds run after the patch.
 */
const CASES: readonly Case[] = [
  keyPairCase,
  scalarMultCase,
  hkdfCase,
  ...AEAD_SIZES.flatMap((size) => [
    bareSealCase(size, 'preallocated'), encryptIntoCase(size), bareSealCase(size, 'allocated'), encryptCase(size), decryptCase(size),
  ]),
  fencryptCase,
  fdecryptCase,
  serverHandshakeCase,
  npmFernetDecodeCase,
];

const USAGE = 'usage: node dist/benchmarks/run.js [--quick] [--json] [--no-net]\n';

function parseFlags(): { quick: boolean; json: boolean; net: boolean } | null {
  try {
    const { values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'no-net': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(USAGE);
      return null;
    }
    return { quick: values.quick, json: values.json, net: !values['no-net'] };
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
  const network = values.net ? await runNetwork(values.quick ? QUICK_SESSIONS_CONFIG : DEFAULT_SESSIONS_CONFIG, progress) : null;
  const replay = await runCases(replayCases, backends, config, progress);
  const transfer = values.net ? await runTransferBenchmarks({ quick: values.quick, progress }) : null;
  if (sinkValue() === undefined) throw new Error('benchmark sink is empty');

  const report: Report = {
    machine,
    mode: values.quick ? 'quick' : 'default',
    config,
    elapsedSeconds: (performance.now() - started) / 1000,
    cases,
    facade: { target: FACADE_TARGET, targetSize: FACADE_TARGET_SIZE, rows: facadeRows(cases, BACKEND_NAMES, AEAD_SIZES) },
    fernet: fernetRows(cases, npmFernetDecodeCase.id, [fdecryptCase.id]),
    sessions: { network, replay: replaySection(cases, replay, FACADE_TARGET_SIZE) },
    transfer,
  };
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${formatText(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
