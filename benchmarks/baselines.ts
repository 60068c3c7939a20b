/**
 * Bulk throughput on loopback, each run between forked processes (baseline-worker.ts, forked through
 * worker-process.ts), so each end has a core and its own CPU time and peak RSS:
 *
 *   rawUdpCeiling  unencrypted datagrams of bittrrt's size through node:dgram, no acknowledgement,
 *                  no retransmission: what Node moves over UDP at best (losses are reported, not repaired)
 *   tlsBaseline    the same bytes over TLS 1.3 on TCP with node:tls: what a secure, reliable stream costs
 *   bittrrtUpload  a file uploaded to a bittrrt server, directly or through the impairment proxy (a
 *                  third process) dropping a share of the datagrams
 *   udxBaseline    the same bytes over one udx-native stream: reliable, congestion-controlled UDP in
 *                  native code, unencrypted
 *
 * Every call to a worker has a deadline, and a run's workers are stopped (then killed if need be)
 * when it ends, whether it succeeded or threw.
 */
import { createSocket } from 'node:dgram';
import type { DatagramIoStats, DatagramPath } from '../lib/index.js';
import { MAX_DATAGRAM } from '../lib/constants.js';
import type { ImpairmentStats } from '../test/helpers/impair.js';
import type { BaselineApi, BaselineJob, BaselineReport, BaselineRole, CommonReport, ReportOf } from './baseline-worker.js';
import { errorText, withWorkers, type Worker } from './worker-process.js';

export interface ThroughputResult {
  name: string;              // 'raw UDP (dgram)', 'TLS 1.3 over TCP (node:tls)'
  bytes: number;             // bytes delivered to the receiver
  seconds: number;
  mbPerSec: number;          // 1e6 bytes per second, delivered
  /** CPU seconds per GB (1e9 bytes) delivered, for each side. */
  cpuPerGb: { sender: number; receiver: number };
  peakRss: { sender: number; receiver: number }; // bytes
  note?: string;             // e.g. "12.3% of datagrams lost in the socket buffer", or the TLS cipher
}

/** What the impairment proxy did and cost, in its own process. */
export interface ProxyCost {
  /** The drop probability it applied, in each direction. */
  drop: number;
  /** CPU seconds of the proxy per GB delivered to the receiver. */
  cpuPerGb: number;
  peakRss: number;           // bytes
  toServer: ImpairmentStats;
  toClient: ImpairmentStats;
}

/** A bittrrt upload: its throughput, and what the sender and the proxy (if any) saw. */
export interface TransferRun extends ThroughputResult {
  /** Retransmitted data datagrams, in percent of all the sender sent. */
  retransmitPercent: number;
  srttMs: number | null;
  minRttMs: number | null;
  /** Null for a direct upload. */
  proxy: ProxyCost | null;
}

/** Far above a healthy run (a 256 MiB transfer takes seconds, 64 MiB at 5% loss a few more), and below the workers' own 2-minute lifetime. */
const RUN_DEADLINE_MS = 90_000;
/** Enough sends in flight to keep the socket busy, few enough that the queue stays small. */
const UDP_IN_FLIGHT = 256;
const UDP_IDLE_MS = 500;
const TLS_CHUNK_BYTES = 64 * 1024;

/* ---------------- a run's workers ---------------- */

type BaselineWorker = Worker<BaselineApi>;

/** Starts `job` on its worker; resolves with its port once it listens (a receiving role, the proxy). */
async function listen(worker: BaselineWorker, job: BaselineJob): Promise<number> {
  const { port } = await worker.call('start', job, RUN_DEADLINE_MS);
  if (port === null) throw new Error(`${job.role} worker finished without listening`);
  return port;
}

const hasRole = <R extends BaselineRole>(report: BaselineReport, role: R): report is Extract<BaselineReport, { role: R }> => report.role === role;

/** The report of the worker started as `role` (its name), once its job ends. */
async function reportOf<R extends BaselineRole>(worker: BaselineWorker, role: R): Promise<Extract<BaselineReport, { role: R }>> {
  const report = await worker.call('report', {}, RUN_DEADLINE_MS);
  if (!hasRole(report, role)) throw new Error(`${worker.name} worker reported as ${report.role}`);
  return report;
}

/**
 * Starts a worker per role, in parallel, and runs `body` with them (and a way to start more);
 * every one is stopped afterwards, even on error.
 */
async function withBaselineWorkers<const Roles extends readonly BaselineRole[], T>(name: string, roles: Roles,
  body: (workers: { readonly [K in keyof Roles]: BaselineWorker }, start: (role: BaselineRole) => Promise<BaselineWorker>) => Promise<T>): Promise<T> {
  try {
    return await withWorkers<BaselineApi, T>('./baseline-worker.js', async (start) => {
      const workers = await Promise.all(roles.map((role) => start(role)));
      // One worker per role, in the roles' order.
      return body(workers as { readonly [K in keyof Roles]: BaselineWorker }, start);
    });
  } catch (err) {
    throw new Error(`${name}: ${errorText(err)}`, { cause: err });
  }
}

/* ---------------- results ---------------- */

function checkCount(what: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new RangeError(`${what} must be an integer from 1 to ${max}, got ${value}`);
}

/** Rates per delivered byte, timed on the receiving side (first byte in to last byte in). */
function throughput(name: string, sender: CommonReport, receiver: CommonReport, note: string): ThroughputResult {
  const seconds = receiver.elapsedMs / 1000;
  if (!(seconds > 0) || receiver.bytes === 0) throw new Error(`${receiver.bytes} bytes delivered in ${seconds} s, nothing to time`);
  const gigabytes = receiver.bytes / 1e9;
  return {
    name,
    bytes: receiver.bytes,
    seconds,
    mbPerSec: receiver.bytes / 1e6 / seconds,
    cpuPerGb: { sender: sender.cpuMicros / 1e6 / gigabytes, receiver: receiver.cpuMicros / 1e6 / gigabytes },
    peakRss: { sender: sender.peakRssBytes, receiver: receiver.peakRssBytes },
    note,
  };
}

function udpNote(sent: ReportOf<'udp-sender'>, received: ReportOf<'udp-receiver'>): string {
  const lost = sent.datagrams === 0 ? 0 : (1 - received.datagrams / sent.datagrams) * 100;
  const parts = [
    `${lost.toFixed(1)}% of datagrams lost in the socket buffer (${sent.datagrams} sent, ${received.datagrams} received, `
      + `SO_RCVBUF ${Math.round(received.recvBufferBytes / 1024)} KiB)`,
  ];
  if (sent.sendErrors > 0) parts.push(`${sent.sendErrors} sends failed (${sent.firstSendError ?? 'unknown error'})`);
  if (received.endedBy === 'idle') parts.push(`no end marker arrived; the receiver stopped after ${UDP_IDLE_MS} ms idle`);
  return parts.join('; ');
}

/* ---------------- the baselines ---------------- */

/**
 * The raw ceiling: `bytes` in `datagramBytes` unencrypted datagrams from one process to another
 * through node:dgram, as fast as the sender can go. Nothing is acknowledged or resent, so what the
 * receiver's socket buffer drops is simply missing: throughput counts delivered bytes only.
 */
export async function rawUdpCeiling(options: { bytes: number; datagramBytes: number }): Promise<ThroughputResult> {
  const name = 'raw UDP (dgram)';
  checkCount('bytes', options.bytes);
  checkCount('datagramBytes', options.datagramBytes, MAX_DATAGRAM);
  return withBaselineWorkers(name, ['udp-receiver', 'udp-sender'], async ([receiver, sender]) => {
    const port = await listen(receiver, { role: 'udp-receiver', idleMs: UDP_IDLE_MS });
    await sender.call('start', { role: 'udp-sender', port, bytes: options.bytes, datagramBytes: options.datagramBytes, inFlight: UDP_IN_FLIGHT }, RUN_DEADLINE_MS);
    const [sent, received] = await Promise.all([reportOf(sender, 'udp-sender'), reportOf(receiver, 'udp-receiver')]);
    return throughput(name, sent, received, udpNote(sent, received));
  });
}

/**
 * The same bytes over TLS 1.3 on TCP with node:tls: a client verifying the bench certificate
 * writes them in 64 KiB chunks, with backpressure, to a server that reads them all.
 */
export async function tlsBaseline(options: { bytes: number }): Promise<ThroughputResult> {
  const name = 'TLS 1.3 over TCP (node:tls)';
  checkCount('bytes', options.bytes);
  return withBaselineWorkers(name, ['tls-server', 'tls-client'], async ([server, client]) => {
    const port = await listen(server, { role: 'tls-server' });
    await client.call('start', { role: 'tls-client', port, bytes: options.bytes, chunkBytes: TLS_CHUNK_BYTES }, RUN_DEADLINE_MS);
    const [sent, received] = await Promise.all([reportOf(client, 'tls-client'), reportOf(server, 'tls-server')]);
    // TCP loses nothing: a shortfall is a bug in the worker, not a result.
    if (received.bytes !== options.bytes) throw new Error(`server read ${received.bytes} of ${options.bytes} bytes`);
    return throughput(name, sent, received, `${received.protocol}, ${received.cipher}`);
  });
}

/* ---------------- udx-native ---------------- */

const UDX_CHUNK_BYTES = 64 * 1024;

/** A loopback UDP port that is free now: bound, noted, closed (the sender binds it a moment later). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', resolve);
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function udxNote(sent: ReportOf<'udx-sender'>): string {
  return `${sent.retransmits} of ${sent.packets} packets resent (${percentOf(sent.retransmits, sent.packets).toFixed(2)}%)`;
}

/**
 * The same bytes over one udx-native stream: the sender writes them in 64 KiB chunks with
 * backpressure; the receiver counts them until the sender ends the stream. udx streams are
 * addressed by socket and id on both sides, so the parent picks the sender's port up front.
 */
export async function udxBaseline(options: { bytes: number }): Promise<ThroughputResult> {
  const name = 'udx-native stream (no encryption)';
  checkCount('bytes', options.bytes);
  return withBaselineWorkers(name, ['udx-receiver', 'udx-sender'], async ([receiver, sender]) => {
    const bindPort = await freeUdpPort();
    const port = await listen(receiver, { role: 'udx-receiver', peerPort: bindPort });
    await sender.call('start', { role: 'udx-sender', port, bindPort, bytes: options.bytes, chunkBytes: UDX_CHUNK_BYTES }, RUN_DEADLINE_MS);
    const [sent, received] = await Promise.all([reportOf(sender, 'udx-sender'), reportOf(receiver, 'udx-receiver')]);
    // udx is reliable: a shortfall is a bug in the worker, not a result.
    if (received.bytes !== options.bytes) throw new Error(`receiver got ${received.bytes} of ${options.bytes} bytes`);
    return throughput(name, sent, received, udxNote(sent));
  });
}

/* ---------------- bittrrt ---------------- */

const percentOf = (part: number, whole: number): number => (whole === 0 ? 0 : (part / whole) * 100);
const dropLabel = (drop: number): string => `${+(drop * 100).toFixed(2)}%`;

function directionNote(label: string, stats: ImpairmentStats): string {
  return `${percentOf(stats.dropped, stats.received).toFixed(2)}% ${label} (${stats.dropped} of ${stats.received})`;
}

function proxyCost(drop: number, report: ReportOf<'impairment-proxy'>, deliveredBytes: number): ProxyCost {
  return {
    drop,
    cpuPerGb: report.cpuMicros / 1e6 / (deliveredBytes / 1e9),
    peakRss: report.peakRssBytes,
    toServer: report.toServer,
    toClient: report.toClient,
  };
}

/** The datagram path and its batches: datagrams per send call (the sender) and per receive batch (the receiver). */
export function ioNote(sent: DatagramIoStats | null, received: DatagramIoStats | null): string {
  if (sent === null || received === null) return 'datagram path unknown';
  if (sent.path === 'dgram' && received.path === 'dgram') return 'node:dgram, one datagram per system call';
  const per = (n: number, calls: number): string => (calls === 0 ? 'n/a' : (n / calls).toFixed(1));
  return `${sent.path} → ${received.path}: ${per(sent.datagramsSent, sent.sendCalls)} datagrams per send call (GSO ${sent.gso ? 'on' : 'off'}), `
    + `${per(received.datagramsReceived, received.receiveBatches)} per receive batch (GRO ${received.gro ? 'on' : 'off'})`
    + `${sent.sendDrops > 0 ? `, ${sent.sendDrops} refused by a full send buffer` : ''}`;
}

function uploadNote(sent: ReportOf<'bittrrt-client'>, received: ReportOf<'bittrrt-server'>, proxy: ProxyCost | null): string {
  const rtt = (ms: number | null): string => (ms === null ? 'n/a' : `${ms.toFixed(2)} ms`);
  const parts = [`${ioNote(sent.io, received.io)}; ${sent.retransmits} of ${sent.packets} data datagrams resent; srtt ${rtt(sent.srttMs)}, min RTT ${rtt(sent.minRttMs)}`];
  if (proxy !== null) {
    parts.push(`proxy dropped ${directionNote('to the server', proxy.toServer)} and ${directionNote('to the client', proxy.toClient)}; `
      + `its CPU ${proxy.cpuPerGb.toFixed(2)} s/GB, peak RSS ${(proxy.peakRss / 2 ** 20).toFixed(0)} MiB`);
  }
  return parts.join('; ');
}

/**
 * Uploads the file at `path` (`bytes` long) from a bittrrt client to a bittrrt server storing into
 * `inbox`, timed by the server (offer accepted to hash checked and file in place). With `drop`,
 * the client talks to an impairment proxy in a third process that drops that share of the
 * datagrams each way, from a fixed seed so every run meets the same losses.
 */
export async function bittrrtUpload(options: { path: string; bytes: number; inbox: string; drop?: number; seed?: number; datagramPath: DatagramPath }): Promise<TransferRun> {
  const { drop, datagramPath } = options;
  const name = `${drop === undefined ? 'bittrrt upload, direct' : `bittrrt upload via proxy, ${dropLabel(drop)} loss`}, ${datagramPath === 'native' ? 'native' : 'dgram'}`;
  checkCount('bytes', options.bytes);
  if (drop !== undefined && !(drop >= 0 && drop <= 1)) throw new RangeError(`drop must be a probability in 0..1, got ${drop}`);
  return withBaselineWorkers(name, ['bittrrt-server', 'bittrrt-client'], async ([server, client], start) => {
    let port = await listen(server, { role: 'bittrrt-server', dir: options.inbox, datagramPath });
    const impairment = drop === undefined ? null : { drop, proxy: await start('impairment-proxy') };
    if (impairment !== null) {
      port = await listen(impairment.proxy, { role: 'impairment-proxy', serverPort: port, seed: options.seed ?? 0, drop: impairment.drop });
    }
    await client.call('start', { role: 'bittrrt-client', port, path: options.path, datagramPath }, RUN_DEADLINE_MS);
    const [sent, received] = await Promise.all([reportOf(client, 'bittrrt-client'), reportOf(server, 'bittrrt-server')]);
    if (received.bytes !== options.bytes) throw new Error(`server received ${received.bytes} of ${options.bytes} bytes`);
    const cost = impairment === null ? null
      : proxyCost(impairment.drop, await reportOf(impairment.proxy, 'impairment-proxy'), received.bytes);
    return {
      ...throughput(name, sent, received, uploadNote(sent, received, cost)),
      retransmitPercent: percentOf(sent.retransmits, sent.packets),
      srttMs: sent.srttMs,
      minRttMs: sent.minRttMs,
      proxy: cost,
    };
  });
}
