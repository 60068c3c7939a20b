/**
 * Bulk throughput on loopback, each run between forked processes (baseline-worker.ts, forked through
 * worker-process.ts), so each end
 * has a core and its own CPU time and peak RSS:
 *
 *   rawUdpCeiling  unencrypted datagrams of bittrrt's size through node:dgram, no acknowledgement,
 *                  no retransmission: what Node moves over UDP at best (losses are reported, not repaired)
 *   tlsBaseline    the same bytes over TLS 1.3 on TCP with node:tls: what a secure, reliable stream costs
 *   bittrrtUpload  a file uploaded to a bittrrt server, directly or through the impairment proxy (a
 *                  third process) dropping a share of the datagrams
 *   udxBaseline    the same bytes over one udx-native stream: reliable, congestion-controlled UDP in
 *                  native code, unencrypted
 *
 * Every run has a deadline, and its workers are stopped (then killed if need be) when it ends,
 * whether it succeeded or threw.
 */
import { createSocket } from 'node:dgram';
import type { DatagramIoStats, DatagramPath } from '../lib/index.js';
import { MAX_DATAGRAM } from '../lib/constants.js';
import type { ImpairmentStats } from '../test/helpers/impair.js';
import type {
  BaselineJob, BaselineReport, BaselineRole, BittrrtClientReport, BittrrtServerReport, CommonReport, FromBaselineWorker, ImpairmentProxyReport, ToBaselineWorker,
  UdpReceiverReport, UdpSenderReport, UdxSenderReport,
} from './baseline-worker.js';
import { errorText, isRecord, WorkerProcess } from './worker-process.js';

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

/* ---------------- a run's deadline ---------------- */

interface Deadline {
  /** Rejects when the deadline passes; raced against every wait of the run. */
  readonly expired: Promise<never>;
  clear(): void;
}

function startDeadline(ms: number): Deadline {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${ms} ms`)), ms);
  });
  // Nobody may be waiting at the moment it fires (between two waits); that must not count as unhandled.
  expired.catch(() => undefined);
  return { expired, clear: () => clearTimeout(timer) };
}

/* ---------------- one worker, seen from the parent ---------------- */

type Kind = FromBaselineWorker['kind'];
type MessageOf<K extends Kind> = Extract<FromBaselineWorker, { kind: K }>;
type JobOf<R extends BaselineRole> = Extract<BaselineJob, { role: R }>;
type ReportOf<R extends BaselineRole> = Extract<BaselineReport, { role: R }>;

function isFromWorker(value: unknown): value is FromBaselineWorker {
  if (!isRecord(value)) return false;
  switch (value.kind) {
    case 'ready':
      return true;
    case 'listening':
      return typeof value.port === 'number';
    case 'done':
      return isRecord(value.report) && typeof value.report.role === 'string';
    case 'failure':
      return typeof value.error === 'string';
    default:
      return false;
  }
}

const hasKind = <K extends Kind>(message: FromBaselineWorker, kind: K): message is MessageOf<K> => message.kind === kind;
const hasRole = <R extends BaselineRole>(report: BaselineReport, role: R): report is ReportOf<R> => report.role === role;

interface Waiter {
  resolve(message: FromBaselineWorker): void;
  reject(err: Error): void;
}

/**
 * A forked baseline worker playing `role`. Its messages arrive in a fixed order (ready, listening
 * for a receiving role, then done or failure), so the parent reads them as a queue.
 */
class BaselineChild<R extends BaselineRole> {
  readonly role: R;
  readonly #process: WorkerProcess;
  readonly #inbox: FromBaselineWorker[] = [];
  #waiter: Waiter | null = null;

  constructor(role: R) {
    this.role = role;
    this.#process = new WorkerProcess('./baseline-worker.js', role, {
      onExit: (status) => this.#failWaiter(new Error(`${role} worker exited (${status})`)),
      onError: (err) => this.#deliver({ kind: 'failure', error: err.message }),
      onMessage: (message) => {
        if (isFromWorker(message)) this.#deliver(message);
      },
    });
  }

  start(job: JobOf<R>): void {
    this.#post({ kind: 'start', job }, 'its job');
  }

  /** Asks a role that runs until told (the proxy) to finish and report. */
  requestStop(): void {
    this.#post({ kind: 'stop' }, 'stop');
  }

  /** The next message, which must be of `kind`; a failure report, an early exit or the deadline rejects. */
  async expect<K extends Kind>(kind: K, deadline: Deadline): Promise<MessageOf<K>> {
    const message = await Promise.race([this.#next(), deadline.expired]);
    if (message.kind === 'failure') throw new Error(`${this.role} worker: ${message.error}`);
    if (!hasKind(message, kind)) throw new Error(`${this.role} worker: expected ${kind}, got ${message.kind}`);
    return message;
  }

  async report(deadline: Deadline): Promise<ReportOf<R>> {
    const { report } = await this.expect('done', deadline);
    if (!hasRole(report, this.role)) throw new Error(`${this.role} worker reported as ${report.role}`);
    return report;
  }

  /** Disconnects (the worker exits on that); kills it if it lingers. */
  stop(): Promise<void> {
    return this.#process.stop(() => this.#process.disconnect());
  }

  #post(message: ToBaselineWorker, what: string): void {
    this.#process.post(message, (err) => this.#deliver({ kind: 'failure', error: `cannot send ${what}: ${err.message}` }));
  }

  #next(): Promise<FromBaselineWorker> {
    const queued = this.#inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    const exited = this.#process.exitStatus;
    if (exited !== null) return Promise.reject(new Error(`${this.role} worker has exited (${exited})`));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #deliver(message: FromBaselineWorker): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter === null) this.#inbox.push(message);
    else waiter.resolve(message);
  }

  #failWaiter(err: Error): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(err);
  }
}

/** What a run does with each of its workers, whatever its role (BaselineChild is invariant in its role). */
interface RunWorker {
  expect(kind: 'ready', deadline: Deadline): Promise<unknown>;
  stop(): Promise<void>;
}

/** One run's workers, all under the run's deadline. */
interface Run {
  readonly deadline: Deadline;
  /** Forks a worker for `role`; it is stopped when the run ends. */
  spawn<R extends BaselineRole>(role: R): BaselineChild<R>;
  /** Waits until every worker spawned since the last call is up (they start in parallel). */
  ready(): Promise<void>;
}

/**
 * Runs `body` under one deadline; every worker it spawns is stopped afterwards, even on error.
 */
async function withWorkers<T>(name: string, body: (run: Run) => Promise<T>): Promise<T> {
  const deadline = startDeadline(RUN_DEADLINE_MS);
  const children: RunWorker[] = [];
  // `ready` is a worker's first message: each worker's must be read exactly once.
  const starting: RunWorker[] = [];
  const run: Run = {
    deadline,
    spawn: (role) => {
      const child = new BaselineChild(role);
      children.push(child);
      starting.push(child);
      return child;
    },
    ready: async () => {
      await Promise.all(starting.splice(0).map((child) => child.expect('ready', deadline)));
    },
  };
  try {
    return await body(run);
  } catch (err) {
    throw new Error(`${name}: ${errorText(err)}`, { cause: err });
  } finally {
    deadline.clear();
    await Promise.all(children.map((child) => child.stop()));
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

function udpNote(sent: UdpSenderReport, received: UdpReceiverReport): string {
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
  return withWorkers(name, async ({ spawn, ready, deadline }) => {
    const receiver = spawn('udp-receiver');
    const sender = spawn('udp-sender');
    await ready();
    receiver.start({ role: 'udp-receiver', idleMs: UDP_IDLE_MS });
    const { port } = await receiver.expect('listening', deadline);
    sender.start({ role: 'udp-sender', port, bytes: options.bytes, datagramBytes: options.datagramBytes, inFlight: UDP_IN_FLIGHT });
    const [sent, received] = await Promise.all([sender.report(deadline), receiver.report(deadline)]);
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
  return withWorkers(name, async ({ spawn, ready, deadline }) => {
    const server = spawn('tls-server');
    const client = spawn('tls-client');
    await ready();
    server.start({ role: 'tls-server' });
    const { port } = await server.expect('listening', deadline);
    client.start({ role: 'tls-client', port, bytes: options.bytes, chunkBytes: TLS_CHUNK_BYTES });
    const [sent, received] = await Promise.all([client.report(deadline), server.report(deadline)]);
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

function udxNote(sent: UdxSenderReport): string {
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
  return withWorkers(name, async ({ spawn, ready, deadline }) => {
    const receiver = spawn('udx-receiver');
    const sender = spawn('udx-sender');
    await ready();
    const bindPort = await freeUdpPort();
    receiver.start({ role: 'udx-receiver', peerPort: bindPort });
    const { port } = await receiver.expect('listening', deadline);
    sender.start({ role: 'udx-sender', port, bindPort, bytes: options.bytes, chunkBytes: UDX_CHUNK_BYTES });
    const [sent, received] = await Promise.all([sender.report(deadline), receiver.report(deadline)]);
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

function proxyCost(drop: number, report: ImpairmentProxyReport, deliveredBytes: number): ProxyCost {
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

function uploadNote(sent: BittrrtClientReport, received: BittrrtServerReport, proxy: ProxyCost | null): string {
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
  return withWorkers(name, async ({ spawn, ready, deadline }) => {
    const server = spawn('bittrrt-server');
    const client = spawn('bittrrt-client');
    const impairment = drop === undefined ? null : { drop, proxy: spawn('impairment-proxy') };
    await ready();
    server.start({ role: 'bittrrt-server', dir: options.inbox, datagramPath });
    let { port } = await server.expect('listening', deadline);
    if (impairment !== null) {
      impairment.proxy.start({ role: 'impairment-proxy', serverPort: port, seed: options.seed ?? 0, drop: impairment.drop });
      ({ port } = await impairment.proxy.expect('listening', deadline));
    }
    client.start({ role: 'bittrrt-client', port, path: options.path, datagramPath });
    const [sent, received] = await Promise.all([client.report(deadline), server.report(deadline)]);
    if (received.bytes !== options.bytes) throw new Error(`server received ${received.bytes} of ${options.bytes} bytes`);
    let cost: ProxyCost | null = null;
    if (impairment !== null) {
      impairment.proxy.requestStop();
      cost = proxyCost(impairment.drop, await impairment.proxy.report(deadline), received.bytes);
    }
    return {
      ...throughput(name, sent, received, uploadNote(sent, received, cost)),
      retransmitPercent: percentOf(sent.retransmits, sent.packets),
      srttMs: sent.srttMs,
      minRttMs: sent.minRttMs,
      proxy: cost,
    };
  });
}
