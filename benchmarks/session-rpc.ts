/**
 * The operations a session worker (session-worker.ts) answers, through worker-process.ts: their
 * parameters and results, and how the parent starts session workers.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import type { RateLimitOptions } from '../lib/index.js';
import type { BackendName } from './harness.js';
import { withWorkers, type StartWorker, type Worker } from './worker-process.js';

/**
 * Every handshake rate limit of a benchmark server (per source and global, rate and burst). Far
 * above anything a benchmark reaches: all its clients come from 127.0.0.1, and it measures what
 * the server can do, not its admission policy, whose default global budget would otherwise cap,
 * or cookie-gate, a fast enough server.
 */
export const BENCH_RATE_LIMIT = 1e9;
/** BENCH_RATE_LIMIT as a server's `rateLimits` option. */
export const BENCH_RATE_LIMITS: Readonly<Partial<RateLimitOptions>> = {
  perSourceRate: BENCH_RATE_LIMIT, perSourceBurst: BENCH_RATE_LIMIT, globalRate: BENCH_RATE_LIMIT, globalBurst: BENCH_RATE_LIMIT,
};

/** What a server worker runs: one bittrrt server on 127.0.0.1, port chosen by the OS. */
export interface ListenParams {
  readonly backend: BackendName;
  /** Heartbeat interval of server and clients (they must match). */
  readonly heartbeatRate: number;
  readonly maxSessions: number;
  /** Echo every message back on its channel (the round-trip benchmark); off elsewhere, so no per-session listener skews memory. */
  readonly echo: boolean;
  /** ServerOptions.handshakeThreads; the server's default when absent. */
  readonly handshakeThreads?: number;
  /** SessionTimings.rejectAfterMs: how long a session lives without a key rotation; the default (REJECT_AFTER_MS) when absent. */
  readonly keyLifetimeMs?: number;
}

export interface Listening {
  readonly port: number;
  /** The server identity's public key, URL-safe base64: what every version-2 answer must name. */
  readonly serverKey: string;
}

/** A process's memory, as process.memoryUsage() reports it, in bytes. */
export interface MemorySample {
  readonly rss: number;
  /** V8 heap committed, used or not. */
  readonly heapTotal: number;
  readonly heapUsed: number;
  /** Off-heap memory V8 knows of (Buffers and typed-array backing stores included). */
  readonly external: number;
  readonly arrayBuffers: number;
  /**
   * Resident V8 heap pages holding nothing live: over every heap space, physical size minus used
   * size (v8.getHeapSpaceStatistics()). V8 keeps such pages for later allocation, and how many
   * it keeps depends on its heap sizing, not on what the process holds.
   */
  readonly v8Free: number;
}

export interface StatsParams {
  /** Wait this long before sampling (lets timers run and caches expire). */
  readonly settleMs: number;
  /** Run global.gc() (twice, each followed by a short pause) before sampling memory, when --expose-gc made it available. */
  readonly collect: boolean;
}

export interface ServerStats {
  readonly sessions: number;
  readonly handshakes: number;
  readonly retransmittedConnects: number;
  readonly drops: Readonly<Record<string, number>>;
  /** User + system CPU time of the whole worker process so far, in microseconds. */
  readonly cpuMicros: number;
  readonly memory: MemorySample;
  /** Whether global.gc() ran before `memory` was sampled. */
  readonly collected: boolean;
}

/** What a client worker connects to. */
export interface ClientTarget {
  readonly port: number;
  readonly backend: BackendName;
  readonly heartbeatRate: number;
}

export interface HandshakeParams extends ClientTarget {
  readonly count: number;
  /** Connects in flight at once: this many lanes, each connecting again as soon as its last one finished. */
  readonly concurrency: number;
  /**
   * `close`: close each session as soon as it is established (connect + close per client).
   * `keep`: ping once (so the server has heard from the client and holds a confirmed session),
   * then keep the session open; sessions are abandoned, never closed, when the worker exits, so
   * the server keeps them as idle sessions.
   */
  readonly afterConnect: 'close' | 'keep';
}

export interface HandshakeRun {
  readonly completed: number;
  readonly failed: number;
  readonly firstError: string | null;
  /** From the first connect to the last one settling, in ms. */
  readonly wallMs: number;
  /** CPU time the worker spent meanwhile, in microseconds. */
  readonly cpuMicros: number;
}

/**
 * A load generator for the server's side of the handshake: `lanes` sockets, each sending a
 * pre-built version-2 `connect` (a fresh ephemeral key each time) and waiting for its answer
 * before sending the next, as that many clients connecting one after another.
 */
export interface FloodParams {
  readonly port: number;
  readonly serverKey: string;
  readonly count: number;
  readonly lanes: number;
}

export interface FloodRun {
  /**
   * Connects whose answer verified in full once the clock stopped: a version-2 `connected`
   * naming the server's key, whose confirmation MAC checks out under the keys the client derives.
   */
  readonly answered: number;
  /** Answers that failed a check, and connects that got no answer after every attempt. */
  readonly invalid: number;
  readonly unanswered: number;
  /** Connects sent again after NEGOTIATION_DELAY without an answer. */
  readonly retransmits: number;
  readonly firstProblem: string | null;
  readonly wallMs: number;
  /** CPU time the generator spent meanwhile (building the connects before and verifying the answers after are not counted), in microseconds. */
  readonly cpuMicros: number;
}

/** A bounded sequential loop: stop at `durationMs` or `maxCount`, whichever comes first. */
export interface LoopLimits {
  readonly durationMs: number;
  readonly maxCount: number;
  /** Round trips done first and not recorded (JIT, socket buffers). */
  readonly warmup: number;
  /** A round trip with no answer after this long counts as lost, and the loop goes on. */
  readonly timeoutMs: number;
}

export interface LatencyParams extends ClientTarget {
  readonly payloadBytes: number;
  readonly echo: LoopLimits;
  readonly ping: LoopLimits;
}

export interface LatencySummary {
  /** Round trips completed and recorded. */
  readonly count: number;
  readonly lost: number;
  readonly wallMs: number;
  readonly perSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
  readonly maxUs: number;
}

export interface LatencyRun {
  readonly echo: LatencySummary;
  readonly ping: LatencySummary;
}

/** Any worker: spin on the CPU for `durationMs`; how much of a core it got (CPU time ÷ wall time). */
export interface SpinResult {
  readonly cpuPerWall: number;
}

/** Every operation a worker answers: [params, result]. */
export interface WorkerApi {
  /** Any worker: a CPU-bound loop, run in two workers at once to see how many cores they really get. */
  spin: [{ readonly durationMs: number }, SpinResult];
  /** Server worker: start the server. */
  listen: [ListenParams, Listening];
  /** Server worker: counters, CPU time and memory. */
  stats: [StatsParams, ServerStats];
  /** Client worker: `count` connects against a server worker. */
  handshakes: [HandshakeParams, HandshakeRun];
  /** Client worker: the load generator. */
  flood: [FloodParams, FloodRun];
  /** Client worker: one session; sequential echo round trips, then sequential pings. */
  latency: [LatencyParams, LatencyRun];
}

/** A session worker, seen from the parent, and how a run starts one. */
export type SessionWorker = Worker<WorkerApi>;
export type StartSessionWorker = StartWorker<WorkerApi>;

/** Runs `body` with a way to start session workers; every one it started is stopped afterwards, even on error. */
export function withSessionWorkers<T>(body: (start: StartSessionWorker) => Promise<T>): Promise<T> {
  // --expose-gc so a server worker can collect before sampling memory.
  return withWorkers<WorkerApi, T>('./session-worker.js', (start) => body((name, nodeFlags = []) => start(name, ['--expose-gc', ...nodeFlags])));
}

let tasksetWorks: boolean | undefined;
/**
 * Above this 1-minute load average other work holds the cores, and a pinned process cannot move
 * off a core that work is using: on a shared machine (load 7 on 2 cores) a pinned server on its
 * socket thread managed 23 handshakes/s and 1,428 of 5,000 answers. Pinning is for a quiet machine.
 */
const PIN_MAX_LOAD = 1;

/**
 * Pins every thread of process `pid` to core `cpu` with taskset (util-linux), so two busy
 * processes on a 2-core machine each keep a core instead of being moved about by the scheduler.
 * Returns null when pinned, or why not.
 */
export function pinToCpu(pid: number | undefined, cpu: number): string | null {
  if (availableParallelism() <= cpu) return `only ${availableParallelism()} core(s)`;
  const load = loadavg()[0] ?? 0;
  if (load >= PIN_MAX_LOAD) return `load average ${load.toFixed(2)}: other work holds the cores, and a pinned process could not move off it`;
  tasksetWorks ??= spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!tasksetWorks) return 'taskset not found (util-linux)';
  if (pid === undefined) return 'no process id';
  const run = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  return run.status === 0 ? null : `taskset failed: ${run.stderr.trim()}`;
}
