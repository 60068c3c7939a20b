import { DEFAULT_RECEIVE_BUDGET_BYTES, RECEIVE_BUDGET_HOST_DIVISOR, RECEIVE_WINDOW_BYTES } from '../constants.js';

/** Memory one receiving transfer may hold, reserved from a ReceiveBudget until released. */
export interface Grant {
  /** Bytes reserved: the receiver's window (it advertises no more than this beyond what it wrote). */
  readonly bytes: number;
  /** Reserves `extra` bytes more, for a window that grows; false (nothing reserved) if they do not fit. */
  grow(extra: number): boolean;
  /** Bytes the receiver holds now (set by whoever owns the grant: the receiver). */
  held: () => number;
  /** Gives the reservation back; only the first call counts. */
  release(): void;
}

/**
 * Received data a server holds in memory, over all transfers and per host. A receiving transfer
 * reserves its whole window when it starts (and more as the window grows), so what every receiver holds (out-of-order segments
 * and data waiting for the disk, each bounded by its window) never exceeds the budget, and no
 * window has to shrink under a sender that already counts on it. A transfer whose window does not
 * fit is refused with a reason; nothing waits for room.
 */
export class ReceiveBudget {
  readonly total: number;
  readonly perHost: number;
  #reserved = 0;
  readonly #byHost = new Map<string, number>();
  readonly #grants = new Set<Grant>();

  /** `perHost` defaults to a quarter of the total, and is never less than one receive window (nor more than the total). */
  constructor(total = DEFAULT_RECEIVE_BUDGET_BYTES, perHost = Math.max(RECEIVE_WINDOW_BYTES, Math.floor(total / RECEIVE_BUDGET_HOST_DIVISOR))) {
    if (!Number.isSafeInteger(total) || total < RECEIVE_WINDOW_BYTES) throw new RangeError(`a receive budget must be at least one receive window (${RECEIVE_WINDOW_BYTES} bytes)`);
    this.total = total;
    this.perHost = Math.min(total, perHost);
  }

  /** Bytes reserved by live grants. */
  get reserved(): number {
    return this.#reserved;
  }

  /** Bytes reserved by live grants of `host`. */
  reservedBy(host: string): number {
    return this.#byHost.get(host) ?? 0;
  }

  /** Bytes the receivers hold now (each at most its grant): what the budget bounds, measured. */
  held(): number {
    let bytes = 0;
    for (const grant of this.#grants) bytes += grant.held();
    return bytes;
  }

  /** Reserves `bytes` for a receiver of `host`'s; a reason instead when that does not fit. */
  reserve(host: string, bytes: number): Grant | string {
    const refusal = this.#refusal(host, bytes);
    if (refusal !== null) return refusal;
    let reserved = 0;
    let released = false;
    const take = (more: number): void => {
      reserved += more;
      this.#reserved += more;
      this.#byHost.set(host, this.reservedBy(host) + more);
    };
    take(bytes);
    const grant: Grant = {
      get bytes() {
        return reserved;
      },
      held: () => 0,
      grow: (extra) => {
        if (released || this.#refusal(host, extra) !== null) return false;
        take(extra);
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#grants.delete(grant);
        this.#reserved -= reserved;
        const left = this.reservedBy(host) - reserved;
        if (left > 0) this.#byHost.set(host, left);
        else this.#byHost.delete(host);
      },
    };
    this.#grants.add(grant);
    return grant;
  }

  /** Why `bytes` more for `host` do not fit, or null if they do. */
  #refusal(host: string, bytes: number): string | null {
    const byHost = this.reservedBy(host);
    if (byHost + bytes > this.perHost) {
      return `this client already has ${mebibytes(byHost)} of ${mebibytes(this.perHost)} of received data in flight on this server; try again when a transfer ends`;
    }
    if (this.#reserved + bytes > this.total) {
      return `this server is holding all the received data it allows (${mebibytes(this.total)}); try again later`;
    }
    return null;
  }
}

function mebibytes(bytes: number): string {
  return `${Number((bytes / 1024 / 1024).toFixed(1))} MiB`;
}
