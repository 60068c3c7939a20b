/**
 * A throughput worker, forked by baselines.ts from dist/benchmarks/baseline-worker.js (never run by
 * hand): one end of a bulk transfer over loopback, or the impairment proxy between two ends, in a
 * process of its own so each gets a core and its CPU time and peak RSS are its own.
 *
 *   udp-receiver      binds 127.0.0.1:0, counts the datagrams that arrive until an end marker (or an idle gap)
 *   udp-sender        blasts fixed-size datagrams at it, a bounded number of sends in flight
 *   tls-server        TLS 1.3 on 127.0.0.1:0, counts the plaintext bytes of one connection until it ends
 *   tls-client        verifies the server against the bench certificate and writes the bytes with backpressure
 *   bittrrt-server    a bittrrt server on 127.0.0.1:0 taking uploads into a directory; reports the first
 *                     upload that finishes, deletes the file, and keeps serving until stopped
 *   bittrrt-client    connects (version 2 only) and uploads one file
 *   impairment-proxy  the test suite's ImpairmentProxy in front of a server, dropping datagrams; runs until `stop`
 *   udx-receiver      one udx-native stream (reliable, congestion-controlled UDP, no encryption) on 127.0.0.1:0,
 *                     connected to the sender's port; counts the bytes until the sender ends the stream
 *   udx-sender        binds the port the receiver expects and writes the bytes into its stream with backpressure
 *
 * The TLS certificate and key are throwaway benchmark-only fixtures (benchmarks/fixtures/README.md).
 *
 * It answers BaselineApi's two operations through worker-process.ts: `start` (one job per worker)
 * and `report`. It exits when asked, when the parent goes away, and after MAX_LIFETIME_MS at most.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { TransferResult } from '../lib/transfer/endpoint.js';
import type { ImpairmentStats } from '../test/helpers/impair.js';
import { BENCH_RATE_LIMITS } from './session-rpc.js';
import { cpuMicros, serveRequests, sleep } from './worker-process.js';
import { closeUdxEnd, openUdxEnd, receiveAll, sendAll } from './udx-stream.js';
import type { DatagramIoStats, DatagramPath } from '../lib/index.js';

/* ---------------- protocol (shared with baselines.ts, which imports the types only) ---------------- */

/** Each role's job: what the parent sends it with `start`, besides its role. */
interface Jobs {
  'udp-receiver': {
    /** Stop this long after the last datagram when no end marker arrives (they can be lost too). */
    readonly idleMs: number;
  };
  'udp-sender': {
    readonly port: number;
    /** Total payload bytes: full datagrams, then one shorter datagram for the remainder. */
    readonly bytes: number;
    readonly datagramBytes: number;
    /** Sends whose callback has not run yet, at most. */
    readonly inFlight: number;
  };
  'tls-server': object;
  'tls-client': { readonly port: number; readonly bytes: number; readonly chunkBytes: number };
  'bittrrt-server': {
    /** Where uploads go; the benchmark's temporary directory, removed by the parent. */
    readonly dir: string;
    readonly datagramPath: DatagramPath;
  };
  'bittrrt-client': {
    /** The server's port, or the proxy's. */
    readonly port: number;
    readonly path: string;
    readonly datagramPath: DatagramPath;
  };
  'impairment-proxy': {
    readonly serverPort: number;
    /** Seed of the proxy's PRNG: the same seed drops the same datagrams of the same traffic. */
    readonly seed: number;
    /** Probability 0..1 that a datagram is dropped, in each direction. */
    readonly drop: number;
  };
  // udx streams are addressed by socket and id on both sides: each end must know the other's port before data flows.
  'udx-receiver': {
    /** The port the sender will bind (the parent picked a free one). */
    readonly peerPort: number;
  };
  'udx-sender': { readonly port: number; readonly bindPort: number; readonly bytes: number; readonly chunkBytes: number };
}

export type BaselineRole = keyof Jobs;
export type JobOf<R extends BaselineRole> = { readonly role: R } & Jobs[R];
export type BaselineJob = { [R in BaselineRole]: JobOf<R> }[BaselineRole];

/** What every role but the proxy measures of itself. */
export interface CommonReport {
  /** Payload bytes sent (a sender) or received (a receiver). */
  readonly bytes: number;
  /** A receiver: first byte in to last byte in. A sender: first byte out to the last send completing (UDP) or the server closing (TLS). */
  readonly elapsedMs: number;
  /** User + system CPU time of this process from the start of its job to its report, in microseconds. */
  readonly cpuMicros: number;
  /** Peak resident set size of this process over its life, in bytes. */
  readonly peakRssBytes: number;
}

interface TlsReport extends CommonReport {
  /** Negotiated protocol and cipher suite, as this end saw them. */
  readonly protocol: string;
  readonly cipher: string;
}

/** Each role's report, besides its role. */
interface Reports {
  'udp-receiver': CommonReport & {
    readonly datagrams: number;
    /** SO_RCVBUF as the kernel granted it (Linux reports twice the size asked for, its bookkeeping overhead included). */
    readonly recvBufferBytes: number;
    readonly endedBy: 'marker' | 'idle';
  };
  'udp-sender': CommonReport & {
    /** Datagrams whose send completed without error. */
    readonly datagrams: number;
    readonly sendErrors: number;
    readonly firstSendError: string | null;
  };
  'tls-server': TlsReport;
  'tls-client': TlsReport;
  'bittrrt-server': CommonReport & { readonly io: DatagramIoStats | null };
  'bittrrt-client': CommonReport & {
    /** Data datagrams sent, retransmissions included, and how many were retransmissions. */
    readonly packets: number;
    readonly retransmits: number;
    /** Smoothed and minimum RTT at the end of the upload, in ms (null without a sample). */
    readonly srttMs: number | null;
    readonly minRttMs: number | null;
    readonly io: DatagramIoStats | null;
  };
  /** The proxy carries no payload of its own: only its cost and what it did to each direction. */
  'impairment-proxy': Pick<CommonReport, 'cpuMicros' | 'peakRssBytes'> & { readonly toServer: ImpairmentStats; readonly toClient: ImpairmentStats };
  'udx-receiver': CommonReport;
  'udx-sender': CommonReport & {
    /** Packets udx sent, retransmissions included, and how many were retransmissions. */
    readonly packets: number;
    readonly retransmits: number;
  };
}

export type ReportOf<R extends BaselineRole> = { readonly role: R } & Reports[R];
export type BaselineReport = { [R in BaselineRole]: ReportOf<R> }[BaselineRole];

/** The operations a baseline worker answers (worker-process.ts). */
export interface BaselineApi {
  /**
   * Starts the worker's one job: answers with its port once a receiving role (or the proxy)
   * listens, or with null once a sending role is done.
   */
  start: [BaselineJob, { readonly port: number | null }];
  /** The job's report once it ends; the proxy ends when asked this (it cannot tell by itself when the transfer through it is over). */
  report: [Record<string, never>, BaselineReport];
}

/* ---------------- measurement ---------------- */

const MAX_LIFETIME_MS = 2 * 60_000;
const LOOPBACK = '127.0.0.1';
/** Asked for; Linux silently caps it at net.core.rmem_max, other systems may refuse it outright. */
const WANTED_RECV_BUFFER = 8 * 1024 * 1024;
/** End markers after the data, spaced out so a receive buffer still full of data has drained before the next one. */
const END_MARKERS = 5;
const END_MARKER_GAP_MS = 20;
/** First byte of every datagram: data, or the sender's end marker (data datagrams are zero-filled). */
const KIND_DATA = 0;
const KIND_END = 1;
const IDLE_CHECK_MS = 50;
/** Datagrams queued between two turns of the sender's event loop (a few ms of sending). */
const YIELD_EVERY = 4096;

const TLS_CERT_URL = new URL('../../benchmarks/fixtures/tls-bench-cert.pem', import.meta.url);
const TLS_KEY_URL = new URL('../../benchmarks/fixtures/tls-bench-key.pem', import.meta.url);

/** maxRSS is in KiB. */
const peakRssBytes = (): number => process.resourceUsage().maxRSS * 1024;

/** CPU and peak RSS since `cpuStart`, the parts of a report every role fills alike. */
function usageSince(cpuStart: number): Pick<CommonReport, 'cpuMicros' | 'peakRssBytes'> {
  return { cpuMicros: cpuMicros() - cpuStart, peakRssBytes: peakRssBytes() };
}

/** Tells the parent the port a receiving role (or the proxy) listens on: the answer to `start`. */
let listening: (port: number) => void = () => undefined;

/* ---------------- UDP ---------------- */

async function bindReceiver(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, LOOPBACK, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    socket.setRecvBufferSize(WANTED_RECV_BUFFER);
  } catch {
    // Refused outright (not Linux): the default buffer will do, and the report shows its size.
  }
  return socket;
}

async function udpReceiver(job: JobOf<'udp-receiver'>): Promise<ReportOf<'udp-receiver'>> {
  const cpuStart = cpuMicros();
  const socket = await bindReceiver();
  let bytes = 0;
  let datagrams = 0;
  let firstAt = 0;
  let lastAt = 0;
  const endedBy = await new Promise<'marker' | 'idle'>((resolve, reject) => {
    // One interval rather than a timer re-armed per datagram: ~200k re-arms would cost the receiver CPU we are measuring.
    const idleCheck = setInterval(() => {
      if (datagrams === 0 || performance.now() - lastAt <= job.idleMs) return;
      // Timers run before the poll phase: after a stall of this process, datagrams may be waiting
      // in the socket. Confirm after the next poll (setImmediate runs after it) that none came.
      const seen = datagrams;
      setImmediate(() => {
        if (datagrams === seen) finish('idle');
      });
    }, IDLE_CHECK_MS);
    const finish = (how: 'marker' | 'idle'): void => {
      clearInterval(idleCheck);
      resolve(how);
    };
    socket.on('error', (err) => {
      clearInterval(idleCheck);
      reject(err);
    });
    socket.on('message', (message) => {
      if (message[0] === KIND_END) {
        finish('marker');
        return;
      }
      const now = performance.now();
      if (datagrams === 0) firstAt = now;
      lastAt = now;
      datagrams++;
      bytes += message.length;
    });
    listening(socket.address().port);
  });
  const recvBufferBytes = socket.getRecvBufferSize();
  socket.close();
  return { role: 'udp-receiver', bytes, elapsedMs: lastAt - firstAt, datagrams, recvBufferBytes, endedBy, ...usageSince(cpuStart) };
}

interface Blasted {
  readonly datagrams: number;
  readonly bytes: number;
  readonly sendErrors: number;
  readonly firstSendError: string | null;
}

/**
 * Sends `bytes` in `datagramBytes` datagrams as fast as the socket takes them, with at most
 * `inFlight` sends outstanding: a synchronous loop would queue every datagram in libuv at once
 * (memory in proportion to the transfer) and measure the queueing rather than the sending.
 */
function blast(socket: dgram.Socket, job: JobOf<'udp-sender'>): Promise<Blasted> {
  // All data datagrams share one zero-filled buffer: its content never changes, so sends in flight may share it.
  const full = Buffer.alloc(job.datagramBytes, KIND_DATA);
  const fullCount = Math.floor(job.bytes / job.datagramBytes);
  const tail = full.subarray(0, job.bytes % job.datagramBytes);
  const total = fullCount + (tail.length > 0 ? 1 : 0);
  let queued = 0;
  let inFlight = 0;
  let datagrams = 0;
  let bytes = 0;
  let sendErrors = 0;
  let firstSendError: string | null = null;
  let nextYield = YIELD_EVERY;
  let yielding = false;
  return new Promise((resolve) => {
    const resume = (): void => {
      yielding = false;
      pump();
    };
    const pump = (): void => {
      if (yielding) return;
      while (inFlight < job.inFlight && queued < total) {
        // A send the kernel takes at once completes on process.nextTick, so the send/callback chain
        // alone would never let the event loop turn: no IPC, no disconnect, no lifetime timer
        // until the end. Step out to the event loop every so often.
        if (queued >= nextYield) {
          nextYield += YIELD_EVERY;
          yielding = true;
          setImmediate(resume);
          return;
        }
        const last = queued === fullCount;
        queued++;
        inFlight++;
        socket.send(last ? tail : full, last ? onTailSent : onFullSent);
      }
      if (inFlight === 0 && queued === total) resolve({ datagrams, bytes, sendErrors, firstSendError });
    };
    const settle = (err: Error | null, length: number): void => {
      inFlight--;
      if (err === null) {
        datagrams++;
        bytes += length;
      } else {
        sendErrors++;
        firstSendError ??= err.message;
      }
      pump();
    };
    // Two fixed callbacks rather than a closure per datagram, which would add garbage to the measurement.
    const onFullSent = (err: Error | null): void => settle(err, full.length);
    const onTailSent = (err: Error | null): void => settle(err, tail.length);
    pump();
  });
}

async function connectSender(port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  // A connected socket skips the per-send address lookup: this is the ceiling, so take the fastest path.
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, LOOPBACK, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // Once the receiver has closed, the kernel answers late end markers with ICMP port unreachable,
  // reported on a connected socket as ECONNREFUSED; send callbacks count real send failures.
  socket.on('error', () => undefined);
  return socket;
}

async function udpSender(job: JobOf<'udp-sender'>): Promise<ReportOf<'udp-sender'>> {
  const cpuStart = cpuMicros();
  const socket = await connectSender(job.port);
  const start = performance.now();
  const sent = await blast(socket, job);
  const elapsedMs = performance.now() - start;
  const marker = Buffer.of(KIND_END);
  for (let i = 0; i < END_MARKERS; i++) {
    // Errors are expected once the receiver has stopped on an earlier marker.
    socket.send(marker, () => undefined);
    await sleep(END_MARKER_GAP_MS);
  }
  socket.close();
  return { role: 'udp-sender', ...sent, elapsedMs, ...usageSince(cpuStart) };
}

/* ---------------- TLS ---------------- */

const cipherOf = (socket: tls.TLSSocket): string => socket.getCipher()?.standardName ?? 'unknown';

async function tlsServer(): Promise<ReportOf<'tls-server'>> {
  const cpuStart = cpuMicros();
  const server = tls.createServer({ key: readFileSync(TLS_KEY_URL), cert: readFileSync(TLS_CERT_URL), minVersion: 'TLSv1.3' });
  const connection = new Promise<tls.TLSSocket>((resolve, reject) => {
    server.once('secureConnection', (socket) => {
      // One connection per run: stop accepting, the open one carries on.
      server.close();
      resolve(socket);
    });
    server.once('tlsClientError', reject);
    server.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('TLS server has no TCP address');
  listening(address.port);

  const socket = await connection;
  let bytes = 0;
  let firstAt = 0;
  let lastAt = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (bytes === 0) firstAt = now;
      lastAt = now;
      bytes += chunk.length;
    });
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  const report: ReportOf<'tls-server'> = {
    role: 'tls-server', bytes, elapsedMs: lastAt - firstAt, protocol: socket.getProtocol() ?? 'unknown', cipher: cipherOf(socket),
    ...usageSince(cpuStart),
  };
  socket.end();
  return report;
}

/** Writes `bytes` in `chunkBytes` chunks, waiting for 'drain' whenever write() says the buffer is full. */
async function writeAll(socket: tls.TLSSocket, bytes: number, chunkBytes: number): Promise<void> {
  const chunk = Buffer.alloc(chunkBytes, 0x5a);
  let failure: Error | null = null;
  socket.once('error', (err) => {
    failure = err;
  });
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (failure !== null) throw failure;
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    if (!socket.write(piece)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          socket.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          socket.off('drain', onDrain);
          reject(failure ?? new Error('TLS connection closed while writing'));
        };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    }
  }
}

async function tlsClient(job: JobOf<'tls-client'>): Promise<ReportOf<'tls-client'>> {
  const cpuStart = cpuMicros();
  // Real verification: the bench certificate is the only trusted CA, and its name must match.
  const socket = tls.connect({ host: LOOPBACK, port: job.port, servername: 'localhost', ca: readFileSync(TLS_CERT_URL) });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  // Session tickets arrive after the handshake; keep reading so they never hold up the connection.
  socket.resume();
  const closed = new Promise<void>((resolve, reject) => {
    socket.once('close', (hadError) => (hadError ? reject(new Error('TLS connection closed with an error')) : resolve()));
  });
  // Awaited only after the writes; a failed write throws first, and this rejection must not then go unhandled.
  closed.catch(() => undefined);
  const start = performance.now();
  await writeAll(socket, job.bytes, job.chunkBytes);
  socket.end();
  // The server closes once it has read everything: only then are the bytes delivered.
  await closed;
  const elapsedMs = performance.now() - start;
  return {
    role: 'tls-client', bytes: job.bytes, elapsedMs, protocol: socket.getProtocol() ?? 'unknown', cipher: cipherOf(socket),
    ...usageSince(cpuStart),
  };
}

/* ---------------- bittrrt ---------------- */

// The library and the proxy are imported by the roles that use them only, so the UDP and TLS ends'
// peak RSS is Node's alone; each role imports before it starts its CPU clock, so loading is not counted.

async function bittrrtServer(job: JobOf<'bittrrt-server'>): Promise<ReportOf<'bittrrt-server'>> {
  const { createServer } = await import('../lib/index.js');
  const cpuStart = cpuMicros();
  const server = createServer({ files: { dir: job.dir }, rateLimits: BENCH_RATE_LIMITS, datagramPath: job.datagramPath });
  const finished = new Promise<TransferResult>((resolve, reject) => {
    server.on('transfer', (event) => {
      if (event.kind === 'finished') resolve(event.result);
      else if (event.kind === 'failed') reject(new Error(`the upload of ${event.name} failed on the server: ${event.reason}`));
    });
    server.on('error', reject);
  });
  // Awaited only once listening; an error before that must not count as unhandled.
  finished.catch(() => undefined);
  const { port } = await server.listen(0, LOOPBACK);
  listening(port);
  const result = await finished;
  // Measured before the file goes: unlinking it is the file system's work, not the transfer's.
  const usage = usageSince(cpuStart);
  await rm(join(job.dir, result.name), { force: true });
  // The server stays up until the parent disconnects: our `result` answer may be lost on a lossy
  // link, and the client's repeated `done` must still get an answer.
  return { role: 'bittrrt-server', bytes: result.size - result.offset, elapsedMs: result.seconds * 1000, io: server.ioStats() ?? null, ...usage };
}

async function bittrrtClient(job: JobOf<'bittrrt-client'>): Promise<ReportOf<'bittrrt-client'>> {
  const [{ connect }, { TransferEndpoint }] = await Promise.all([import('../lib/index.js'), import('../lib/transfer/endpoint.js')]);
  const cpuStart = cpuMicros();
  const session = await connect({ host: LOOPBACK, port: job.port, allowSeed: false, datagramPath: job.datagramPath });
  try {
    const result = await new TransferEndpoint(session).upload(job.path);
    const { packets, retransmits, srtt, minRtt } = result.stats;
    return {
      role: 'bittrrt-client', bytes: result.size - result.offset, elapsedMs: result.seconds * 1000,
      packets, retransmits, srttMs: srtt, minRttMs: minRtt, io: session.ioStats() ?? null, ...usageSince(cpuStart),
    };
  } finally {
    session.close();
  }
}

/** Resolved by the parent's `report`: the proxy cannot tell by itself when the transfer through it is over. */
let requestStop: () => void = () => undefined;
const stopRequested = new Promise<void>((resolve) => {
  requestStop = resolve;
});

async function impairmentProxy(job: JobOf<'impairment-proxy'>): Promise<ReportOf<'impairment-proxy'>> {
  const { ImpairmentProxy } = await import('../test/helpers/impair.js');
  const cpuStart = cpuMicros();
  const proxy = await ImpairmentProxy.start(job.serverPort, { seed: job.seed, drop: job.drop });
  try {
    listening(proxy.port);
    await stopRequested;
    return { role: 'impairment-proxy', toServer: { ...proxy.toServer }, toClient: { ...proxy.toClient }, ...usageSince(cpuStart) };
  } finally {
    await proxy.close();
  }
}

/* ---------------- udx-native ---------------- */

async function udxReceiver(job: JobOf<'udx-receiver'>): Promise<ReportOf<'udx-receiver'>> {
  const end = await openUdxEnd('receiver', { host: LOOPBACK, port: 0 }, { host: LOOPBACK, port: job.peerPort });
  const cpuStart = cpuMicros();
  const received = receiveAll(end.stream, MAX_LIFETIME_MS);
  listening(end.socket.address().port);
  const { bytes, elapsedMs, ended } = await received;
  if (!ended) throw new Error(`the sender did not end the stream (${bytes} bytes received)`);
  const report: ReportOf<'udx-receiver'> = { role: 'udx-receiver', bytes, elapsedMs, ...usageSince(cpuStart) };
  await closeUdxEnd(end);
  return report;
}

async function udxSender(job: JobOf<'udx-sender'>): Promise<ReportOf<'udx-sender'>> {
  const end = await openUdxEnd('sender', { host: LOOPBACK, port: job.bindPort }, { host: LOOPBACK, port: job.port });
  const cpuStart = cpuMicros();
  const start = performance.now();
  const bytes = await sendAll(end.stream, job.chunkBytes, (written) => job.bytes - written);
  const report: ReportOf<'udx-sender'> = {
    role: 'udx-sender', bytes, elapsedMs: performance.now() - start, packets: end.stream.packetsTransmitted, retransmits: end.stream.retransmits,
    ...usageSince(cpuStart),
  };
  await closeUdxEnd(end);
  return report;
}

/* ---------------- the worker ---------------- */

function run(job: BaselineJob): Promise<BaselineReport> {
  switch (job.role) {
    case 'udp-receiver':
      return udpReceiver(job);
    case 'udp-sender':
      return udpSender(job);
    case 'tls-server':
      return tlsServer();
    case 'tls-client':
      return tlsClient(job);
    case 'bittrrt-server':
      return bittrrtServer(job);
    case 'bittrrt-client':
      return bittrrtClient(job);
    case 'impairment-proxy':
      return impairmentProxy(job);
    case 'udx-receiver':
      return udxReceiver(job);
    case 'udx-sender':
      return udxSender(job);
  }
}

let job: Promise<BaselineReport> | null = null;

function start(params: BaselineJob): Promise<{ port: number | null }> {
  if (job !== null) return Promise.reject(new Error('this worker already runs a job'));
  const listens = new Promise<number>((resolve) => {
    listening = resolve;
  });
  job = run(params);
  return Promise.race([listens.then((port) => ({ port })), job.then(() => ({ port: null }))]);
}

function report(): Promise<BaselineReport> {
  requestStop();
  return job ?? Promise.reject(new Error('no job was started'));
}

serveRequests<BaselineApi>('baseline-worker', MAX_LIFETIME_MS, { start, report }, (code) => process.exit(code));
