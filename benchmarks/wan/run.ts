/**
 * bittrrt against Linux TCP (CUBIC, BBR) and udx-native on emulated long and lossy paths, between
 * two network namespaces joined by a userspace path emulator (emulator.c). `npm run bench:wan`;
 * needs root, /dev/net/tun, iproute2 and gcc (and iperf3 for the TCP runs): what is missing is
 * named on a SKIP line. See USAGE in args.ts, and the README's benchmark section.
 *
 * Each grid row runs every protocol in turn over a fresh emulator with the same parameters and
 * seed; then the scenarios on the first row's rate and RTT without loss: coexistence (one bittrrt
 * and one TCP CUBIC flow), fairness (two bittrrt flows), latency under load (--ping during --bwup).
 * Output: a markdown table and verdict lines on stdout, a JSON file, and with --write-chart
 * docs/wan-goodput.svg. Exit code 0 only when every judged goal PASSes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWanArgs, rowLabel, USAGE, type PathSpec, type Protocol, type WanOptions } from './args.js';
import { goodputChart } from './chart.js';
import { hasCommand, Lab, missingForLab } from './lab.js';
import {
  formatTable, jainIndex, judgeWan, medianGoodput, PROTOCOL_LABELS, type CoexistResult, type FairnessResult, type LatencyResult, type RowResult,
  type RunResult, type TreeResult, type WanResults,
} from './results.js';
import { measure, SEND_BYTES, Servers, TREE_FILE_BYTES, TREE_FILES, type Measured } from './runners.js';
import { writeRandomFile } from '../transfer.js';
import { exitCode, formatJudgement } from '../verdict.js';

const CHART_PATH = fileURLToPath(new URL('../../../docs/wan-goodput.svg', import.meta.url));
const CHART_SERIES: ReadonlyArray<readonly [Protocol, string]> = [
  ['bittrrt', '#d62728'], ['bbr', '#1f77b4'], ['cubic', '#2ca02c'], ['udx', '#9467bd'],
];
const TCP_PROTOCOLS: readonly Protocol[] = ['cubic', 'bbr'];

const say = (line: string): void => {
  process.stderr.write(`  ${line}\n`);
};

async function udxMissing(): Promise<string | null> {
  try {
    await import('udx-native');
    return null;
  } catch (err) {
    return `udx-native does not load (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); npm install`;
  }
}

const failedRun = (protocol: Protocol, error: string, problems: readonly string[] = []): RunResult =>
  ({ protocol, flow: null, error, note: null, emulator: null, problems });

/** One measurement over a fresh emulator for `path`. */
async function onPath(lab: Lab, path: PathSpec, seed: number, protocol: Protocol, run: () => Promise<Measured>): Promise<RunResult> {
  try {
    const { value, emulator, problems } = await lab.withPath(path, seed, run);
    return { protocol, ...value, emulator, problems };
  } catch (err) {
    return failedRun(protocol, err instanceof Error ? err.message : String(err));
  }
}

const describeTree = (t: TreeResult): string => (t.seconds === null ? `failed: ${t.error ?? 'no result'}`
  : `${t.files} files of ${t.fileBytes} B in ${t.seconds.toFixed(2)} s from process start, ${(t.files / t.seconds).toFixed(0)} files/s`
    + ` (${((1000 * t.seconds) / t.files / t.path.rttMs).toFixed(2)} round trips a file)${t.problems.length > 0 ? `; ${t.problems.join('; ')}` : ''}`);

const describe = (r: RunResult): string =>
  (r.flow === null ? `failed: ${r.error ?? 'no result'}` : `${r.flow.goodputMbit.toFixed(1)} Mbit/s${r.note === null ? '' : ` (${r.note})`}`);

async function runBench(lab: Lab, options: WanOptions, protocols: readonly Protocol[], withIperf3: boolean): Promise<WanResults> {
  const servers = await Servers.start(lab);
  try {
    const sendFile = join(lab.dir, 'send.bin');
    if (protocols.includes('send')) await writeRandomFile(sendFile, SEND_BYTES);
    const rows: RowResult[] = [];
    for (const row of options.rows) {
      const runs: RunResult[] = [];
      for (let round = 1; round <= options.repeat; round++) {
        // Each round in the other order, so no protocol always runs first (or last) on a warm server.
        for (const protocol of round % 2 === 1 ? protocols : [...protocols].reverse()) {
          // The 64 MiB upload is judged at 1% loss and shown on a clean path; elsewhere it would only add minutes.
          if (protocol === 'send' && row.lossPercent !== 0 && row.lossPercent !== 1) continue;
          const label = `${rowLabel(row)}: ${PROTOCOL_LABELS[protocol]}${options.repeat > 1 ? ` (${round}/${options.repeat})` : ''}`;
          say(`${label} ...`);
          const result = await onPath(lab, row, options.seed, protocol, () => measure(servers, protocol, options.seconds, sendFile));
          say(`${label} ${describe(result)}`);
          runs.push(result);
        }
      }
      rows.push({ row, runs });
    }
    const first = options.rows[0];
    const path: PathSpec | null = first === undefined ? null : { ...first, lossPercent: 0 };
    const has = (s: WanOptions['scenarios'][number]): boolean => path !== null && options.scenarios.includes(s);
    let coexist: CoexistResult | null = null;
    let fairness: FairnessResult | null = null;
    let latency: LatencyResult | null = null;
    if (path !== null && has('coexist') && withIperf3) {
      say(`coexistence on ${rowLabel(path)}: one bittrrt --bwup and one TCP CUBIC flow for ${options.seconds} s ...`);
      const both = await lab.withPath(path, options.seed, () => Promise.all([servers.bandwidthUp(options.seconds), servers.iperf3Run('cubic', options.seconds)]))
        .catch((err: unknown) => err as Error);
      const as = (protocol: Protocol, m: Measured | undefined, problems: readonly string[]): RunResult => (m === undefined
        ? failedRun(protocol, both instanceof Error ? both.message : 'not run', problems) : { protocol, ...m, emulator: null, problems });
      const ok = both instanceof Error ? null : both;
      coexist = { path, bittrrt: as('bittrrt', ok?.value[0], ok?.problems ?? []), cubic: as('cubic', ok?.value[1], ok?.problems ?? []) };
      say(`coexistence: bittrrt ${describe(coexist.bittrrt)}, CUBIC ${describe(coexist.cubic)}`);
    } else if (has('coexist')) {
      process.stdout.write('SKIP coexistence scenario: iperf3 is not installed (apt-get install -y iperf3)\n');
    }
    if (path !== null && has('fairness')) {
      say(`fairness on ${rowLabel(path)}: two bittrrt --bwup flows for ${options.seconds} s ...`);
      const pair = await lab.withPath(path, options.seed, () => Promise.all([servers.bandwidthUp(options.seconds, 'bittrrt --bwup 1'), servers.bandwidthUp(options.seconds, 'bittrrt --bwup 2')]))
        .catch((err: unknown) => err as Error);
      const flows: RunResult[] = pair instanceof Error
        ? [1, 2].map(() => failedRun('bittrrt', pair.message))
        : pair.value.map((m) => ({ protocol: 'bittrrt', ...m, emulator: null, problems: pair.problems }));
      fairness = { path, flows };
      say(`fairness: ${flows.map(describe).join(', ')}; Jain ${jainIndex(flows.map((f) => f.flow?.goodputMbit ?? Number.NaN)).toFixed(3)}`);
    }
    if (path !== null && has('latency')) {
      say(`latency on ${rowLabel(path)}: --ping alone, then during a ${options.seconds} s --bwup ...`);
      const run = await lab.withPath(path, options.seed, () => servers.latencyUnderLoad(options.seconds)).catch((err: unknown) => err as Error);
      latency = run instanceof Error
        ? { path, baseMedianMs: null, loadedMedianMs: null, loadedSamples: 0, error: run.message,
          load: failedRun('bittrrt', run.message) }
        : { path, baseMedianMs: run.value.base, loadedMedianMs: run.value.loaded, loadedSamples: run.value.loadedSamples, error: run.value.error,
          load: { protocol: 'bittrrt', ...run.value.load, emulator: run.emulator, problems: run.problems } };
      say(`latency: ping median ${latency.baseMedianMs?.toFixed(1) ?? '–'} ms alone, ${latency.loadedMedianMs?.toFixed(1) ?? '–'} ms under load`);
    }
    let tree: TreeResult | null = null;
    if (path !== null && has('tree')) {
      say(`tree on ${rowLabel(path)}: ${TREE_FILES} files of ${TREE_FILE_BYTES} B with one --send DIR ...`);
      const dir = join(lab.dir, 'tree');
      mkdirSync(dir);
      for (let i = 0; i < TREE_FILES; i++) await writeRandomFile(join(dir, `f${String(i).padStart(4, '0')}.bin`), TREE_FILE_BYTES);
      const sent = await lab.withPath(path, options.seed, () => servers.sendTree(dir)).catch((err: unknown) => err as Error);
      const problems = sent instanceof Error ? [] : sent.problems;
      const value = sent instanceof Error ? sent.message : sent.value;
      tree = { path, files: TREE_FILES, fileBytes: TREE_FILE_BYTES, seconds: typeof value === 'number' ? value : null, error: typeof value === 'string' ? value : null, problems };
      say(`tree: ${describeTree(tree)}`);
    }
    return { rows, coexist, fairness, latency, tree };
  } finally {
    await servers.stop();
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: fileURLToPath(new URL('../../../', import.meta.url)), encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** The chart's rows: 100 Mbit/s × 50 ms, 1-BDP buffer, by loss; null when fewer than two were run. */
function chartOf(results: WanResults, options: WanOptions, commit: string): string | null {
  const rows = results.rows.filter((r) => r.row.rateMbit === 100 && r.row.rttMs === 50 && r.row.bufferBdp === 1)
    .sort((x, y) => x.row.lossPercent - y.row.lossPercent);
  if (rows.length < 2) return null;
  const series = CHART_SERIES.filter(([p]) => rows.some((r) => medianGoodput(r, p) !== null)).map(([p, color]) => ({
    label: PROTOCOL_LABELS[p], color, values: rows.map((r) => medianGoodput(r, p)),
  }));
  return goodputChart({
    title: 'Goodput vs loss, 100 Mbit/s × 50 ms RTT, 1-BDP drop-tail buffer',
    lossPercents: rows.map((r) => r.row.lossPercent),
    linkMbit: 100,
    series,
    caption: `userspace emulator between network namespaces; ${options.seconds} s per run, ${options.repeat > 1 ? `median of ${options.repeat} runs` : 'one run'} each; ${new Date().toISOString().slice(0, 10)}, commit ${commit}`,
  });
}

async function main(): Promise<number> {
  const parsed = parseWanArgs(process.argv.slice(2));
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`${parsed.message}\n${USAGE}`);
    return 2;
  }
  const { options } = parsed;
  const missing = missingForLab();
  if (missing.length > 0) {
    process.stdout.write(`SKIP wan bench: missing ${missing.join('; ')}\n`);
    return 0;
  }
  let protocols = options.protocols;
  const withIperf3 = hasCommand('iperf3');
  if (!withIperf3 && protocols.some((p) => TCP_PROTOCOLS.includes(p))) {
    process.stdout.write('SKIP TCP CUBIC and BBR runs (and the goals judged against them): iperf3 is not installed (apt-get install -y iperf3)\n');
    protocols = protocols.filter((p) => !TCP_PROTOCOLS.includes(p));
  }
  const udx = protocols.includes('udx') ? await udxMissing() : null;
  if (udx !== null) {
    process.stdout.write(`SKIP udx-native runs: ${udx}\n`);
    protocols = protocols.filter((p) => p !== 'udx');
  }

  // The same synchronous cleanup on every way out: children killed, namespaces deleted. The
  // handlers go in before the lab exists, so a Ctrl-C while it is being made still ends cleanly
  // (Lab.create cleans up after itself when it fails).
  let lab: Lab | null = null;
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    process.stderr.write(`\n${signal}: stopping the WAN bench${lab === null ? '' : `, deleting ${lab.ns.a} and ${lab.ns.b}`}\n`);
    lab?.closeSync();
    process.exit(code);
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('exit', () => lab?.closeSync());
  lab = Lab.create();
  const started = performance.now();
  const load = loadavg()[0] ?? 0;
  say(`namespaces ${lab.ns.a} → ${lab.ns.b}; ${options.rows.length} row(s) × ${protocols.join(', ')}; ${options.seconds} s per run; load average ${load.toFixed(2)}`);
  let results: WanResults;
  try {
    results = await runBench(lab, options, protocols, withIperf3);
  } finally {
    lab.closeSync();
  }

  const judgements = judgeWan(results);
  const commit = gitCommit();
  const scheduling = lab.realtime === false ? '; the emulator ran WITHOUT real-time priority, so other load delayed its packets' : '';
  // The report says so: a --send timed from process start in this machine's own shell would take longer (ENDPOINT_ENV).
  const environment = process.env.NODE_EXTRA_CA_CERTS === undefined ? '' : '; Node endpoints ran without NODE_EXTRA_CA_CERTS';
  const out: string[] = [
    '', `## WAN bench (commit ${commit}, ${options.seconds} s per run, ${options.repeat > 1 ? `${options.repeat} runs each, judged on the median` : 'one run each'}, load average ${load.toFixed(2)} at the start${scheduling}${environment})`, '',
    formatTable(results.rows), '',
  ];
  if (results.coexist !== null) {
    const c = results.coexist;
    out.push(`coexistence (${rowLabel(c.path)}): bittrrt ${describe(c.bittrrt)}, TCP CUBIC ${describe(c.cubic)}`);
  }
  if (results.fairness !== null) {
    const f = results.fairness;
    out.push(`fairness (${rowLabel(f.path)}): ${f.flows.map(describe).join(', ')}; Jain ${jainIndex(f.flows.map((x) => x.flow?.goodputMbit ?? Number.NaN)).toFixed(3)}`);
  }
  if (results.latency !== null) {
    const l = results.latency;
    out.push(`latency (${rowLabel(l.path)}): --ping median ${l.baseMedianMs?.toFixed(1) ?? '–'} ms alone, ${l.loadedMedianMs?.toFixed(1) ?? '–'} ms `
      + `(${l.loadedSamples} pings) during --bwup at ${describe(l.load)}`);
  }
  if (results.tree !== null) out.push(`tree (${rowLabel(results.tree.path)}): ${describeTree(results.tree)}`);
  out.push('', ...judgements.map(formatJudgement), '');
  process.stdout.write(out.join('\n'));

  const jsonPath = options.jsonPath ?? join(tmpdir(), `bittrrt-wan-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(jsonPath, `${JSON.stringify({ commit, options, loadAverage: load, elapsedSeconds: (performance.now() - started) / 1000, results, judgements }, null, 2)}\n`);
  process.stdout.write(`results: ${jsonPath}\n`);
  if (options.writeChart) {
    const svg = chartOf(results, options, commit);
    if (svg === null) process.stdout.write('no chart: it needs at least two 100 Mbit/s × 50 ms rows with a 1-BDP buffer\n');
    else {
      writeFileSync(CHART_PATH, svg);
      process.stdout.write(`chart: ${CHART_PATH}\n`);
    }
  }
  return exitCode(judgements);
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
