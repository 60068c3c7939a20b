/**
 * Sessions over real loopback UDP: the server's handshake capacity under a load generator, then,
 * through the public API only (createServer, connect, Session), end-to-end handshakes, memory per
 * idle session, and encrypted round trips. The server and
 * the clients run in separate worker processes (session-worker.ts), so on a 2-core machine each
 * gets a core and the server's memory is read in a process that runs nothing else; this process
 * only directs them and waits.
 */
import { loadavg } from 'node:os';
import { NEGOTIATION_DELAY, NEGOTIATION_REPEAT } from '../lib/constants.js';
import type { BackendName, Progress } from './harness.js';
import { fitLine, judge, slope, type Goal, type Judgement, type JudgeRules } from './verdict.js';
import {
  BENCH_RATE_LIMIT, pinToCpu, withSessionWorkers, type FloodRun, type LatencyRun, type LoopLimits, type MemorySample, type ServerStats, type SessionWorker,
  type StartSessionWorker, type StatsParams,
} from './session-rpc.js';

/** The issue's goals. */
export const HANDSHAKE_GOAL: Goal = {
  what: 'server handshakes/s (load generator, default handshake threads)', target: 5000, unit: 'count', direction: 'atLeast',
  // Zero time gives an infinite rate; no server on loopback answers a million connects a second.
  plausible: [1, 1e6],
};
/**
 * The goal is < 2 KiB of RSS per idle session. Judged on RSS less the resident V8 heap pages that
 * hold nothing live (MemorySample.v8Free): how many of those V8 keeps is its heap-sizing policy at
 * the moment of the sample, not something the sessions hold, and it swung by 0–33 MiB between
 * steps of one run (measured), as much as 20,000 sessions hold; with it, two back-to-back runs
 * were INCONCLUSIVE. Everything else resident stays in: live V8 objects, Buffers, native
 * allocations and whatever the allocator keeps around them.
 */
export const IDLE_MEMORY_GOAL: Goal = {
  what: 'RSS less free V8 heap per idle session (slope over the steps)', target: 2048, unit: 'bytes', direction: 'below',
  // A session holds at least its keys and table entry: a slope of 0 or less means something else
  // was freed meanwhile. Over 64 KiB per idle session means something else grew.
  plausible: [1, 65_536],
};

/** Heartbeat interval of every benchmark session: long, so idle sessions send nothing while measured. */
const IDLE_HEARTBEAT_MS = 60_000;
const ECHO_PAYLOAD_BYTES = 64;
/** The most a connect() can take before it gives up (every attempt unanswered). */
const CONNECT_BUDGET_MS = NEGOTIATION_REPEAT * NEGOTIATION_DELAY;
/**
 * A server may keep each `connected` answer for as long as its client could still retransmit
 * `connect` (the client's whole retry budget), to answer a retransmission without a second key
 * agreement. Idle memory is sampled only after that, plus a little for the server's timer.
 */
const ANSWER_SETTLE_MS = CONNECT_BUDGET_MS + 1000;
/** Client sessions per worker process when establishing idle sessions: each holds a socket, and file descriptors may be limited to 1024. */
const SOCKETS_PER_CLIENT_WORKER = 800;
const CALL_MARGIN_MS = 15_000;
/** How long the server and client workers spin at once to see how many cores the machine really gives them. */
const SPIN_MS = 300;
/**
 * Server and generator spinning together must get at least this many cores, or the run measured
 * the machine's other load rather than the server: at load 7.8 on 2 cores they got 0.07–0.93 and
 * the default server 862–1,098 handshakes/s, a FAIL that said nothing about the code.
 */
const CORES_NEEDED = 1.6;

export interface HandshakePlan {
  readonly backend: BackendName;
  readonly count: number;
  readonly concurrency: number;
  /** Handshakes done first, unmeasured, so both processes are warm. */
  readonly warmup: number;
}

/** A load-generator run against a native server with `threads` handshake threads (its default when absent). */
export interface CapacityPlan {
  readonly threads?: number;
  readonly count: number;
  readonly lanes: number;
  readonly warmup: number;
}

export interface SessionsConfig {
  readonly capacity: readonly CapacityPlan[];
  readonly handshakes: readonly HandshakePlan[];
  /**
   * Idle sessions at which the server's memory is sampled, ascending. The server is fresh and
   * these are its first clients, so no garbage of earlier work sits in any sample; the slope
   * over the steps leaves out what the first sessions cost once (JIT, tables built lazily).
   * Steps of 5,000 sessions add 6–9 MiB each, well above the 1–2 MiB the samples stray from a
   * line (measured); with steps of 1,000–5,000 the chunks in which memory moves decided the slope.
   */
  readonly idleSteps: readonly number[];
  readonly echo: LoopLimits;
  readonly ping: LoopLimits;
}

export const DEFAULT_SESSIONS_CONFIG: SessionsConfig = {
  capacity: [
    { threads: 0, count: 20_000, lanes: 200, warmup: 2000 },
    { count: 20_000, lanes: 200, warmup: 2000 },
  ],
  handshakes: [
    { backend: 'native', count: 2000, concurrency: 200, warmup: 400 },
    { backend: 'js', count: 300, concurrency: 20, warmup: 40 },
  ],
  idleSteps: [5000, 10_000, 15_000, 20_000],
  echo: { durationMs: 2000, maxCount: 200_000, warmup: 500, timeoutMs: 1000 },
  ping: { durationMs: 1000, maxCount: 100_000, warmup: 200, timeoutMs: 1000 },
};

export const QUICK_SESSIONS_CONFIG: SessionsConfig = {
  capacity: [
    { threads: 0, count: 5000, lanes: 200, warmup: 1000 },
    { count: 5000, lanes: 200, warmup: 1000 },
  ],
  handshakes: [
    { backend: 'native', count: 500, concurrency: 200, warmup: 200 },
    { backend: 'js', count: 100, concurrency: 20, warmup: 20 },
  ],
  idleSteps: [500, 1000, 1500, 2000],
  echo: { durationMs: 500, maxCount: 50_000, warmup: 200, timeoutMs: 1000 },
  ping: { durationMs: 300, maxCount: 30_000, warmup: 100, timeoutMs: 1000 },
};

export interface HandshakeCapacity {
  /** The server's handshake threads: a number, or null for its default (what `bittrrt serve` runs). */
  readonly threads: number | null;
  readonly count: number;
  readonly lanes: number;
  readonly run: FloodRun;
  readonly wallSeconds: number;
  /** Verified answers ÷ wall time: the number judged (for the default server). */
  readonly perSec: number;
  readonly serverHandshakes: number;
  readonly serverDrops: Readonly<Record<string, number>>;
  /** CPU time of the server's whole process (every thread) per handshake, in µs. */
  readonly serverCpuUsPerHandshake: number;
  /** CPU time ÷ wall time; above 1.0 when handshake threads run beside the socket thread. */
  readonly serverBusy: number;
  readonly generatorBusy: number;
  readonly coresForTwo: number;
  /** Null when both processes were pinned to a core each; otherwise why not. */
  readonly unpinned: string | null;
  /** What makes this run's figure not count (an answer missing or wrong, a datagram dropped); null if none. */
  readonly problem: string | null;
}

export interface HandshakeThroughput {
  readonly backend: BackendName;
  /** Clients, each one connect() then close(). */
  readonly clients: number;
  readonly concurrency: number;
  readonly completed: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly wallSeconds: number;
  /** Completed handshakes ÷ wall time (not judged: on two cores the clients' process sets it; see HandshakeCapacity). */
  readonly perSec: number;
  /** Handshakes the server counted meanwhile, and connects it saw again (the answer was slower than the client's retry delay). */
  readonly serverHandshakes: number;
  readonly retransmittedConnects: number;
  /** Datagrams the server dropped meanwhile, by reason. */
  readonly serverDrops: Readonly<Record<string, number>>;
  /** Server CPU time (user + system) per completed handshake, its close included, in µs. */
  readonly serverCpuUsPerHandshake: number;
  /** CPU time ÷ wall time of each process: 1.0 is one core saturated. */
  readonly serverBusy: number;
  readonly clientBusy: number;
  /**
   * Cores the machine gave the server and client workers when both spun on the CPU at once,
   * just before the run (2.0 on an idle 2-core machine; less when its host or other work takes a share).
   */
  readonly coresForTwo: number;
}

/** The server's memory with `sessions` idle sessions, sampled after global.gc(). */
export interface MemoryStep {
  readonly sessions: number;
  readonly memory: MemorySample;
}

/**
 * A run whose judged samples stray from their fitted line by more than this share of the growth
 * the line gives over the steps did not measure one cost per session: something else came or went
 * between samples. 15%: the bench's bound for runs agreeing with each other.
 */
export const MAX_FIT_RESIDUAL_PERCENT = 15;

/** One fresh server, sampled before its first client and at each step of idle sessions. */
export interface IdleMemoryRun {
  readonly empty: MemoryStep;
  readonly steps: readonly MemoryStep[];
  readonly requested: readonly number[];
  readonly failed: number;
  readonly collected: boolean;
  readonly perSession: PerSession;
}

/** Bytes per idle session: least-squares slopes over the steps. */
export interface PerSession {
  /** Of RSS as sampled: not judged, V8's free pages come and go in it. */
  readonly rss: number;
  /** Of RSS less V8's free heap pages: judged. */
  readonly rssLessFreeHeap: number;
  /** The judged samples' largest distance from their line, in percent of the growth the line gives over the steps. */
  readonly residualPercent: number;
  /** Of V8 heap used + external: what the sessions' own objects and buffers hold. */
  readonly heap: number;
}

export interface IdleMemory {
  readonly settleMs: number;
  readonly runs: readonly IdleMemoryRun[];
  readonly judgement: Judgement;
}

const heapOf = (m: MemorySample): number => m.heapUsed + m.external;
/** The judged memory of a sample. */
export const rssLessFreeHeap = (m: MemorySample): number => m.rss - m.v8Free;
const mebibytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The slopes over a run's steps, and how well the judged samples lie on their line. */
export function perSessionSlopes(steps: readonly MemoryStep[]): PerSession {
  const judged = fitLine(steps.map((s) => [s.sessions, rssLessFreeHeap(s.memory)]));
  const span = (steps[steps.length - 1]?.sessions ?? 0) - (steps[0]?.sessions ?? 0);
  return {
    rss: slope(steps.map((s) => [s.sessions, s.memory.rss])),
    rssLessFreeHeap: judged.slope,
    residualPercent: (judged.maxResidual / Math.abs(judged.slope * span)) * 100,
    heap: slope(steps.map((s) => [s.sessions, heapOf(s.memory)])),
  };
}

/** A fall between steps within what the fit allows a sample to stray (MAX_FIT_RESIDUAL_PERCENT of its growth) is noise. */
function fallAllowed(run: IdleMemoryRun): number {
  const span = (run.steps[run.steps.length - 1]?.sessions ?? 0) - (run.steps[0]?.sessions ?? 0);
  return Math.max(0, (run.perSession.rssLessFreeHeap * span * MAX_FIT_RESIDUAL_PERCENT) / 100);
}

/**
 * The idle-memory verdict over runs: the median slope of RSS less V8's free heap against the goal.
 * Any run makes the figure INCONCLUSIVE whose steps did not all hold the sessions asked for, that
 * sampled without global.gc(), whose heap + external slope is impossible, whose judged memory fell
 * while sessions were added by more than the fit allows (something else was given back: the slope
 * would count that against the sessions), or whose judged samples stray from their line by more than
 * MAX_FIT_RESIDUAL_PERCENT of its growth (something else came or went between samples).
 */
export function judgeIdleMemory(runs: readonly IdleMemoryRun[], rules?: JudgeRules): Judgement {
  const [low, high] = IDLE_MEMORY_GOAL.plausible;
  const problems = runs.flatMap((run, i) => [
    ...run.steps.flatMap((step, k) => (step.sessions === run.requested[k] ? []
      : [`run ${i + 1}: ${step.sessions} of ${run.requested[k] ?? '?'} sessions live`])),
    ...(run.perSession.heap >= low && run.perSession.heap <= high ? []
      : [`run ${i + 1}: heap used + external ${Math.round(run.perSession.heap)} B per session is impossible`]),
    ...(run.collected ? [] : [`run ${i + 1}: no global.gc() before the samples`]),
    ...run.steps.slice(1).flatMap((step, k) => {
      const previous = run.steps[k];
      return previous === undefined || rssLessFreeHeap(previous.memory) - rssLessFreeHeap(step.memory) <= fallAllowed(run) ? []
        : [`run ${i + 1}: RSS less free V8 heap fell from ${mebibytes(rssLessFreeHeap(previous.memory))} to ` +
          `${mebibytes(rssLessFreeHeap(step.memory))} between ${previous.sessions} and ${step.sessions} sessions (memory given back)`];
    }),
    ...(run.perSession.residualPercent <= MAX_FIT_RESIDUAL_PERCENT ? []
      : [`run ${i + 1}: the steps stray from their line by ${run.perSession.residualPercent.toFixed(0)}% of its growth ` +
        `(more than ${MAX_FIT_RESIDUAL_PERCENT}%): memory came or went besides the sessions`]),
  ]);
  return judge(IDLE_MEMORY_GOAL, runs.map((r) => r.perSession.rssLessFreeHeap), rules, problems);
}

export interface LoopbackLatency extends LatencyRun {
  readonly payloadBytes: number;
}

export interface NetworkReport {
  /** 1-minute load average when these benchmarks started: they need both cores. */
  readonly loadAverage: number;
  readonly heartbeatMs: number;
  /** Every handshake rate limit of the benchmark servers (ServerOptions.rateLimits), per second and burst. */
  readonly rateLimit: number;
  /** Every run of every capacity plan, in order (each plan `repeat` times, fresh processes each time). */
  readonly capacity: readonly HandshakeCapacity[];
  /** The median handshakes/s of the default server's runs against HANDSHAKE_GOAL. */
  readonly capacityJudgement: Judgement;
  readonly handshakes: readonly HandshakeThroughput[];
  readonly idleMemory: IdleMemory;
  readonly latency: LoopbackLatency;
}

const handshakeTimeoutMs = (count: number, concurrency: number): number =>
  Math.ceil(count / concurrency) * CONNECT_BUDGET_MS + CALL_MARGIN_MS;

function statsOf(server: SessionWorker, params: StatsParams): Promise<ServerStats> {
  return server.call('stats', params, params.settleMs + CALL_MARGIN_MS);
}

/**
 * V8 flags of the idle-memory server: its young generation held at its largest size, and no
 * memory reducer. V8 otherwise shrinks the young generation and uncommits pages when the
 * process goes idle, at times of its choosing; whether that happened between the two samples
 * swung the per-session RSS by ±1,500 B at 10,000 sessions (measured), though no session lives
 * there. They were not enough: after global.gc() V8 still gave back or took up to 30 MiB of empty
 * pages between steps (measured), which is why the judged figure leaves V8's free pages out.
 */
const STEADY_HEAP_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16', '--no-memory-reducer'];

/**
 * Key lifetime of the idle-memory server's sessions. Its idle clients never rotate keys (their
 * processes are gone), so at the default (REJECT_AFTER_MS, 3 minutes) the server would close the
 * first sessions before a run on a loaded machine had sampled its last step (measured: 15,000
 * sessions fell to 9,597). The worker's own lifetime limit ends the run before this.
 */
const IDLE_KEY_LIFETIME_MS = 60 * 60_000;

interface ServerExtras {
  readonly handshakeThreads?: number;
  readonly nodeFlags?: readonly string[];
  readonly keyLifetimeMs?: number;
}

/** Starts a server worker listening on 127.0.0.1; returns it, its port and its key. */
async function startServer(start: StartSessionWorker, backend: BackendName, maxSessions: number, echo: boolean,
  { handshakeThreads, nodeFlags = [], keyLifetimeMs }: ServerExtras = {}): Promise<{ server: SessionWorker; port: number; serverKey: string }> {
  const server = await start(`server-${backend}`, nodeFlags);
  const listening = await server.call('listen',
    { backend, heartbeatRate: IDLE_HEARTBEAT_MS, maxSessions, echo, handshakeThreads, keyLifetimeMs }, CALL_MARGIN_MS);
  return { server, ...listening };
}

/** How many cores two workers get when both spin at once (2.0 on an idle 2-core machine). */
async function coresFor(workers: readonly SessionWorker[]): Promise<number> {
  const spins = await Promise.all(workers.map((w) => w.call('spin', { durationMs: SPIN_MS }, SPIN_MS + CALL_MARGIN_MS)));
  return spins.reduce((sum, s) => sum + s.cpuPerWall, 0);
}

/**
 * The server's side of the handshake at full load: a load generator (one worker process) keeps
 * `plan.lanes` version-2 connects in flight and checks every answer. The server's sessions stay
 * half-open (nothing confirms them), so its table is sized to hold them all.
 */
function handshakeCapacity(plan: CapacityPlan, runLabel: string, progress: Progress): Promise<HandshakeCapacity> {
  return withSessionWorkers(async (start) => {
    const { server, port, serverKey } = await startServer(start, 'native', 2 * (plan.count + plan.warmup), false, { handshakeThreads: plan.threads });
    const generator = await start('load-generator');
    const label = `${plan.threads === undefined ? 'default handshake threads' : `${plan.threads} handshake threads`}, ${runLabel}`;
    // A server on its socket thread alone is one busy thread, as is the generator: one core each,
    // so the scheduler cannot move them onto one core. The default server runs a handshake thread
    // beside its socket thread and needs both cores: pinning it to one would measure another server.
    const unpinned = plan.threads === 0
      ? pinToCpu(server.pid, 0) ?? pinToCpu(generator.pid, 1)
      : 'the default server uses both cores (socket thread + handshake thread)';
    const flood = (count: number): Promise<FloodRun> => generator.call('flood',
      { port, serverKey, count, lanes: plan.lanes }, handshakeTimeoutMs(count, plan.lanes) + count);
    progress(`sessions: handshake capacity, ${label}, warmup (${plan.warmup})`);
    await flood(plan.warmup);
    const coresForTwo = await coresFor([server, generator]);
    const before = await statsOf(server, { settleMs: 100, collect: false });
    progress(`sessions: handshake capacity, ${label}, ${plan.count} connects, ${plan.lanes} in flight`);
    const run = await flood(plan.count);
    const after = await statsOf(server, { settleMs: 0, collect: false });
    const wallSeconds = run.wallMs / 1000;
    const perSec = run.answered / wallSeconds;
    const serverCpu = after.cpuMicros - before.cpuMicros;
    const serverHandshakes = after.handshakes - before.handshakes;
    const drops = dropsBetween(before, after);
    const problem = run.answered !== plan.count ? `${run.answered} of ${plan.count} answers verified`
      : serverHandshakes !== plan.count ? `the server counted ${serverHandshakes} handshakes for ${plan.count} connects`
        : Object.keys(drops).length > 0 ? `the server dropped datagrams: ${Object.entries(drops).map(([r, n]) => `${r} ${n}`).join(', ')}`
          : coresForTwo < CORES_NEEDED ? `server and generator got ${coresForTwo.toFixed(2)} cores, fewer than ${CORES_NEEDED}: other load on the machine`
            : null;
    return {
      threads: plan.threads ?? null,
      count: plan.count,
      lanes: plan.lanes,
      run,
      wallSeconds,
      perSec,
      serverHandshakes,
      serverDrops: drops,
      serverCpuUsPerHandshake: serverCpu / run.answered,
      serverBusy: serverCpu / 1e6 / wallSeconds,
      generatorBusy: run.cpuMicros / 1e6 / wallSeconds,
      coresForTwo,
      unpinned,
      problem,
    };
  });
}

function dropsBetween(before: ServerStats, after: ServerStats): Record<string, number> {
  const drops: Record<string, number> = {};
  for (const [reason, n] of Object.entries(after.drops)) {
    const delta = n - (before.drops[reason] ?? 0);
    if (delta > 0) drops[reason] = delta;
  }
  return drops;
}

/** One server worker, one client worker: `plan.count` clients, each connect() then close(). */
function handshakeThroughput(plan: HandshakePlan, progress: Progress): Promise<HandshakeThroughput> {
  return withSessionWorkers(async (start) => {
    const { server, port } = await startServer(start, plan.backend, Math.max(plan.count, plan.concurrency), false);
    const clients = await start(`clients-${plan.backend}`);
    const run = (count: number) => clients.call('handshakes',
      { port, backend: plan.backend, heartbeatRate: IDLE_HEARTBEAT_MS, count, concurrency: plan.concurrency, afterConnect: 'close' },
      handshakeTimeoutMs(count, plan.concurrency));
    progress(`sessions: ${plan.backend} handshakes, warmup (${plan.warmup})`);
    await run(plan.warmup);
    const coresForTwo = await coresFor([server, clients]);
    const before = await statsOf(server, { settleMs: 100, collect: false });
    progress(`sessions: ${plan.backend} handshakes, ${plan.count} clients, ${plan.concurrency} at a time`);
    const result = await run(plan.count);
    const after = await statsOf(server, { settleMs: 0, collect: false });
    const wallSeconds = result.wallMs / 1000;
    const perSec = result.completed / wallSeconds;
    const serverCpu = after.cpuMicros - before.cpuMicros;
    return {
      backend: plan.backend,
      clients: plan.count,
      concurrency: plan.concurrency,
      completed: result.completed,
      failed: result.failed,
      firstError: result.firstError,
      wallSeconds,
      perSec,
      serverHandshakes: after.handshakes - before.handshakes,
      retransmittedConnects: after.retransmittedConnects - before.retransmittedConnects,
      serverDrops: dropsBetween(before, after),
      serverCpuUsPerHandshake: serverCpu / result.completed,
      // The server's CPU is read a moment after the last client finished: close enough to its wall time.
      serverBusy: serverCpu / 1e6 / wallSeconds,
      clientBusy: result.cpuMicros / 1e6 / wallSeconds,
      coresForTwo,
    };
  });
}

/**
 * One fresh server's memory before its first client and at each of `config.idleSteps` idle
 * sessions. The clients run in short-lived workers that exit without closing their sessions, so
 * the server keeps them all, idle (no heartbeat is due for IDLE_HEARTBEAT_MS), while no client
 * process holds thousands of sockets. Each step is sampled once the server may have dropped the
 * answers it cached for retransmitted connects, after two global.gc().
 */
function idleMemoryRun(config: SessionsConfig, runLabel: string, progress: Progress): Promise<IdleMemoryRun> {
  return withSessionWorkers(async (start) => {
    // Room to spare, so no session is ever evicted. No handshake threads: they hold no session
    // state, and their own heaps grow and shrink with handshake activity by tens of MiB (measured).
    const last = config.idleSteps[config.idleSteps.length - 1] ?? 0;
    const { server, port } = await startServer(start, 'native', 2 * last, false,
      { handshakeThreads: 0, nodeFlags: STEADY_HEAP_FLAGS, keyLifetimeMs: IDLE_KEY_LIFETIME_MS });
    const target = { port, backend: 'native', heartbeatRate: IDLE_HEARTBEAT_MS } as const;
    const concurrency = 200;
    const empty = await statsOf(server, { settleMs: 0, collect: true });
    const steps: MemoryStep[] = [];
    let collected = empty.collected;
    let failed = 0;
    let done = 0;
    for (const step of config.idleSteps) {
      // Connects that failed (a loaded machine) are made up for, up to a tenth of the sessions;
      // beyond that the step is sampled short, and the verdict says so.
      while (done < step && failed <= last / 10) {
        const count = Math.min(SOCKETS_PER_CLIENT_WORKER, step - done);
        progress(`sessions: idle memory, ${runLabel}, establishing ${done + 1}-${done + count} of ${last}`);
        const clients = await start('clients-idle');
        const run = await clients.call('handshakes', { ...target, count, concurrency, afterConnect: 'keep' }, handshakeTimeoutMs(count, concurrency));
        await clients.stop(); // exits without closing: its sessions stay on the server, idle
        failed += run.failed;
        done += run.completed;
      }
      progress(`sessions: idle memory, ${runLabel}, ${step} sessions, settling ${(ANSWER_SETTLE_MS / 1000).toFixed(1)} s`);
      const sample = await statsOf(server, { settleMs: ANSWER_SETTLE_MS, collect: true });
      collected &&= sample.collected;
      steps.push({ sessions: sample.sessions, memory: sample.memory });
    }
    return {
      empty: { sessions: empty.sessions, memory: empty.memory }, steps, requested: config.idleSteps, failed, collected, perSession: perSessionSlopes(steps),
    };
  });
}

/** One session to an echoing server: sequential 64 B echoes, then sequential pings. */
function loopbackLatency(config: SessionsConfig, progress: Progress): Promise<LoopbackLatency> {
  return withSessionWorkers(async (start) => {
    const { port } = await startServer(start, 'native', 1, true);
    const client = await start('client-latency');
    progress(`sessions: ${ECHO_PAYLOAD_BYTES} B echo round trips (${config.echo.durationMs} ms), then ping (${config.ping.durationMs} ms)`);
    const worstCase = (limits: LoopLimits): number => limits.durationMs + limits.warmup * 10;
    const run = await client.call('latency',
      { port, backend: 'native', heartbeatRate: IDLE_HEARTBEAT_MS, payloadBytes: ECHO_PAYLOAD_BYTES, echo: config.echo, ping: config.ping },
      worstCase(config.echo) + worstCase(config.ping) + CONNECT_BUDGET_MS + CALL_MARGIN_MS);
    return { payloadBytes: ECHO_PAYLOAD_BYTES, ...run };
  });
}

/**
 * Runs the network benchmarks, each with its own worker processes: the judged ones (capacity,
 * idle memory) `repeat` times with fresh processes each time, the others once.
 */
export async function runNetwork(config: SessionsConfig, repeat: number, rules: JudgeRules, progress: Progress): Promise<NetworkReport> {
  const loadAverage = loadavg()[0] ?? 0;
  const runLabel = (i: number): string => `run ${i + 1}/${repeat}`;
  const capacity: HandshakeCapacity[] = [];
  for (let i = 0; i < repeat; i++) {
    for (const plan of config.capacity) capacity.push(await handshakeCapacity(plan, runLabel(i), progress));
  }
  const judged = capacity.filter((c) => c.threads === null);
  const capacityJudgement = judge(HANDSHAKE_GOAL, judged.map((c) => c.perSec), rules,
    judged.flatMap((c, i) => (c.problem === null ? [] : [`run ${i + 1}: ${c.problem}`])));
  const handshakes: HandshakeThroughput[] = [];
  for (const plan of config.handshakes) handshakes.push(await handshakeThroughput(plan, progress));
  const memoryRuns: IdleMemoryRun[] = [];
  for (let i = 0; i < repeat; i++) memoryRuns.push(await idleMemoryRun(config, runLabel(i), progress));
  const latency = await loopbackLatency(config, progress);
  return {
    loadAverage, heartbeatMs: IDLE_HEARTBEAT_MS, rateLimit: BENCH_RATE_LIMIT, capacity, capacityJudgement, handshakes,
    idleMemory: { settleMs: ANSWER_SETTLE_MS, runs: memoryRuns, judgement: judgeIdleMemory(memoryRuns, rules) }, latency,
  };
}
