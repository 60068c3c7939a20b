import { clock } from '../time.js';

/** A refusal the server logs (the rest of the drops are only counted), and what it tells the operator. */
export type LoggedRefusal = 'unauthorized' | 'bad-token' | 'stale-connect' | 'seed-refused';

/** Sources remembered at once: past this, a line is skipped rather than the table grown by a flood. */
const MAX_SOURCES = 4096;

/**
 * Rate limit for log lines about refused clients: at most one line per cause per source address
 * every `intervalMs`, so a client retrying its handshake (50 times by default) or a flood of junk
 * makes one line, not thousands. `now` is injectable for tests.
 */
export class RefusalLog {
  readonly #lastLogged = new Map<string, number>();
  /** When the full table was last swept: a flood from many addresses must not cost a sweep per datagram. */
  #sweptAt = -Infinity;
  #sweeps = 0;

  constructor(readonly intervalMs: number, readonly now: () => number = clock, readonly maxSources = MAX_SOURCES) {}

  /** How many times the full table was swept for expired sources. */
  get sweeps(): number {
    return this.#sweeps;
  }

  /** Whether a line about `cause` from `address` is due; when it is, the time is noted. */
  due(cause: string, address: string): boolean {
    const now = this.now();
    const key = `${cause} ${address}`;
    const last = this.#lastLogged.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    if (last === undefined && this.#lastLogged.size >= this.maxSources) {
      if (now - this.#sweptAt < this.intervalMs / 16) return false;
      this.#sweptAt = now;
      this.#sweeps++;
      for (const [k, at] of this.#lastLogged) if (now - at >= this.intervalMs) this.#lastLogged.delete(k);
      if (this.#lastLogged.size >= this.maxSources) return false;
    }
    this.#lastLogged.set(key, now);
    return true;
  }
}

/** Why each logged refusal happened, in the operator's words; `networkKey`: whether this server has one. */
export function refusalReason(reason: string, networkKey: boolean): string | undefined {
  switch (reason) {
    case 'unauthorized': return 'its client key is not in the authorized keys (or it showed none)';
    case 'bad-token': return networkKey
      ? 'its handshake does not decrypt under this server\'s network key (no --key-file, or another key)'
      : 'its handshake does not decrypt (it uses a network key, which this server does not have)';
    case 'stale-connect': return 'its handshake is too old or dated in the future (a replay, or a clock far off)';
    case 'seed-refused': return 'it speaks only the original, unauthenticated protocol, which this server does not accept';
    default: return undefined;
  }
}
