import { readFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aeadCaseId, FACADE_TARGET_SIZE, sizeLabel, type AeadOperation, type AeadSize } from './crypto.js';
import { BACKEND_NAMES, type BackendName, type BackendRow, type BenchConfig, type Measurement, type Row, type SharedRow } from './harness.js';
import type { LatencySummary, MemorySample } from './session-rpc.js';
import type { ThroughputResult, TransferRun } from './baselines.js';
import type { HandshakeCapacity, HandshakeThroughput, NetworkReport } from './sessions.js';
import type { TransferRatio, TransferReport } from './transfer.js';

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

/** A CommEncryptor call against the bare library calls that do the same job. */
export interface FacadePairing {
  readonly bareOpsPerSec: number;
  readonly facadeOpsPerSec: number;
  /** facade ops/s ÷ bare ops/s. */
  readonly ratio: number;
  /** Lowest and highest ratio seen in a single round (equal with one round). */
  readonly range: readonly [number, number];
  /** Judged only at the target size, and never for the informational pairing; null otherwise. */
  readonly pass: boolean | null;
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

export interface Report {
  readonly machine: MachineInfo;
  readonly mode: 'default' | 'quick';
  readonly config: BenchConfig;
  readonly elapsedSeconds: number;
  readonly cases: readonly Row[];
  readonly facade: { readonly target: number; readonly targetSize: number; readonly rows: readonly FacadeRow[] };
  readonly fernet: readonly FernetRow[];
  readonly sessions: SessionsSection;
  /** File transfer on loopback against raw UDP and TLS; null when skipped with --no-net. */
  readonly transfer: TransferReport | null;
}

/** The replay window's cost per packet next to an AEAD open of the same packet size. */
export interface ReplayRow {
  readonly id: string;
  readonly label: string;
  readonly nsPerPacket: number;
  /** nsPerPacket ÷ the ns of one CommEncryptor.decrypt of `openSize` bytes, per backend. */
  readonly ofOpen: Readonly<Record<BackendName, number>>;
}

export interface SessionsSection {
  /** The loopback UDP benchmarks; null when skipped with --no-net. */
  readonly network: NetworkReport | null;
  readonly replay: {
    readonly openSize: number;
    /** ns per CommEncryptor.decrypt of openSize bytes (verify + open), from the crypto cases. */
    readonly openNs: Readonly<Record<BackendName, number>>;
    readonly cases: readonly Row[];
    readonly rows: readonly ReplayRow[];
  };
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

function pairing(facade: Measurement, bare: Measurement, judged: boolean): FacadePairing {
  const ratio = facade.opsPerSec / bare.opsPerSec;
  return {
    bareOpsPerSec: bare.opsPerSec,
    facadeOpsPerSec: facade.opsPerSec,
    ratio,
    range: roundRatioRange(facade, bare),
    pass: judged ? ratio >= FACADE_TARGET : null,
  };
}

/** Facade ÷ bare for every backend and size, from the measurements already in the main table. */
export function facadeRows(cases: readonly Row[], backends: readonly BackendName[], sizes: readonly AeadSize[]): FacadeRow[] {
  return backends.flatMap((backend) => sizes.map((size): FacadeRow => {
    const measured = (operation: AeadOperation): Measurement => backendRow(cases, aeadCaseId(operation, size)).results[backend];
    const judged = size === FACADE_TARGET_SIZE;
    return {
      backend,
      size,
      encryptInto: pairing(measured('encryptInto'), measured('seal.bare'), judged),
      encrypt: pairing(measured('encrypt'), measured('seal.bare.alloc'), judged),
      encryptVsPreallocated: pairing(measured('encrypt'), measured('seal.bare'), false),
    };
  }));
}

/** Replay-window cases next to the `openSize` decrypt measured in the crypto section. */
export function replaySection(cryptoCases: readonly Row[], replayCases: readonly Row[], openSize: AeadSize): SessionsSection['replay'] {
  const open = backendRow(cryptoCases, aeadCaseId('decrypt', openSize)).results;
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

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const bytesCell = (bytes: number): string => `${integer.format(bytes)} B`;
const micros = (us: number): string => (us >= 100 ? integer.format(us) : us.toFixed(1));
const busy = (fraction: number): string => `${(fraction * 100).toFixed(0)}%`;

function capacityLines(rows: readonly HandshakeCapacity[]): string[] {
  const mode = (r: HandshakeCapacity): string => (r.threads === null ? 'default (as bittrrt serve)' : r.threads === 0 ? '0 (socket thread only)' : String(r.threads));
  const body = rows.map((r) => [
    mode(r),
    integer.format(r.count),
    integer.format(r.lanes),
    `${integer.format(r.perSec)}${verdict(r.pass)}`,
    `${micros(r.serverCpuUsPerHandshake)} µs`,
    busy(r.serverBusy),
    busy(r.generatorBusy),
    r.coresForTwo.toFixed(2),
    integer.format(r.run.answered),
    integer.format(r.run.retransmits),
    integer.format(r.run.invalid + r.run.unanswered),
  ]);
  const lines = [
    'Handshake capacity: a load generator (one process) keeps version-2 connects in flight, each with a fresh ephemeral key; ' +
      'once the clock stops it verifies every answer in full (the server\'s key, and its confirmation MAC under the keys the ' +
      'client derives). The server does its whole side: checks, X25519, key schedule, answer, session filed (left half-open).',
    table(['server handshake threads', 'connects', 'in flight', 'handshakes/s', 'server CPU/handshake', 'server busy',
      'generator busy', 'cores for both', 'answers verified', 'retransmits', 'bad or lost'], body),
  ];
  for (const r of rows) {
    const drops = Object.entries(r.serverDrops).map(([reason, n]) => `${reason} ${n}`).join(', ');
    if (r.run.firstProblem !== null) lines.push(`  ${mode(r)}: ${r.run.firstProblem}`);
    if (drops !== '') lines.push(`  ${mode(r)}: the server dropped datagrams: ${drops}`);
    if (r.target === null) continue;
    const inline = rows.find((other) => other.threads === 0);
    const ratio = inline === undefined ? '' : `; ${(r.perSec / inline.perSec).toFixed(2)}× the socket thread alone in this run`;
    lines.push(`Target: ≥ ${integer.format(r.target)} handshakes/s:${verdict(r.pass)} (${integer.format(r.perSec)}/s over ` +
      `${r.wallSeconds.toFixed(2)} s${ratio}).`);
  }
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

/** Below this many sessions, V8's stepwise heap growth swamps the per-session RSS figure. */
const STEADY_RSS_SESSIONS = 10_000;

function memoryLines(network: NetworkReport): string[] {
  const m = network.idleMemory;
  const few = m.requested < STEADY_RSS_SESSIONS ? ` With fewer than ${integer.format(STEADY_RSS_SESSIONS)} sessions the RSS figure ` +
    'is mostly V8 heap-growth steps (see heap total): judge on a default run.' : '';
  const cells = (sample: MemorySample): string[] => [mib(sample.rss), mib(sample.heapTotal), mib(sample.heapUsed), mib(sample.external)];
  const body = [
    [`before (after ${integer.format(m.warmup)} connect + close)`, integer.format(m.sessionsBefore), ...cells(m.before)],
    [`after ${integer.format(m.requested)} idle sessions`, integer.format(m.sessions), ...cells(m.after)],
    ['per idle session', '', `${bytesCell(m.perSession.rss)}${verdict(m.pass)}`, bytesCell(m.perSession.heapTotal),
      bytesCell(m.perSession.heapUsed), bytesCell(m.perSession.external)],
  ];
  const incomplete = m.sessions === m.requested ? '' : ` Only ${integer.format(m.sessions)} of ${integer.format(m.requested)} sessions were live ` +
    `(${integer.format(m.failed)} connects failed), so this does not count.`;
  return [
    `Memory of the server's process (native, no handshake threads, young generation fixed at its largest and V8's memory reducer off, ` +
      `so V8 gives nothing back between the samples: an upper bound), ${m.collected ? 'after global.gc()' : 'WITHOUT gc (no --expose-gc)'}; ` +
      `"after" sampled ${(m.settleMs / 1000).toFixed(1)} s after the last connect, once the server may drop its cached answers`,
    table(['idle sessions', 'sessions', 'RSS', 'heap total', 'heap used', 'external'], body),
    `Target: < ${integer.format(m.target)} B (${(m.target / 1024).toFixed(0)} KiB) of RSS per idle session:${verdict(m.pass)} ` +
      `(${bytesCell(m.perSession.rss)} RSS; heap used ${bytesCell(m.perSession.heapUsed)} + external ${bytesCell(m.perSession.external)} ` +
      `= ${bytesCell(m.perSession.heapUsed + m.perSession.external)}).${incomplete}${few}`,
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

function replayLines(replay: SessionsSection['replay']): string[] {
  const size = sizeLabel(replay.openSize);
  const byId = new Map(replay.cases.map((row) => [row.id, row]));
  return [table(['replay window, per packet', 'ns/packet', 'packets/s',
    `of a ${size} decrypt, native (${integer.format(replay.openNs.native)} ns)`, `js (${integer.format(replay.openNs.js)} ns)`],
  replay.rows.map((r) => {
    const row = byId.get(r.id);
    return [r.label, r.nsPerPacket.toFixed(1), row?.kind === 'shared' ? ops(row.result) : '', percent(r.ofOpen.native), percent(r.ofOpen.js)];
  }))];
}

function sessionLines(sessions: SessionsSection): string[] {
  const { network } = sessions;
  const networkLines = network === null
    ? ['Loopback UDP session benchmarks skipped (--no-net).']
    : [
      'Sessions over loopback UDP: server and clients in separate worker processes (so each can have a core), ' +
        `public API only except the load generator, heartbeats every ${network.heartbeatMs / 1000} s, handshake rate limits raised to ${network.rateLimit.toExponential(0)}/s ` +
        `(so the server's capacity is measured, not its admission policy); load average ${network.loadAverage.toFixed(2)} at start`,
      ...capacityLines(network.capacity),
      '',
      ...handshakeLines(network.handshakes),
      '',
      ...memoryLines(network),
      '',
      ...latencyLines(network),
    ];
  return [...networkLines, '', ...replayLines(sessions.replay)];
}

const mbPerSec = (r: ThroughputResult): string => r.mbPerSec.toFixed(1);
const secondsPerGb = (s: number): string => s.toFixed(2);
const isTransferRun = (r: ThroughputResult): r is TransferRun => 'retransmitPercent' in r;

function transferLines(transfer: TransferReport | null, cores: number): string[] {
  if (transfer === null) return ['File transfer benchmarks skipped (--no-net).'];
  const { config, viaProxy, ratios } = transfer;
  const runs: ReadonlyArray<readonly [string, ThroughputResult]> = [
    ['(a)', transfer.rawUdp], ['(b)', transfer.bittrrt], ['(c)', transfer.tls],
    ['(d)', viaProxy.noLoss], ['(d)', viaProxy.loss1], ['(d)', viaProxy.loss5],
  ];
  const body = runs.map(([tag, r]) => [
    `${tag} ${r.name}`,
    mib(r.bytes),
    mbPerSec(r),
    secondsPerGb(r.cpuPerGb.sender),
    secondsPerGb(r.cpuPerGb.receiver),
    mib(r.peakRss.sender),
    mib(r.peakRss.receiver),
    isTransferRun(r) ? `${r.retransmitPercent.toFixed(2)}%` : '—',
  ]);
  const cell = (r: TransferRatio): string => `${percent(r.value)}${verdict(r.pass)}`;
  const goal = (r: TransferRatio): string => (r.goal === null ? '' : `≥ ${percent(r.goal)}`);
  const ratioRows = [
    ['b/a: bittrrt ÷ raw UDP ceiling', cell(ratios.bittrrtOfRawUdp), goal(ratios.bittrrtOfRawUdp)],
    ['b/c: bittrrt ÷ TLS 1.3', cell(ratios.bittrrtOfTls), goal(ratios.bittrrtOfTls)],
    ['1% loss ÷ 0% loss, both through the proxy', cell(ratios.loss1OfNoLoss), goal(ratios.loss1OfNoLoss)],
    ['5% loss ÷ 0% loss, both through the proxy', cell(ratios.loss5OfNoLoss), goal(ratios.loss5OfNoLoss)],
    [`1% loss (${mib(config.lossBytes)}, proxy) ÷ b (${mib(config.bytes)}, direct)`, cell(ratios.loss1OfDirect), goal(ratios.loss1OfDirect)],
  ];
  return [
    'File transfer on loopback: each end in a forked process of its own, the impairment proxy in a third; ' +
      `(a)–(c) move ${mib(config.bytes)}, the proxy runs (d) a ${mib(config.lossBytes)} file (5% loss is slow), ` +
      `dropping that share of the datagrams each way from a fixed seed; ${config.datagramBytes}-byte datagrams; ` +
      `load average ${transfer.loadAverage.toFixed(2)} at start`,
    '  MB/s = 1e6 bytes delivered per second, timed by the receiver: first to last datagram (a), first to last byte (c), ' +
      'offer accepted to SHA-256 checked and file in place (bittrrt, which also writes the file; a and c write nothing)',
    table(['file transfer on loopback', 'delivered', 'MB/s', 'CPU s/GB sender', 'CPU s/GB receiver', 'peak RSS sender',
      'peak RSS receiver', 'resent'], body),
    ...runs.map(([tag, r]) => `  ${tag} ${r.name}: ${r.note ?? ''}`),
    table(['ratio of MB/s, same run', 'value', 'goal'], ratioRows),
    `Goals: bittrrt ≥ ${percent(ratios.bittrrtOfRawUdp.goal)} of the raw UDP ceiling:${verdict(ratios.bittrrtOfRawUdp.pass)} ` +
      `(${percent(ratios.bittrrtOfRawUdp.value)}); at 1% loss ≥ ${percent(ratios.loss1OfNoLoss.goal)} of its no-loss rate ` +
      `(judged against the 0% run through the same proxy, which pays the proxy's cost too):${verdict(ratios.loss1OfNoLoss.pass)} ` +
      `(${percent(ratios.loss1OfNoLoss.value)}).`,
    `Absolute numbers are noisy on this ${cores}-core machine (the proxy runs put three busy processes on it, and other work ` +
      'may run too); the ratios compare runs from the same bench run.',
  ];
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

  const cell = (p: FacadePairing): string => ratioCell(p.ratio, p.range, p.pass);
  const facade = table(
    ['facade vs bare', 'bare prealloc ops/s', 'encryptInto ops/s', 'encryptInto ÷ bare prealloc',
      'bare alloc ops/s', 'encrypt ops/s', 'encrypt ÷ bare alloc', 'encrypt ÷ bare prealloc (info)'],
    report.facade.rows.map((r) => [
      `${r.backend} ${sizeLabel(r.size)}`,
      integer.format(r.encryptInto.bareOpsPerSec),
      integer.format(r.encryptInto.facadeOpsPerSec),
      cell(r.encryptInto),
      integer.format(r.encrypt.bareOpsPerSec),
      integer.format(r.encrypt.facadeOpsPerSec),
      cell(r.encrypt),
      cell(r.encryptVsPreallocated),
    ]));
  const summary = report.facade.rows.filter((r) => r.encrypt.pass !== null).map((r) =>
    `${r.backend}: encryptInto ÷ bare prealloc ${percent(r.encryptInto.ratio)}${verdict(r.encryptInto.pass)}, ` +
      `encrypt ÷ bare alloc ${percent(r.encrypt.ratio)}${verdict(r.encrypt.pass)}`)
    .join('; ');

  const noisy = [...report.cases, ...report.sessions.replay.cases].flatMap((row) => (row.kind === 'backend'
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
    `Facade overhead (target at ${sizeLabel(report.facade.targetSize)}: each CommEncryptor call ≥ ${percent(report.facade.target)} of the ops/s of ` +
      'the bare calls doing the same job; other sizes informational)',
    '  encryptInto ÷ bare prealloc: randomFill + aeadSeal into one reused buffer, through views made once',
    '  encrypt ÷ bare alloc: Buffer.allocUnsafe(n + 28) per message, then randomFill into its nonce view + aeadSeal',
    '  encrypt ÷ bare prealloc (info, not judged): the cost of allocating the output, as the old pairing showed it',
    facade,
    `Target at ${sizeLabel(report.facade.targetSize)}: ${summary}`,
    '',
    fernet,
    '',
    ...sessionLines(report.sessions),
    '',
    ...transferLines(report.transfer, machine.cores),
    '',
    `Total bench time: ${report.elapsedSeconds.toFixed(1)} s`,
  ].join('\n');
}
