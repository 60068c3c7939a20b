import { EventEmitter } from 'node:events';
import { HostKeyMismatchError } from '../trust/known-hosts.js';
import { connect, type ConnectOptions } from './client.js';
import { sleep } from './ping.js';
import type { CloseReason, Session } from './session.js';

export interface PersistentClientEvents {
  /** A session is (again) established. */
  session: [Session];
  /** The session ended for a reason other than stop(); a reconnect follows. */
  lost: [CloseReason];
  /** A handshake failed; the next attempt starts after `delayMs`. */
  retry: [delayMs: number, error: Error];
}

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

/**
 * Keeps a session to one server alive: when it dies (timeout, server closed or restarted) it
 * handshakes again, with exponential backoff between failed attempts, until stop().
 */
export class PersistentClient extends EventEmitter<PersistentClientEvents> {
  readonly #options: ConnectOptions;
  readonly #stop = new AbortController();
  #session: Session | null = null;

  constructor(options: ConnectOptions) {
    super();
    this.#options = options;
  }

  get session(): Session | null {
    return this.#session;
  }

  /**
   * Runs until stop(); resolves once stopped. Every failure is retried with backoff (an
   * unreachable network, a name that does not resolve yet, a server that is down) except a
   * changed server identity, which rejects: retrying cannot make that safe.
   */
  async run(): Promise<void> {
    const signal = this.#stop.signal;
    let backoff = FIRST_BACKOFF_MS;
    while (!signal.aborted) {
      let session: Session;
      try {
        session = await connect({ ...this.#options, signal });
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof HostKeyMismatchError || !(err instanceof Error)) throw err;
        this.emit('retry', backoff, err);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      backoff = FIRST_BACKOFF_MS;
      this.#session = session;
      this.emit('session', session);
      const reason = await new Promise<CloseReason>((resolve) => {
        const onStop = (): void => session.close('local');
        signal.addEventListener('abort', onStop, { once: true });
        session.once('close', (why) => {
          signal.removeEventListener('abort', onStop);
          resolve(why);
        });
      });
      this.#session = null;
      if (!signal.aborted) this.emit('lost', reason);
    }
  }

  /** Closes the current session (telling the server) and ends run(). */
  stop(): void {
    this.#stop.abort();
  }
}
