import { readFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aeadCaseId, FACADE_TARGET_SIZE, sizeLabel, type AeadOperation, type AeadSize } from './crypto.js';
import { BACKEND_NAMES, type BackendName, type BackendRow, type BenchConfig, type Measurement, type Row, type SharedRow } from './harness.js';

/** The facade target: CommEncryptor at 1400 B must reach this fraction of the bare calls' ops/s. */
export const FACADE_TARGET = 0.8;
/** A case whose rounds differ by more than ± this many percent was disturbed by other load. */
const NOISY_SPREAD_PERCENT = 15;

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly os: string;
  /** 1-minute load average when the run started: other work on the machine skews every number. */
  readonly loadAverage: number;
  readonly libraries: Readonly<Record<string, string>>;
}

export interface FacadeRow {
  readonly backend: BackendName;
  readonly size: number;
  readonly bareOpsPerSec: number;
  readonly encryptIntoOpsPerSec: number;
  readonly encryptOpsPerSec: number;
  /** encryptInto ops/s ÷ bare ops/s. */
  readonly encryptIntoRatio: number;
  /** encrypt ops/s ÷ bare ops/s. */
  readonly encryptRatio: number;
  /** Lowest and highest ratio seen in a single round (equal with one round). */
  readonly encryptIntoRange: readonly [number, number];
  readonly encryptRange: readonly [number, number];
  /** Only the target size is judged; null on the informational rows. */
  readonly encryptIntoPass: boolean | null;
  readonly encryptPass: boolean | null;
}

export interface FernetRow {
  readonly label: string;
  readonly opsPerSec: number;
  /** ops/s ÷ the npm fernet baseline's ops/s. */
  readonly vsNpmFernet: number;
}

export interface Report {
  readonly machine: MachineInfo;
  readonly mode: 'default' | 'quick';
  readonly config: BenchConfig;
  readonly elapsedSeconds: number;
  readonly cases: readonly Row[];
  readonly facade: { readonly target: number; readonly targetSize: number; readonly rows: readonly FacadeRow[] };
  readonly fernet: readonly FernetRow[];
}

/** Version of an installed package, found by walking up from the file a specifier resolves to. */
function packageVersion(name: string, specifier: string): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
    for (;;) {
      try {
        const pkg: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
        if (typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === name && 'version' in pkg) {
          return String(pkg.version);
        }
      } catch {
        // no package.json at this level
      }
      const parent = dirname(dir);
      if (parent === dir) return 'unknown';
      dir = parent;
    }
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    node: process.version,
    os: `${platform()} ${release()} ${arch()}`,
    loadAverage: loadavg()[0] ?? 0,
    libraries: {
      'sodium-native': packageVersion('sodium-native', 'sodium-native'),
      '@noble/ciphers': packageVersion('@noble/ciphers', '@noble/ciphers/chacha.js'),
      '@noble/curves': packageVersion('@noble/curves', '@noble/curves/ed25519.js'),
      tinybench: packageVersion('tinybench', 'tinybench'),
    },
  };
}

function backendRow(cases: readonly Row[], id: string): BackendRow {
  const row = cases.find((r): r is BackendRow => r.kind === 'backend' && r.id === id);
  if (row === undefined) throw new Error(`report: no per-backend case ${id}`);
  return row;
}

function sharedRow(cases: readonly Row[], id: string): SharedRow {
  const row = cases.find((r): r is SharedRow => r.kind === 'shared' && r.id === id);
  if (row === undefined) throw new Error(`report: no shared case ${id}`);
  return row;
}

/** facade ÷ bare per round: within a round the two cases ran back to back, so these pairs are the fairest. */
function roundRatioRange(facade: Measurement, bare: Measurement): readonly [number, number] {
  const ratios = facade.rounds.map((r, i) => r.opsPerSec / (bare.rounds[i]?.opsPerSec ?? Number.NaN));
  return [Math.min(...ratios), Math.max(...ratios)];
}

/** Facade ÷ bare for every backend and size, from the measurements already in the main table. */
export function facadeRows(cases: readonly Row[], backends: readonly BackendName[], sizes: readonly AeadSize[]): FacadeRow[] {
  return backends.flatMap((backend) => sizes.map((size): FacadeRow => {
    const measured = (operation: AeadOperation): Measurement => backendRow(cases, aeadCaseId(operation, size)).results[backend];
    const [bare, into, encrypt] = [measured('seal.bare'), measured('encryptInto'), measured('encrypt')];
    const encryptIntoRatio = into.opsPerSec / bare.opsPerSec;
    const encryptRatio = encrypt.opsPerSec / bare.opsPerSec;
    const judged = size === FACADE_TARGET_SIZE;
    return {
      backend,
      size,
      bareOpsPerSec: bare.opsPerSec,
      encryptIntoOpsPerSec: into.opsPerSec,
      encryptOpsPerSec: encrypt.opsPerSec,
      encryptIntoRatio,
      encryptRatio,
      encryptIntoRange: roundRatioRange(into, bare),
      encryptRange: roundRatioRange(encrypt, bare),
      encryptIntoPass: judged ? encryptIntoRatio >= FACADE_TARGET : null,
      encryptPass: judged ? encryptRatio >= FACADE_TARGET : null,
    };
  }));
}

/** bittrrt's Fernet (node:crypto) against the npm package on the same token. */
export function fernetRows(cases: readonly Row[], npmId: string, ours: readonly string[]): FernetRow[] {
  const npm = sharedRow(cases, npmId);
  return [npm, ...ours.map((id) => sharedRow(cases, id))].map((row) => ({
    label: row.label,
    opsPerSec: row.result.opsPerSec,
    vsNpmFernet: row.result.opsPerSec / npm.result.opsPerSec,
  }));
}

// ---- text rendering ----

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const ops = (m: Measurement): string => `${integer.format(m.opsPerSec)} ±${(m.spreadPercent ?? m.rmePercent).toFixed(1)}%`;
const ratio = (r: number): string => `${r >= 100 ? r.toFixed(0) : r.toFixed(2)}×`;
const percent = (r: number): string => `${(r * 100).toFixed(1)}%`;
const isNoisy = (m: Measurement): boolean => (m.spreadPercent ?? 0) > NOISY_SPREAD_PERCENT;
const verdict = (pass: boolean | null): string => (pass === null ? '' : pass ? ' PASS' : ' FAIL');
const ratioCell = (r: number, [low, high]: readonly [number, number], pass: boolean | null): string =>
  `${percent(r)}${low === high ? '' : ` (${percent(low)}–${percent(high)})`}${verdict(pass)}`;

/** A plain pipe table; the first column is left-aligned, the rest right-aligned. */
function table(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${widths.map((w, i) => (i === 0 ? (cells[i] ?? '').padEnd(w) : (cells[i] ?? '').padStart(w))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

export function formatText(report: Report): string {
  const { machine, config } = report;
  const libs = Object.entries(machine.libraries).map(([k, v]) => `${k} ${v}`).join(', ');
  const head = [
    `bittrrt benchmarks (${report.mode}: ${config.timeMs} ms per case and backend in ${config.rounds} interleaved round(s), ` +
      `${config.warmupMs} ms warmup each, ~${config.batchMs} ms batches)`,
    `CPU:  ${machine.cpu} (${machine.cores} cores)`,
    `Node: ${machine.node} on ${machine.os} (load average ${machine.loadAverage.toFixed(2)} at start)`,
    `Libs: ${libs}`,
    (config.rounds > 1
      ? `ops/s = median of ${config.rounds} rounds (each: calls / measured time); ± = half the spread between rounds; `
      : 'ops/s = calls / measured time; ± = 95% margin of error of the mean; ') +
      'native/js = native ops/s ÷ js ops/s',
  ].join('\n');

  const main = table(['case', 'native ops/s', 'js ops/s', 'native/js'], report.cases.map((row) => row.kind === 'backend'
    ? [row.label, ops(row.results.native), ops(row.results.js), ratio(row.nativeOverJs)]
    : [`${row.label} [both]`, ops(row.result), '(same code)', '—']));

  const facade = table(
    ['facade vs bare', 'bare ops/s', 'encryptInto ops/s', 'into/bare', 'encrypt ops/s', 'encrypt/bare'],
    report.facade.rows.map((r) => [
      `${r.backend} ${sizeLabel(r.size)}`,
      integer.format(r.bareOpsPerSec),
      integer.format(r.encryptIntoOpsPerSec),
      ratioCell(r.encryptIntoRatio, r.encryptIntoRange, r.encryptIntoPass),
      integer.format(r.encryptOpsPerSec),
      ratioCell(r.encryptRatio, r.encryptRange, r.encryptPass),
    ]));
  const judged = report.facade.rows.filter((r) => r.encryptPass !== null);
  const summary = judged.map((r) =>
    `${r.backend}: encrypt ${percent(r.encryptRatio)}${verdict(r.encryptPass)}, encryptInto ${percent(r.encryptIntoRatio)}${verdict(r.encryptIntoPass)}`)
    .join('; ');

  const noisy = report.cases.flatMap((row) => (row.kind === 'backend'
    ? BACKEND_NAMES.filter((b) => isNoisy(row.results[b])).map((b) => `${row.label} [${b}]`)
    : isNoisy(row.result) ? [row.label] : []));
  const warning = noisy.length === 0 ? [] : [
    `NOTE: rounds differed by more than ±${NOISY_SPREAD_PERCENT}% for: ${noisy.join('; ')}. ` +
      'Other load on the machine or GC-heavy code; read those rows, and ratios built on them, with care.',
    '',
  ];

  const fernet = table(['Fernet decode, same token', 'ops/s', 'vs npm fernet'],
    report.fernet.map((r) => [r.label, integer.format(r.opsPerSec), ratio(r.vsNpmFernet)]));

  return [
    head,
    '',
    ...warning,
    main,
    '',
    `Facade overhead (target: ${sizeLabel(report.facade.targetSize)} CommEncryptor ≥ ${percent(report.facade.target)} of bare nonce+seal ops/s; other sizes informational)`,
    facade,
    `Target at ${sizeLabel(report.facade.targetSize)}: ${summary}`,
    '',
    fernet,
    '',
    `Total bench time: ${report.elapsedSeconds.toFixed(1)} s`,
  ].join('\n');
}
