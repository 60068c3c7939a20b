/**
 * The one harness for the bench's worker processes, both ends of it. The sessions section
 * (session-worker.ts) and the transfer section (baseline-worker.ts) run their servers, clients
 * and baselines each in a forked process of its own, so on a 2-core machine each gets a core and
 * its CPU time and memory are its own. Both speak the same request/reply protocol over the IPC
 * channel, each with its own operations (an `Api`): the parent calls an operation with a deadline,
 * the worker answers it or says why not. Here: forking, the first `ready`, calls matched to their
 * replies, a stop that ends the process for sure, every worker of a run stopped when the run ends,
 * and the worker's side of all that.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** User + system CPU time of this process so far, in microseconds. */
export const cpuMicros = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Resolves true when `done` settles within `ms`, false otherwise; never rejects. */
function settlesWithin(done: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void done.finally(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A worker's operations: name → [what the parent sends, what the worker answers]. */
export type Api<A> = { readonly [O in keyof A]: readonly [params: object, result: unknown] };
type Params<A extends Api<A>, O extends keyof A> = A[O][0];
type Result<A extends Api<A>, O extends keyof A> = A[O][1];

/** Parent → worker: a request, or `exit` (the worker ends whatever it runs, then exits). */
type ToWorker = { readonly id: number; readonly op: string; readonly params: object } | { readonly op: 'exit' };

/** Worker → parent. */
type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'reply'; readonly id: number; readonly result: unknown }
  | { readonly kind: 'failure'; readonly id: number; readonly error: string };

function isFromWorker(value: unknown): value is FromWorker {
  if (!isRecord(value)) return false;
  if (value.kind === 'ready') return true;
  return (value.kind === 'reply' || (value.kind === 'failure' && typeof value.error === 'string')) && typeof value.id === 'number';
}

const READY_TIMEOUT_MS = 15_000;
/** How long a worker has to exit once asked, and then once killed. */
const EXIT_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;

interface Pending {
  resolve(result: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One forked worker, seen from the parent: requests out, replies matched to them by id. */
export class Worker<A extends Api<A>> {
  /** What it is called in errors and in its argv (its role). */
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  readonly #ready: Promise<void>;
  readonly #exited: Promise<void>;
  #exitStatus: string | null = null;
  #nextId = 1;

  /** Forks `script` (a file beside this one in dist/benchmarks/) with `name` as its argument. */
  private constructor(script: string, name: string, nodeFlags: readonly string[]) {
    this.name = name;
    let ready = (): void => undefined;
    this.#ready = new Promise((resolve) => {
      ready = resolve;
    });
    // The worker's stdout goes to our stderr, so a runner's `--json` output stays clean.
    this.#child = fork(fileURLToPath(new URL(script, import.meta.url)), [name], { execArgv: [...nodeFlags], stdio: ['ignore', 2, 'inherit', 'ipc'] });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exitStatus = signal === null ? `code ${code}` : `signal ${signal}`;
        this.#failAll(new Error(`${name} worker exited (${this.#exitStatus})`));
        resolve();
      });
    });
    this.#child.on('error', (err) => this.#failAll(new Error(`${name} worker: ${err.message}`)));
    this.#child.on('message', (message: unknown) => {
      if (!isFromWorker(message)) return;
      if (message.kind === 'ready') return ready();
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.kind === 'reply') pending.resolve(message.result);
      else pending.reject(new Error(`${name} worker: ${message.error}`));
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Forks a worker (with `nodeFlags`) and waits until it listens for requests. */
  static async start<A extends Api<A>>(script: string, name: string, nodeFlags: readonly string[] = []): Promise<Worker<A>> {
    const worker = new Worker<A>(script, name, nodeFlags);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        worker.#ready,
        worker.#exited.then(() => {
          throw new Error(`${name} worker exited before it was ready (${worker.#exitStatus})`);
        }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${name} worker not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      await worker.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return worker;
  }

  /** Sends one request; rejects if no reply arrives within `timeoutMs` or the worker dies. */
  call<O extends keyof A & string>(op: O, params: Params<A, O>, timeoutMs: number): Promise<Result<A, O>> {
    if (this.#exitStatus !== null) return Promise.reject(new Error(`${this.name} worker has exited (${this.#exitStatus})`));
    const id = this.#nextId++;
    return new Promise<Result<A, O>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name} worker: no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      // The worker answers `op` with its Result: the one place the protocol's typing is taken on trust.
      this.#pending.set(id, { resolve: (result) => resolve(result as Result<A, O>), reject, timer });
      this.#post({ id, op, params }, (err) => this.#failAll(new Error(`${this.name} worker: cannot send ${op}: ${err.message}`)));
    });
  }

  /** Asks the worker to exit, waits a little, then kills it. */
  async stop(): Promise<void> {
    if (this.#exitStatus !== null) return;
    if (this.#child.connected) this.#post({ op: 'exit' }, () => undefined);
    if (await settlesWithin(this.#exited, EXIT_GRACE_MS)) return;
    this.#child.kill('SIGKILL');
    await settlesWithin(this.#exited, KILL_WAIT_MS);
  }

  #post(message: ToWorker, failed: (err: Error) => void): void {
    this.#child.send(message, (err) => {
      if (err) failed(err);
    });
  }

  #failAll(err: Error): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.#pending.clear();
  }
}

/** Starts a worker of the run; it is stopped when the run ends. */
export type StartWorker<A extends Api<A>> = (name: string, nodeFlags?: readonly string[]) => Promise<Worker<A>>;

/** Runs `body` with a way to start workers of `script`; every worker it started is stopped afterwards, even on error. */
export async function withWorkers<A extends Api<A>, T>(script: string, body: (start: StartWorker<A>) => Promise<T>): Promise<T> {
  const started: Worker<A>[] = [];
  try {
    return await body(async (name, nodeFlags) => {
      const worker = await Worker.start<A>(script, name, nodeFlags);
      started.push(worker);
      return worker;
    });
  } finally {
    await Promise.all(started.map((worker) => worker.stop()));
  }
}

/** The worker's answer to each operation. */
export type Handlers<A extends Api<A>> = { readonly [O in keyof A]: (params: Params<A, O>) => Promise<Result<A, O>> };

/**
 * The worker's end: refuses to run unless forked, answers every request with its handler,
 * calls `exit` (code 0 when asked, 1 when the parent is gone or the worker outlived `lifetimeMs`:
 * a parent that hung must not leave it running), and says `ready`.
 */
export function serveRequests<A extends Api<A>>(what: string, lifetimeMs: number, handlers: Handlers<A>, exit: (code: number) => void): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    process.stderr.write(`${what} is forked by the benchmarks (npm run bench); it does not run on its own\n`);
    process.exit(2);
  }
  // With a callback a failed send is not an 'error' event, which would crash the worker when the
  // parent died first; the worker exits on the disconnect that follows anyway.
  const reply = (message: FromWorker): void => {
    if (process.connected) send(message, undefined, undefined, () => undefined);
  };
  const isOperation = (op: unknown): op is keyof A & string => typeof op === 'string' && Object.hasOwn(handlers, op);
  process.on('message', (message: unknown) => {
    if (!isRecord(message)) return;
    if (message.op === 'exit') return exit(0);
    const { id, op, params } = message;
    if (typeof id !== 'number' || !isOperation(op) || !isRecord(params)) return;
    // The parent sends `op` its Params: taken on trust, as the replies are on the parent's side.
    const handler = handlers[op] as (params: object) => Promise<unknown>;
    handler(params).then(
      (result) => reply({ kind: 'reply', id, result }),
      (err: unknown) => reply({ kind: 'failure', id, error: errorText(err) }),
    );
  });
  process.on('disconnect', () => exit(1));
  setTimeout(() => {
    process.stderr.write(`${what} ${process.argv[2] ?? ''}: lifetime limit reached, exiting\n`);
    exit(1);
  }, lifetimeMs).unref();
  reply({ kind: 'ready' });
}
