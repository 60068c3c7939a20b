import { readFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aeadCaseId, FACADE_TARGET_SIZE, facadePairId, sizeLabel, type AeadOperation, type AeadSize, type FacadeCall } from './crypto.js';
import { BACKEND_NAMES, type BackendName, type BackendRow, type BenchConfig, type Measurement, type PairRow, type Row, type SharedRow } from './harness.js';
import type { LatencySummary, MemorySample } from './session-rpc.js';
import type { ThroughputResult, TransferRun } from './baselines.js';
import type { HandshakeCapacity, HandshakeThroughput, IdleMemoryRun, NetworkReport } from './sessions.js';
import type { RatioName, TransferReport, TransferSet } from './transfer.js';
import { formatJudgement, formatSpread, judge, median, spread, type Goal, type Judgement, type JudgeRules } from './verdict.js';

/** The facade target: CommEncryptor at 1400 B must reach this fraction of the bare calls' ops/s. */
export const FACADE_GOAL: Goal = {
  what: 'facade ÷ bare', target: 0.8, unit: 'ratio', direction: 'atLeast', samplesAre: 'rounds',
  // Wrapping a call cannot make it twice as fast, nor 20 times slower.
  plausible: [0.05, 2],
};
export const FACADE_TARGET = FACADE_GOAL.target;
/** A case whose rounds differ by more than ± this many percent was disturbed by other load (quiet machine: within ±10%). */
const NOISY_SPREAD_PERCENT = 10;

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly os: string;
  /** 1-minute load average when the run started: other work on the machine skews every number. */
  readonly loadAverage: number;
  readonly libraries: Readonly<Record<string, string>>;
}

/** A CommEncryptor call against the bare library calls that do the same job. */
export interface FacadePairing {
  readonly bareOpsPerSec: number;
  readonly facadeOpsPerSec: number;
  /**
   * Median over the rounds of facade ops/s ÷ bare ops/s: for encryptInto and encrypt each round's
   * ratio is the median of alternating batches (measurePairedRound); for the informational
   * pairing, the ratio of the two cases' ops/s in the same round of the main table.
   */
  readonly ratio: number;
  /** Lowest and highest ratio of a single round (equal with one round). */
  readonly range: readonly [number, number];
  /** Judged only at the target size, and never for the informational pairing; null otherwise. */
  readonly judgement: Judgement | null;
}

export interface FacadeRow {
  readonly backend: BackendName;
  readonly size: number;
  /** encryptInto against nonce + seal into the same preallocated buffer. Judged. */
  readonly encryptInto: FacadePairing;
  /** encrypt against allocUnsafe + nonce + seal: both allocate their output. Judged. */
  readonly encrypt: FacadePairing;
  /** encrypt against the preallocated bare calls: what allocating the output costs. Informational. */
  readonly encryptVsPreallocated: FacadePairing;
}

export interface FernetRow {
  readonly label: string;
  readonly opsPerSec: number;
  /** ops/s ÷ the npm fernet baseline's ops/s. */
  readonly vsNpmFernet: number;
}

/** The crypto section: every case, the facade ratios and Fernet against npm fernet. */
export interface CryptoSection {
  readonly cases: readonly Row[];
  readonly facade: { readonly target: number; readonly targetSize: number; readonly rows: readonly FacadeRow[] };
  readonly fernet: readonly FernetRow[];
}

export interface Report {
  readonly machine: MachineInfo;
  readonly mode: 'default' | 'quick';
  readonly config: BenchConfig;
  /** Independent runs of each judged network figure (fresh processes each). */
  readonly repeat: number;
  readonly sections: readonly string[];
  readonly elapsedSeconds: number;
  /** Null when not run (--section). */
  readonly crypto: CryptoSection | null;
  readonly network: NetworkReport | null;
  readonly replay: ReplaySection | null;
  readonly transfer: TransferReport | null;
  /** Every judged figure of the sections run. */
  readonly judgements: readonly Judgement[];
}

/** The replay window's cost per packet next to an AEAD open of the same packet size. */
export interface ReplayRow {
  readonly id: string;
  readonly label: string;
  readonly nsPerPacket: number;
  /** nsPerPacket ÷ the ns of one CommEncryptor.decrypt of `openSize` bytes, per backend. */
  readonly ofOpen: Readonly<Record<BackendName, number>>;
}

export interface ReplaySection {
  readonly openSize: number;
  /** ns per CommEncryptor.decrypt of openSize bytes (verify + open), measured beside the replay cases. */
  readonly openNs: Readonly<Record<BackendName, number>>;
  readonly cases: readonly Row[];
  readonly rows: readonly ReplayRow[];
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

/** facade ÷ bare per round of the main table: the two cases ran one after the other in each round. */
function roundRatios(facade: Measurement, bare: Measurement): number[] {
  return facade.rounds.map((r, i) => r.opsPerSec / (bare.rounds[i]?.opsPerSec ?? Number.NaN));
}

/** Each round's ratio is one sample (the rounds ran interleaved, so they are independent of each other's drift). */
function pairing(facade: Measurement, bare: Measurement, ratios: readonly number[], judgedAs: string | null, rules: JudgeRules | undefined): FacadePairing {
  return {
    bareOpsPerSec: bare.opsPerSec,
    facadeOpsPerSec: facade.opsPerSec,
    ratio: median(ratios),
    range: [Math.min(...ratios), Math.max(...ratios)],
    judgement: judgedAs === null ? null : judge({ ...FACADE_GOAL, what: judgedAs }, ratios, rules),
  };
}

/**
 * Facade ÷ bare for every backend and size: ops/s from the main table, the ratios of encryptInto
 * and encrypt from their paired measurements (`pairs`, see facadePairs), judged at the target size.
 */
export function facadeRows(cases: readonly Row[], pairs: readonly PairRow[], backends: readonly BackendName[], sizes: readonly AeadSize[],
  rules?: JudgeRules): FacadeRow[] {
  return backends.flatMap((backend) => sizes.map((size): FacadeRow => {
    const measured = (operation: AeadOperation): Measurement => backendRow(cases, aeadCaseId(operation, size)).results[backend];
    const paired = (call: FacadeCall, bare: AeadOperation, label: string): FacadePairing => {
      const row = pairs.find((p) => p.id === facadePairId(call, size));
      if (row === undefined) throw new Error(`report: no paired measurement ${facadePairId(call, size)}`);
      const judgedAs = size === FACADE_TARGET_SIZE ? `${backend} ${label}, ${sizeLabel(size)} (alternating batches, median of rounds)` : null;
      return pairing(measured(call), measured(bare), row.rounds[backend].map((r) => r.ratio), judgedAs, rules);
    };
    return {
      backend,
      size,
      encryptInto: paired('encryptInto', 'seal.bare', 'encryptInto ÷ bare prealloc'),
      encrypt: paired('encrypt', 'seal.bare.alloc', 'encrypt ÷ bare alloc'),
      encryptVsPreallocated: pairing(measured('encrypt'), measured('seal.bare'), roundRatios(measured('encrypt'), measured('seal.bare')), null, rules),
    };
  }));
}

/** Replay-window cases next to the `openSize` decrypt measured with them. */
export function replaySection(cases: readonly Row[], openSize: AeadSize): ReplaySection {
  const openId = aeadCaseId('decrypt', openSize);
  const open = backendRow(cases, openId).results;
  const replayCases = cases.filter((row) => row.id !== openId);
  const openNs = { native: open.native.nsPerOp, js: open.js.nsPerOp };
  const rows = replayCases.map((row): ReplayRow => {
    if (row.kind !== 'shared') throw new Error(`report: replay case ${row.id} should not depend on the backend`);
    const nsPerPacket = row.result.nsPerOp;
    return { id: row.id, label: row.label, nsPerPacket, ofOpen: { native: nsPerPacket / openNs.native, js: nsPerPacket / openNs.js } };
  });
  return { openSize, openNs, cases: replayCases, rows };
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
const verdict = (j: Judgement | null): string => (j === null ? '' : ` ${j.verdict}`);
const ratioCell = (r: number, [low, high]: readonly [number, number], j: Judgement | null): string =>
  `${percent(r)}${low === high ? '' : ` (${percent(low)}–${percent(high)})`}${verdict(j)}`;

/** A plain pipe table; the first column is left-aligned, the rest right-aligned. */
export function table(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${widths.map((w, i) => (i === 0 ? (cells[i] ?? '').padEnd(w) : (cells[i] ?? '').padStart(w))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const bytesCell = (bytes: number): string => `${integer.format(bytes)} B`;
const micros = (us: number): string => (us >= 100 ? integer.format(us) : us.toFixed(1));
const busy = (fraction: number): string => `${(fraction * 100).toFixed(0)}%`;

function capacityLines(network: NetworkReport): string[] {
  const rows = network.capacity;
  const mode = (r: HandshakeCapacity): string => (r.threads === null ? 'default (as bittrrt serve)' : r.threads === 0 ? '0 (socket thread only)' : String(r.threads));
  const body = rows.map((r) => [
    mode(r),
    integer.format(r.count),
    integer.format(r.lanes),
    integer.format(r.perSec),
    `${micros(r.serverCpuUsPerHandshake)} µs`,
    busy(r.serverBusy),
    busy(r.generatorBusy),
    r.coresForTwo.toFixed(2),
    r.unpinned === null ? 'yes' : 'no',
    integer.format(r.run.answered),
    integer.format(r.run.retransmits),
    integer.format(r.run.invalid + r.run.unanswered),
  ]);
  const lines = [
    'Handshake capacity: a load generator (one process) keeps version-2 connects in flight, each with a fresh ephemeral key; ' +
      'once the clock stops it verifies every answer in full (the server\'s key, and its confirmation MAC under the keys the ' +
      'client derives). The server does its whole side: checks, X25519, key schedule, answer, session filed (left half-open). ' +
      'One row per run, each with a fresh server and generator.',
    table(['server handshake threads', 'connects', 'in flight', 'handshakes/s', 'server CPU/handshake', 'server busy',
      'generator busy', 'cores for both', 'pinned', 'answers verified', 'retransmits', 'bad or lost'], body),
  ];
  for (const [i, r] of rows.entries()) {
    if (r.run.firstProblem !== null) lines.push(`  row ${i + 1}: ${r.run.firstProblem}`);
    if (r.problem !== null) lines.push(`  row ${i + 1}: ${r.problem}`);
  }
  const unpinned = [...new Set(rows.flatMap((r) => (r.unpinned === null ? [] : [`${mode(r)}: ${r.unpinned}`])))];
  if (unpinned.length > 0) lines.push(`  not pinned to a core each: ${unpinned.join('; ')}`);
  const inline = rows.filter((r) => r.threads === 0).map((r) => r.perSec);
  if (inline.length > 0) lines.push(`  socket thread only: ${formatSpread(spread(inline), (v) => integer.format(v))} handshakes/s (not judged)`);
  lines.push(formatJudgement(network.capacityJudgement));
  return lines;
}

function handshakeLines(rows: readonly HandshakeThroughput[]): string[] {
  const body = rows.map((r) => [
    r.backend,
    integer.format(r.clients),
    integer.format(r.concurrency),
    integer.format(r.perSec),
    `${micros(r.serverCpuUsPerHandshake)} µs`,
    busy(r.serverBusy),
    busy(r.clientBusy),
    r.coresForTwo.toFixed(2),
    integer.format(r.retransmittedConnects),
    integer.format(r.failed),
  ]);
  const lines = [
    'End to end through the public API: each client connect()s (its own socket, its side of the key agreement), confirms and ' +
      'close()s; all clients in one process. On two cores the clients\' process, not the server, sets this rate.',
    table(['handshakes: connect() + close()', 'clients', 'in flight', 'handshakes/s', 'server CPU/handshake',
      'server busy', 'clients busy', 'cores for both', 'retransmits', 'failed'], body),
  ];
  for (const r of rows) {
    const drops = Object.entries(r.serverDrops).map(([reason, n]) => `${reason} ${n}`).join(', ');
    if (r.firstError !== null) lines.push(`  ${r.backend}: ${r.failed} connect(s) failed, first: ${r.firstError}`);
    if (drops !== '') lines.push(`  ${r.backend}: the server dropped datagrams: ${drops}`);
  }
  return lines;
}

function memoryLines(network: NetworkReport): string[] {
  const m = network.idleMemory;
  const sampleCells = (sample: MemorySample): string => [mib(sample.rss), mib(sample.v8Free), mib(sample.heapUsed + sample.external)].join(' / ');
  const runRow = (run: IdleMemoryRun, i: number): string[] => [
    `run ${i + 1}`,
    sampleCells(run.empty.memory),
    ...run.steps.map((step) => `${integer.format(step.sessions)}: ${sampleCells(step.memory)}`),
    bytesCell(run.perSession.rss),
    `${bytesCell(run.perSession.rssLessFreeHeap)} (${run.perSession.residualPercent.toFixed(1)}%)`,
    bytesCell(run.perSession.heap),
  ];
  const steps = m.runs[0]?.requested ?? [];
  const figure = (label: string, values: readonly number[]): string =>
    (values.length === 0 ? '' : `  ${label}: ${formatSpread(spread(values), bytesCell)}`);
  return [
    'Memory of a fresh server process per run (native, no handshake threads, young generation fixed at its largest, ' +
      'V8\'s memory reducer off); its first clients are the idle sessions, added in steps; each sample after global.gc(), ' +
      `${(m.settleMs / 1000).toFixed(1)} s after the step's last connect (once the server may drop its cached answers). ` +
      'Per session = least-squares slope over the steps. Judged: RSS less the resident V8 heap pages that hold nothing ' +
      'live (v8.getHeapSpaceStatistics: physical − used). How many empty pages V8 keeps is its heap sizing at that moment, ' +
      'not the sessions\' memory: it moved by up to 30 MiB between steps of one run, and the raw RSS slope with it. ' +
      'In brackets: the judged samples\' largest distance from their line, in % of the growth it gives over the steps.',
    table(['idle sessions', 'empty: RSS / V8 free / heap used + ext',
      ...steps.map((n) => `at ${integer.format(n)}: RSS / V8 free / heap used + ext`),
      'RSS per session', 'RSS less V8 free per session (fit)', 'heap used + ext per session'],
    m.runs.map(runRow)),
    figure('RSS per session, V8\'s free pages included (not judged)', m.runs.map((r) => r.perSession.rss)),
    figure('heap used + external per session, the sessions\' objects and buffers (not judged)', m.runs.map((r) => r.perSession.heap)),
    formatJudgement(m.judgement),
  ];
}

function latencyLines(network: NetworkReport): string[] {
  const { latency } = network;
  const row = (label: string, s: LatencySummary): string[] => [label, integer.format(s.count), integer.format(s.perSec),
    micros(s.p50Us), micros(s.p99Us), micros(s.meanUs), micros(s.maxUs), integer.format(s.lost)];
  return [table(['loopback round trips, one native session, sequential', 'round trips', 'per second', 'p50 µs', 'p99 µs',
    'mean µs', 'max µs', 'lost'], [
    row(`encrypted echo, ${latency.payloadBytes} B payload (send → server send → message)`, latency.echo),
    row('session.ping() (heartbeat → ack)', latency.ping),
  ])];
}

function replayLines(replay: ReplaySection): string[] {
  const size = sizeLabel(replay.openSize);
  const byId = new Map(replay.cases.map((row) => [row.id, row]));
  return [table(['replay window, per packet', 'ns/packet', 'packets/s',
    `of a ${size} decrypt, native (${integer.format(replay.openNs.native)} ns)`, `js (${integer.format(replay.openNs.js)} ns)`],
  replay.rows.map((r) => {
    const row = byId.get(r.id);
    return [r.label, r.nsPerPacket.toFixed(1), row?.kind === 'shared' ? ops(row.result) : '', percent(r.ofOpen.native), percent(r.ofOpen.js)];
  }))];
}

function networkLines(network: NetworkReport): string[] {
  return [
    'Sessions over loopback UDP: server and clients in separate worker processes (so each can have a core), ' +
      `public API only except the load generator, heartbeats every ${network.heartbeatMs / 1000} s, handshake rate limits raised to ${network.rateLimit.toExponential(0)}/s ` +
      `(so the server's capacity is measured, not its admission policy); load average ${network.loadAverage.toFixed(2)} at start`,
    ...capacityLines(network),
    '',
    ...handshakeLines(network.handshakes),
    '',
    ...memoryLines(network),
    '',
    ...latencyLines(network),
  ];
}

const secondsPerGb = (s: number): string => s.toFixed(2);
const isTransferRun = (r: ThroughputResult): r is TransferRun => 'retransmitPercent' in r;

/** Median of one figure over the runs, with its range when there are several. */
function medianCell(values: readonly number[], format: (v: number) => string): string {
  const s = spread(values);
  return values.length === 1 ? format(s.median) : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

function transferLines(transfer: TransferReport, cores: number): string[] {
  const { config, runs, judgements } = transfer;
  const kinds: ReadonlyArray<readonly [string, (set: TransferSet) => ThroughputResult]> = [
    ['(a)', (t) => t.rawUdp], ['(b′)', (t) => t.bittrrtDgram], ['(b)', (t) => t.bittrrt], ['(c)', (t) => t.tls],
    ['(d)', (t) => t.viaProxy.noLoss], ['(d)', (t) => t.viaProxy.loss1], ['(d)', (t) => t.viaProxy.loss5], ['(e)', (t) => t.udx],
  ];
  const last = runs[runs.length - 1];
  if (last === undefined) return ['File transfer: no run.'];
  const body = kinds.map(([tag, pick]) => {
    const all = runs.map(pick);
    const latest = pick(last);
    return [
      `${tag} ${latest.name}`,
      mib(latest.bytes),
      medianCell(all.map((r) => r.mbPerSec), (v) => v.toFixed(1)),
      secondsPerGb(median(all.map((r) => r.cpuPerGb.sender))),
      secondsPerGb(median(all.map((r) => r.cpuPerGb.receiver))),
      mib(Math.max(...all.map((r) => r.peakRss.sender))),
      mib(Math.max(...all.map((r) => r.peakRss.receiver))),
      isTransferRun(latest) ? `${median(all.map((r) => (isTransferRun(r) ? r.retransmitPercent : 0))).toFixed(2)}%` : '—',
    ];
  });
  const ratioRow = (label: string, name: RatioName, j: Judgement | null): string[] => {
    const values = runs.map((r) => r.ratios[name]);
    return [label, `${medianCell(values, percent)}${verdict(j)}`, j === null ? '' : `≥ ${percent(j.goal.target)}`];
  };
  const ratioRows = [
    ratioRow('b/a: bittrrt ÷ raw UDP ceiling', 'bittrrtOfRawUdp', judgements.bittrrtOfRawUdp),
    ratioRow('b/b′: native datagram path ÷ node:dgram path', 'nativeOfDgram', judgements.nativeOfDgram),
    ratioRow('b/c: bittrrt ÷ TLS 1.3', 'bittrrtOfTls', judgements.bittrrtOfTls),
    ratioRow('b/e: bittrrt ÷ udx-native', 'bittrrtOfUdx', null),
    ratioRow('1% loss ÷ 0% loss, both through the proxy', 'loss1OfNoLoss', judgements.loss1OfNoLoss),
    ratioRow('5% loss ÷ 0% loss, both through the proxy', 'loss5OfNoLoss', null),
    ratioRow(`1% loss (${mib(config.lossBytes)}, proxy) ÷ b (${mib(config.bytes)}, direct)`, 'loss1OfDirect', null),
  ];
  return [
    `File transfer on loopback, ${runs.length} run(s): each end in a forked process of its own, the impairment proxy in a third; ` +
      `(a)–(c) and (e) move ${mib(config.bytes)}, the proxy runs (d) a ${mib(config.lossBytes)} file (5% loss is slow), ` +
      `dropping that share of the datagrams each way from a fixed seed; ${config.datagramBytes}-byte datagrams; ` +
      `load average ${transfer.loadAverage.toFixed(2)} at start`,
    '  MB/s = 1e6 bytes delivered per second, timed by the receiver: first to last datagram (a), first to last byte (c, e), ' +
      'offer accepted to SHA-256 checked and file in place (bittrrt, which also writes the file; a, c and e write nothing). ' +
      'Median over the runs (min–max); CPU: medians; peak RSS: the highest. Not pinned: the proxy runs have three busy ' +
      'processes, and the ratios compare runs made under the same conditions.',
    table(['file transfer on loopback', 'delivered', 'MB/s', 'CPU s/GB sender', 'CPU s/GB receiver', 'peak RSS sender',
      'peak RSS receiver', 'resent'], body),
    ...kinds.map(([tag, pick]) => `  ${tag} ${pick(last).name}: ${pick(last).note ?? ''}`),
    table(['ratio of MB/s, within each run; median (min–max)', 'value', 'goal'], ratioRows),
    formatJudgement(judgements.bittrrtOfRawUdp),
    formatJudgement(judgements.bittrrtOfTls),
    judgements.nativeOfDgram === null ? 'No verdict on the native path: the addon is not built, both uploads ran on node:dgram.' : formatJudgement(judgements.nativeOfDgram),
    `${formatJudgement(judgements.loss1OfNoLoss)} (judged against the 0% run through the same proxy, which pays the proxy's cost too)`,
    `Absolute numbers are noisy on this ${cores}-core machine (the proxy runs put three busy processes on it, and other work ` +
      'may run too); the ratios compare runs from the same bench run.',
  ];
}

function cryptoLines(crypto: CryptoSection, config: BenchConfig): string[] {
  const main = table(['case', 'native ops/s', 'js ops/s', 'native/js'], crypto.cases.map((row) => row.kind === 'backend'
    ? [row.label, ops(row.results.native), ops(row.results.js), ratio(row.nativeOverJs)]
    : [`${row.label} [both]`, ops(row.result), '(same code)', '—']));

  const cell = (p: FacadePairing): string => ratioCell(p.ratio, p.range, p.judgement);
  const facade = table(
    ['facade vs bare', 'bare prealloc ops/s', 'encryptInto ops/s', 'encryptInto ÷ bare prealloc',
      'bare alloc ops/s', 'encrypt ops/s', 'encrypt ÷ bare alloc', 'encrypt ÷ bare prealloc (info)'],
    crypto.facade.rows.map((r) => [
      `${r.backend} ${sizeLabel(r.size)}`,
      integer.format(r.encryptInto.bareOpsPerSec),
      integer.format(r.encryptInto.facadeOpsPerSec),
      cell(r.encryptInto),
      integer.format(r.encrypt.bareOpsPerSec),
      integer.format(r.encrypt.facadeOpsPerSec),
      cell(r.encrypt),
      cell(r.encryptVsPreallocated),
    ]));
  const judged = crypto.facade.rows.flatMap((r) => [r.encryptInto.judgement, r.encrypt.judgement])
    .filter((j): j is Judgement => j !== null);

  const noisy = crypto.cases.flatMap((row) => (row.kind === 'backend'
    ? BACKEND_NAMES.filter((b) => isNoisy(row.results[b])).map((b) => `${row.label} [${b}]`)
    : isNoisy(row.result) ? [row.label] : []));
  const warning = noisy.length === 0 ? [] : [
    `NOTE: rounds differed by more than ±${NOISY_SPREAD_PERCENT}% for ${noisy.length} case(s): ${noisy.join('; ')}. ` +
      `The rounds of one case run seconds apart, so whatever else takes the CPU meanwhile (other work, a VM's steal time, ` +
      `GC-heavy code) enters their spread: a run at load average 0.00 on the shared 2-core VM still had 30 cases beyond ±15%. ` +
      'Nothing is judged on these rows: the judged facade ratios are timed in alternating batches (below). Read those rows, ' +
      'and the informational ratios built on them, with care.',
    '',
  ];

  const fernet = table(['Fernet decode, same token', 'ops/s', 'vs npm fernet'],
    crypto.fernet.map((r) => [r.label, integer.format(r.opsPerSec), ratio(r.vsNpmFernet)]));
  return [
    ...warning,
    main,
    '',
    `Facade overhead (target at ${sizeLabel(crypto.facade.targetSize)}: each CommEncryptor call ≥ ${percent(crypto.facade.target)} of the ops/s of ` +
      `the bare calls doing the same job; other sizes informational). The ratios of encryptInto and encrypt are timed apart from ` +
      `the table: the two calls in alternating ~${config.batchMs} ms batches, each round the median of its alternations' ratios, ` +
      'so load that comes and goes hits both alike; the ops/s columns are the table\'s',
    '  encryptInto ÷ bare prealloc: randomFill + aeadSeal into one reused buffer, through views made once',
    '  encrypt ÷ bare alloc: Buffer.allocUnsafe(n + 28) per message, then randomFill into its nonce view + aeadSeal',
    '  encrypt ÷ bare prealloc (info, not judged): the cost of allocating the output, as the old pairing showed it',
    facade,
    ...judged.map((j) => formatJudgement(j)),
    '',
    fernet,
  ];
}

export function formatText(report: Report): string {
  const { machine, config } = report;
  const libs = Object.entries(machine.libraries).map(([k, v]) => `${k} ${v}`).join(', ');
  const head = [
    `bittrrt benchmarks (${report.mode}; sections: ${report.sections.join(', ')}; crypto: ${config.timeMs} ms per case and backend ` +
      `in ${config.rounds} interleaved round(s), ${config.warmupMs} ms warmup each, ~${config.batchMs} ms batches; ` +
      `judged network figures: ${report.repeat} run(s) each, fresh processes)`,
    `CPU:  ${machine.cpu} (${machine.cores} cores)`,
    `Node: ${machine.node} on ${machine.os} (load average ${machine.loadAverage.toFixed(2)} at start)`,
    `Libs: ${libs}`,
    (config.rounds > 1
      ? `ops/s = median of ${config.rounds} rounds (each: calls / measured time); ± = half the spread between rounds; `
      : 'ops/s = calls / measured time; ± = 95% margin of error of the mean; ') +
      'native/js = native ops/s ÷ js ops/s',
    'Verdicts: from the median of the runs; INCONCLUSIVE when a run gave an impossible value, fewer than 3 runs, ' +
      'or runs more than ±15% apart.',
  ].join('\n');
  const sections = [
    head,
    report.crypto === null ? null : cryptoLines(report.crypto, config).join('\n'),
    report.network === null ? null : networkLines(report.network).join('\n'),
    report.replay === null ? null : replayLines(report.replay).join('\n'),
    report.transfer === null ? null : transferLines(report.transfer, machine.cores).join('\n'),
    ['Verdicts:', ...report.judgements.map((j) => `  ${formatJudgement(j)}`)].join('\n'),
    `Total bench time: ${report.elapsedSeconds.toFixed(1)} s`,
  ];
  return sections.filter((x): x is string => x !== null).join('\n\n');
}
