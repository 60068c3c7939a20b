/**
 * A session-benchmark worker, forked by session-rpc.ts through worker-process.ts (never run by hand): a bittrrt server, or
 * a crowd of clients, in a process of its own, so that server and clients each get a core and
 * the server's memory can be read without the clients' (or the benchmark harness's) in it.
 *
 * It answers the requests in session-rpc.ts over the IPC channel and uses only the library's
 * public API, except the load generator (`flood`), which builds and checks handshake messages
 * with `bittrrt/internals` and the protocol modules themselves. It exits on `exit`, when the parent goes away, and after MAX_LIFETIME_MS at most.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import {
  CommEncryptor, connect, createServer, DoCrypt, PROTOCOL_VERSION, toBase64Url, type BittrrtServer, type CryptoBackend, type Session,
} from '../lib/index.js';
import { CMD_CONNECTED, loadNobleBackend, loadSodiumBackend, NEGOTIATION_DELAY, NEGOTIATION_REPEAT, parseHandshake } from '../lib/internals.js';
import { wipeSessionKeys } from '../lib/crypto/key-schedule.js';
import { complete } from '../lib/net/handshake/key-agreement.js';
import { encodeInitiation, readResponse, type Initiation } from '../lib/protocol/handshake-v2.js';
import type { BackendName } from './harness.js';
import {
  BENCH_RATE_LIMITS, type ClientTarget, type FloodParams, type FloodRun, type HandshakeParams, type HandshakeRun, type LatencyParams,
  type LatencySummary, type Listening, type ListenParams, type LoopLimits, type MemorySample, type ServerStats, type SpinResult,
  type StatsParams, type WorkerApi,
} from './session-rpc.js';
import { cpuMicros, errorText, serveRequests, sleep } from './worker-process.js';

const MAX_LIFETIME_MS = 10 * 60_000;
const SERVER_CLOSE_GRACE_MS = 3_000;
/** A kept session must answer one ping within this long to count as established. */
const KEEP_PING_TIMEOUT_MS = 5_000;
const GC_SETTLE_MS = 250;

const backends = new Map<BackendName, CryptoBackend>();
function backendNamed(name: BackendName): CryptoBackend {
  let backend = backends.get(name);
  if (backend === undefined) {
    backend = name === 'native' ? loadSodiumBackend() : loadNobleBackend();
    backends.set(name, backend);
  }
  return backend;
}


/** A CPU-bound loop for `durationMs` (checked every ~1 ms of work). */
async function spin(params: { durationMs: number }): Promise<SpinResult> {
  const cpuStart = cpuMicros();
  const start = performance.now();
  let x = 0;
  while (performance.now() - start < params.durationMs) {
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
  }
  const wallMs = performance.now() - start;
  if (!(x > 0)) throw new Error('spin computed nothing');
  return { cpuPerWall: (cpuMicros() - cpuStart) / 1000 / wallMs };
}

/* ---------------- server side ---------------- */

let server: BittrrtServer | null = null;

async function listen(params: ListenParams): Promise<Listening> {
  if (server !== null) throw new Error('this worker already runs a server');
  const created = createServer({
    backend: backendNamed(params.backend),
    maxSessions: params.maxSessions,
    // Every benchmark client is on one host (loopback).
    maxSessionsPerHost: params.maxSessions,
    rateLimits: BENCH_RATE_LIMITS,
    timings: { heartbeatRate: params.heartbeatRate, ...(params.keyLifetimeMs === undefined ? {} : { rejectAfterMs: params.keyLifetimeMs }) },
    handshakeThreads: params.handshakeThreads,
  });
  created.on('error', (err) => process.stderr.write(`session worker: server error: ${err.message}\n`));
  if (params.echo) {
    created.on('session', (session) => {
      session.on('message', (payload, channel) => {
        if (!session.closed) session.send(payload, channel);
      });
    });
  }
  server = created;
  const { port } = await created.listen(0, '127.0.0.1');
  return { port, serverKey: toBase64Url(created.identity.publicKey) };
}

function memorySample(): MemorySample {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const v8Free = getHeapSpaceStatistics().reduce((sum, space) => sum + Math.max(0, space.physical_space_size - space.space_used_size), 0);
  return { rss, heapTotal, heapUsed, external, arrayBuffers, v8Free };
}

async function stats(params: StatsParams): Promise<ServerStats> {
  if (server === null) throw new Error('no server in this worker');
  await sleep(params.settleMs);
  const collect = params.collect ? globalThis.gc : undefined;
  if (collect !== undefined) {
    // Two full collections, each followed by a pause: V8 unmaps freed pages on a background thread.
    for (let i = 0; i < 2; i++) {
      collect();
      await sleep(GC_SETTLE_MS);
    }
  }
  const counters = server.counters.toJSON();
  return {
    sessions: server.sessionCount,
    handshakes: counters.handshakes,
    retransmittedConnects: counters.retransmittedConnects,
    drops: { ...counters.drops },
    cpuMicros: cpuMicros(),
    memory: memorySample(),
    collected: collect !== undefined,
  };
}

/* ---------------- client side ---------------- */

/** Sessions of `afterConnect: 'keep'` runs: referenced until the process exits, and never closed. */
const kept: Session[] = [];

const connectTo = (target: ClientTarget): Promise<Session> =>
  connect({ host: '127.0.0.1', port: target.port, backend: backendNamed(target.backend), timings: { heartbeatRate: target.heartbeatRate } });

async function handshakes(params: HandshakeParams): Promise<HandshakeRun> {
  let started = 0;
  let completed = 0;
  let failed = 0;
  let firstError: string | null = null;
  // Each lane connects, then connects again once that one settled: `concurrency` in flight throughout.
  const lane = async (): Promise<void> => {
    while (started < params.count) {
      started++;
      try {
        const session = await connectTo(params);
        if (params.afterConnect === 'keep') {
          try {
            // One round trip proves the server holds the session (and has heard from us: it is not half-open).
            await session.ping(KEEP_PING_TIMEOUT_MS);
          } catch (err) {
            session.close();
            throw err;
          }
          kept.push(session);
        } else {
          session.close();
        }
        completed++;
      } catch (err) {
        failed++;
        firstError ??= errorText(err);
      }
    }
  };
  const cpuStart = cpuMicros();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(params.concurrency, params.count) }, lane));
  return { completed, failed, firstError, wallMs: performance.now() - start, cpuMicros: cpuMicros() - cpuStart };
}

/* ---------------- load generator ---------------- */

/** A pre-built connect, its ephemeral key (to verify the answer), and the answer once it came. */
interface BuiltConnect {
  readonly datagram: Buffer;
  readonly init: Initiation;
  readonly ephemeral: CommEncryptor;
  reply: Buffer | null;
}

function buildConnects(count: number, backend: CryptoBackend, docrypt: DoCrypt): BuiltConnect[] {
  return Array.from({ length: count }, (_, i) => {
    const ephemeral = new CommEncryptor({ backend });
    const init: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: ephemeral.publicKey, index: i };
    return { datagram: Buffer.from(docrypt.fencrypt(encodeInitiation(init)), 'ascii'), init, ephemeral, reply: null };
  });
}

/** The next datagram on `socket` that is not `ignore` (a repeat of the previous answer), or null after `ms`. */
function nextAnswer(socket: Socket, ms: number, ignore: Buffer | null): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const onMessage = (msg: Buffer): void => {
      if (ignore !== null && msg.equals(ignore)) return;
      finish(msg);
    };
    const finish = (msg: Buffer | null): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(msg);
    };
    const timer = setTimeout(() => finish(null), ms);
    socket.on('message', onMessage);
  });
}

/**
 * Whether `built.reply` is the server's answer to exactly this connect: a version-2 `connected`
 * naming the server's key whose confirmation verifies under the keys the client derives.
 * Returns what is wrong, or null.
 */
function verifyAnswer(built: BuiltConnect, docrypt: DoCrypt, serverKey: string): string | null {
  if (built.reply === null) return 'a connect got no answer';
  let parsed;
  try {
    parsed = parseHandshake(docrypt.fdecrypt(built.reply).plaintext, CMD_CONNECTED);
  } catch (err) {
    return `answer is not a token: ${errorText(err)}`;
  }
  const response = parsed.ok ? readResponse(parsed.message) : null;
  if (response === null) return 'answer is not a version-2 connected';
  if (toBase64Url(response.serverStatic) !== serverKey) return 'answer names another server key';
  const keys = complete(built.init, built.ephemeral, response);
  if (keys === null) return 'confirmation does not verify';
  wipeSessionKeys(keys);
  return null;
}

/**
 * Sends every connect, `lanes` at a time, each lane waiting for an answer (resending after
 * NEGOTIATION_DELAY, as a client does) before its next; the clock stops at the last answer.
 * Only then is every answer verified in full, so the checking costs the timed run nothing and
 * an answer that came to the wrong connect cannot pass.
 */
async function flood(params: FloodParams): Promise<FloodRun> {
  const backend = backendNamed('native');
  const docrypt = new DoCrypt();
  const connects = buildConnects(params.count, backend, docrypt);
  const sockets = await Promise.all(Array.from({ length: params.lanes }, () => new Promise<Socket>((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve(socket));
  })));
  let next = 0;
  let retransmits = 0;
  const lane = async (socket: Socket): Promise<void> => {
    let previous: Buffer | null = null;
    while (next < connects.length) {
      const built = connects[next++]!;
      for (let attempt = 0; attempt < NEGOTIATION_REPEAT && built.reply === null; attempt++) {
        if (attempt > 0) retransmits++;
        socket.send(built.datagram, params.port, '127.0.0.1');
        built.reply = await nextAnswer(socket, NEGOTIATION_DELAY, previous);
      }
      previous = built.reply ?? previous;
    }
  };
  const cpuStart = cpuMicros();
  const start = performance.now();
  try {
    await Promise.all(sockets.map(lane));
  } finally {
    for (const socket of sockets) socket.close();
  }
  const wallMs = performance.now() - start;
  const cpu = cpuMicros() - cpuStart;
  let answered = 0;
  let unanswered = 0;
  let invalid = 0;
  let firstProblem: string | null = null;
  for (const built of connects) {
    const problem = verifyAnswer(built, docrypt, params.serverKey);
    built.ephemeral.destroy();
    if (problem === null) answered++;
    else if (built.reply === null) unanswered++;
    else invalid++;
    firstProblem ??= problem;
  }
  return { answered, invalid, unanswered, retransmits, firstProblem, wallMs, cpuMicros: cpu };
}

/** One round trip: its time in microseconds, or null when it got no answer in time. */
type RoundTrip = () => Promise<number | null>;

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

/** Runs `roundTrip` sequentially: `warmup` times unrecorded, then until the time or count limit. */
async function measureLoop(limits: LoopLimits, roundTrip: RoundTrip): Promise<LatencySummary> {
  for (let i = 0; i < limits.warmup; i++) await roundTrip();
  const samples = new Float64Array(limits.maxCount);
  let count = 0;
  let lost = 0;
  const start = performance.now();
  const deadline = start + limits.durationMs;
  while (count + lost < limits.maxCount && performance.now() < deadline) {
    const us = await roundTrip();
    if (us === null) lost++;
    else samples[count++] = us;
  }
  const wallMs = performance.now() - start;
  const recorded = samples.subarray(0, count).sort();
  let sum = 0;
  for (const us of recorded) sum += us;
  return {
    count,
    lost,
    wallMs,
    perSec: count / (wallMs / 1000),
    p50Us: percentile(recorded, 0.5),
    p99Us: percentile(recorded, 0.99),
    meanUs: count === 0 ? Number.NaN : sum / count,
    maxUs: recorded[count - 1] ?? Number.NaN,
  };
}

/**
 * Sends `payloadBytes` (a sequence number in the first 4 bytes) and waits for the server's echo
 * of exactly that payload; a late echo of an earlier, timed-out one is ignored.
 */
function echoRoundTrip(session: Session, payloadBytes: number, timeoutMs: number): RoundTrip {
  const payload = Buffer.alloc(payloadBytes, 0x5a);
  let sequence = 0;
  let waiting: ((echoed: boolean) => void) | null = null;
  session.on('message', (echoed) => {
    if (waiting !== null && echoed.equals(payload)) waiting(true);
  });
  return () => new Promise<number | null>((resolve) => {
    payload.writeUInt32BE(sequence++ >>> 0, 0);
    const start = performance.now();
    const finish = (echoed: boolean): void => {
      clearTimeout(timer);
      waiting = null;
      resolve(echoed ? (performance.now() - start) * 1000 : null);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    waiting = finish;
    session.send(payload);
  });
}

/** session.ping(): a heartbeat and its acknowledgement; the session times it itself. */
function pingRoundTrip(session: Session, timeoutMs: number): RoundTrip {
  return async () => {
    try {
      return (await session.ping(timeoutMs)) * 1000;
    } catch {
      return null;
    }
  };
}

async function latency(params: LatencyParams): Promise<{ echo: LatencySummary; ping: LatencySummary }> {
  const session = await connectTo(params);
  try {
    const echo = await measureLoop(params.echo, echoRoundTrip(session, params.payloadBytes, params.echo.timeoutMs));
    const ping = await measureLoop(params.ping, pingRoundTrip(session, params.ping.timeoutMs));
    return { echo, ping };
  } finally {
    session.close();
  }
}

/* ---------------- the request loop ---------------- */

async function exit(code: number): Promise<never> {
  const running = server;
  server = null;
  if (running !== null) await Promise.race([running.close(), sleep(SERVER_CLOSE_GRACE_MS)]);
  process.exit(code);
}

serveRequests<WorkerApi>('session-worker', MAX_LIFETIME_MS, { spin, listen, stats, handshakes, flood, latency }, (code) => void exit(code));
