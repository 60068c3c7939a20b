import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AEAD_KEY_BYTES, HANDSHAKE_THREAD_STOP_MS, MAX_QUEUED_HANDSHAKES } from '../../constants.js';
import type { X25519KeyPair } from '../../crypto/x25519-key-pair.js';
import type { NetworkKeys } from '../../crypto/network-key.js';
import type { Initiation } from '../../protocol/handshake-v2.js';
import { packagePath } from '../../package-root.js';
import type { Answer, AnswerRequest } from './answer.js';

/** What a handshake thread is started with (its workerData). */
export interface ThreadSetup {
  backend: 'native' | 'js';
  /** A copy of the server identity's secret key; the thread wipes it once loaded. */
  identitySecret: Uint8Array<ArrayBuffer>;
  /** The keys derived from the network key (the raw key never reaches a thread). */
  networkKeys: NetworkKeys | null;
}

/** A batch of requests, socket thread to handshake thread. */
export interface JobBatch {
  jobs: { id: number; request: AnswerRequest }[];
}

/** Socket thread to handshake thread: wipe the identity and exit (after the batches before it). */
export interface StopMessage {
  stop: true;
}

/** Answers to a batch: `keys` is send || receive (transferred, so no copy stays behind); `reply` null means a low-order key. */
export interface ResultBatch {
  results: { id: number; reply: Uint8Array | null; keys: Uint8Array | null; error?: string }[];
}

/** How a request ended: answered, refused for a low-order key, or lost with a thread that failed. */
export type ThreadOutcome = Answer | 'low-order' | 'failed';

interface Lane {
  worker: Worker;
  outstanding: number;
}

interface Waiting {
  lane: Lane;
  done: (outcome: ThreadOutcome) => void;
}

export interface HandshakeThreadsOptions {
  threads: number;
  backend: 'native' | 'js';
  identity: X25519KeyPair;
  networkKeys?: NetworkKeys;
  /** A thread failed; its requests ended as 'failed'. */
  onFailure(err: Error): void;
}

/** The worker's module, never bundled: a thread loads it on its own (its path holds for the CLI's bundle too). */
const WORKER_URL = pathToFileURL(packagePath('dist', 'lib', 'net', 'handshake', 'worker.js'));

/**
 * Handshake threads, as wireguard-go's per-CPU handshake routines: the X25519 work and key
 * schedule of version-2 handshakes run off the socket thread, which only validates `connect`s
 * and files sessions. Requests that arrive in one turn of the event loop go out as one message
 * per thread, to the thread with the least outstanding work.
 */
export class HandshakeThreads {
  readonly #lanes: Lane[] = [];
  readonly #waiting = new Map<number, Waiting>();
  readonly #onFailure: (err: Error) => void;
  #queue: { id: number; request: AnswerRequest; done: (outcome: ThreadOutcome) => void }[] = [];
  #flushing = false;
  #nextId = 0;

  constructor(options: HandshakeThreadsOptions) {
    this.#onFailure = options.onFailure;
    for (let i = 0; i < options.threads; i++) {
      const setup: ThreadSetup = {
        backend: options.backend,
        identitySecret: options.identity.exportSecretKey(),
        networkKeys: options.networkKeys ?? null,
      };
      let worker: Worker;
      try {
        // Moved, not copied: no serialized copy of the identity is left on this side.
        worker = new Worker(WORKER_URL, { workerData: setup, transferList: [setup.identitySecret.buffer] });
      } catch (err) {
        setup.identitySecret.fill(0);
        void this.close();
        throw err;
      }
      const lane: Lane = { worker, outstanding: 0 };
      worker.unref();
      worker.on('message', (batch: ResultBatch) => this.settle(lane, batch));
      worker.on('error', (err) => this.fail(lane, err));
      worker.on('exit', (code) => this.fail(lane, new Error(`handshake thread exited with code ${code}`)));
      this.#lanes.push(lane);
    }
  }

  /** False once every thread has failed (or close() ran): handshakes are then done inline. */
  get usable(): boolean {
    return this.#lanes.length > 0;
  }

  /** Queues `request`; false, and nothing queued, when MAX_QUEUED_HANDSHAKES are already out. */
  submit(request: AnswerRequest, done: (outcome: ThreadOutcome) => void): boolean {
    if (this.#queue.length + this.#waiting.size >= MAX_QUEUED_HANDSHAKES) return false;
    this.#queue.push({ id: this.#nextId++, request, done });
    if (!this.#flushing) {
      this.#flushing = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /**
   * Stops every thread: each wipes its copy of the identity and exits once the batches before
   * the stop are done; their answers are wiped here unread. A thread that takes longer than
   * HANDSHAKE_THREAD_STOP_MS is terminated.
   */
  async close(): Promise<void> {
    const lanes = this.#lanes.splice(0);
    this.#queue = [];
    this.#waiting.clear();
    await Promise.all(lanes.map(async (lane) => {
      lane.worker.postMessage({ stop: true } satisfies StopMessage);
      const exited = once(lane.worker, 'exit').then(() => true, () => true);
      if (!(await Promise.race([exited, sleep(HANDSHAKE_THREAD_STOP_MS, false)]))) await lane.worker.terminate();
    }));
  }

  private flush(): void {
    this.#flushing = false;
    const queue = this.#queue;
    this.#queue = [];
    if (this.#lanes.length === 0) {
      for (const job of queue) job.done('failed');
      return;
    }
    const batches = new Map<Lane, JobBatch>();
    for (const job of queue) {
      const lane = this.#lanes.reduce((best, candidate) => (candidate.outstanding < best.outstanding ? candidate : best));
      lane.outstanding++;
      this.#waiting.set(job.id, { lane, done: job.done });
      let batch = batches.get(lane);
      if (batch === undefined) batches.set(lane, (batch = { jobs: [] }));
      batch.jobs.push({ id: job.id, request: { ...job.request, init: ownCopy(job.request.init) } });
    }
    for (const [lane, batch] of batches) lane.worker.postMessage(batch);
  }

  private settle(lane: Lane, batch: ResultBatch): void {
    for (const result of batch.results) {
      const waiting = this.#waiting.get(result.id);
      if (waiting === undefined) {
        // Its request was given up (close()): nobody will use or wipe these keys but us.
        result.keys?.fill(0);
        continue;
      }
      this.#waiting.delete(result.id);
      lane.outstanding--;
      if (result.error !== undefined) {
        waiting.done('failed');
      } else if (result.reply === null || result.keys === null) {
        waiting.done('low-order');
      } else {
        const { keys } = result;
        waiting.done({
          reply: Buffer.from(result.reply.buffer, result.reply.byteOffset, result.reply.byteLength),
          keys: { send: keys.subarray(0, AEAD_KEY_BYTES), receive: keys.subarray(AEAD_KEY_BYTES, 2 * AEAD_KEY_BYTES), confirm: keys.subarray(2 * AEAD_KEY_BYTES) },
        });
      }
    }
  }

  private fail(lane: Lane, err: Error): void {
    const at = this.#lanes.indexOf(lane);
    if (at < 0) return;
    this.#lanes.splice(at, 1);
    void lane.worker.terminate();
    this.#onFailure(err);
    for (const [id, waiting] of this.#waiting) {
      if (waiting.lane !== lane) continue;
      this.#waiting.delete(id);
      waiting.done('failed');
    }
  }
}

/**
 * What a thread needs of an initiation, in buffers of its own: a view into a pooled Buffer
 * would be cloned with its whole slab. The cookie has done its job.
 */
function ownCopy(init: Initiation): Initiation {
  return {
    version: init.version,
    ephemeralPublic: Uint8Array.from(init.ephemeralPublic),
    index: init.index,
    clientStatic: init.clientStatic && Uint8Array.from(init.clientStatic),
  };
}
