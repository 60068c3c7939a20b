/**
 * The one harness for the bench's worker processes, both ends of it. The sessions section
 * (session-rpc.ts, session-worker.ts) and the transfer section (baselines.ts, baseline-worker.ts)
 * run their servers, clients and baselines each in a forked process of its own, so on a 2-core
 * machine each gets a core and its CPU time and memory are its own. Each section speaks its own
 * messages over the IPC channel; what they share is here: forking, the first `ready`, exit
 * tracking, a stop that ends the process for sure, and the worker's side of the same.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Resolves true when `done` settles within `ms`, false otherwise; never rejects. */
export function settlesWithin(done: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void done.finally(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The first message of every worker, before any of its section's own. */
export interface Ready {
  readonly kind: 'ready';
}

export const isReady = (message: unknown): message is Ready => isRecord(message) && message.kind === 'ready';

/** How long a worker has to exit once asked, and then once killed. */
const EXIT_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;

/** One forked worker, seen from the parent: its messages, its exit, and a stop that always ends it. */
export class WorkerProcess {
  /** What it is called in errors and in its argv (its role). */
  readonly name: string;
  readonly #child: ChildProcess;
  /** Settles when the process has exited, however it ended. */
  readonly exited: Promise<void>;
  #exitStatus: string | null = null;

  /**
   * Forks `script` (a file beside this one in dist/benchmarks/) with `name` as its argument.
   * `onMessage` gets every message, `ready` included; `onError`, a failure to fork or to talk to
   * it; `onExit`, how it ended.
   */
  constructor(script: string, name: string,
    handlers: { onMessage(message: unknown): void; onError(err: Error): void; onExit(status: string): void },
    execArgv: readonly string[] = []) {
    this.name = name;
    // The worker's stdout goes to our stderr, so a runner's `--json` output stays clean.
    this.#child = fork(fileURLToPath(new URL(script, import.meta.url)), [name], { execArgv: [...execArgv], stdio: ['ignore', 2, 'inherit', 'ipc'] });
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exitStatus = signal === null ? `code ${code}` : `signal ${signal}`;
        handlers.onExit(this.#exitStatus);
        resolve();
      });
    });
    this.#child.on('error', (err) => handlers.onError(err));
    this.#child.on('message', (message: unknown) => handlers.onMessage(message));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How it exited (`code 0`, `signal SIGKILL`); null while it runs. */
  get exitStatus(): string | null {
    return this.#exitStatus;
  }

  /** Sends `message`; `failed` hears why it could not be sent. */
  post(message: object, failed: (err: Error) => void): void {
    this.#child.send(message, (err) => {
      if (err) failed(err);
    });
  }

  /** Asks the worker to end (`ask`, when it still listens), waits a little, then kills it. */
  async stop(ask: () => void): Promise<void> {
    if (this.#exitStatus !== null) return;
    if (this.#child.connected) ask();
    if (await settlesWithin(this.exited, EXIT_GRACE_MS)) return;
    this.#child.kill('SIGKILL');
    await settlesWithin(this.exited, KILL_WAIT_MS);
  }

  /** Disconnects the IPC channel: a worker takes that as its parent gone. */
  disconnect(): void {
    this.#child.disconnect();
  }
}

/**
 * The worker's end: refuses to run unless forked, hands every message from the parent to
 * `onMessage`, calls `onParentGone` when the parent disconnects, ends a worker that outlives
 * `lifetimeMs` (a parent that hung must not leave it running), and says `ready`.
 */
export function serveParent(what: string, lifetimeMs: number, handlers: {
  onMessage(message: unknown): void;
  onParentGone(): void;
  onLifetimeOver(): void;
}): void {
  if (process.send === undefined) {
    process.stderr.write(`${what} is forked by the benchmarks (npm run bench); it does not run on its own\n`);
    process.exit(2);
  }
  process.on('message', (message: unknown) => handlers.onMessage(message));
  process.on('disconnect', () => handlers.onParentGone());
  setTimeout(() => {
    process.stderr.write(`${what} ${process.argv[2] ?? ''}: lifetime limit reached, exiting\n`);
    handlers.onLifetimeOver();
  }, lifetimeMs).unref();
  const ready: Ready = { kind: 'ready' };
  process.send(ready);
}
