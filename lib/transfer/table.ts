import { MAX_TRANSFER_ID } from '../constants.js';
import { TransferError } from './transfer-error.js';
import { TransferRecord } from './transfer-state.js';

/** Most transfers one peer may have going at once on our side. */
export const MAX_TRANSFERS_PER_SESSION = 16;
/** Ended transfers remembered, to answer a repeated `done` or acknowledge a late retransmission. */
export const FINISHED_REMEMBERED = 64;

/**
 * The transfers of one session by id. Each end allocates ids of its own parity (the client odd,
 * the server even: PROTOCOL.md), so the two never pick the same one; an id of the peer's parity
 * is one the peer may start. Ended transfers stay, up to FINISHED_REMEMBERED, to answer repeats.
 */
export class TransferTable {
  readonly #transfers = new Map<number, TransferRecord>();
  #nextId: number;

  constructor(role: 'client' | 'server') {
    this.#nextId = role === 'client' ? 1 : 2;
  }

  get(id: number): TransferRecord | undefined {
    return this.#transfers.get(id);
  }

  /** Transfers in progress. */
  get active(): number {
    let n = 0;
    for (const transfer of this.#transfers.values()) if (!transfer.finished) n++;
    return n;
  }

  /** The peer may start no more (MAX_TRANSFERS_PER_SESSION in progress). */
  get full(): boolean {
    return this.active >= MAX_TRANSFERS_PER_SESSION;
  }

  /** An id the peer allocates (the other parity): one it may start a transfer with. */
  isPeers(id: number): boolean {
    return id % 2 !== this.#nextId % 2;
  }

  /** A transfer we start, under a fresh id of our parity. */
  start(direction: TransferRecord['direction'], name: string): TransferRecord {
    return this.add(this.#allocateId(), direction, name, true);
  }

  add(id: number, direction: TransferRecord['direction'], name: string, startedByUs: boolean): TransferRecord {
    const transfer = new TransferRecord(id, direction, name, startedByUs);
    this.#transfers.set(id, transfer);
    return transfer;
  }

  /** Forgets a transfer the peer asked for and was refused before it started. */
  delete(id: number): void {
    this.#transfers.delete(id);
  }

  /** Transfers not yet ended. */
  live(): TransferRecord[] {
    return [...this.#transfers.values()].filter((transfer) => !transfer.finished);
  }

  /** Forgets the oldest ended transfers beyond FINISHED_REMEMBERED. */
  forgetOldest(): void {
    let excess = this.#transfers.size - FINISHED_REMEMBERED - this.active;
    for (const [id, transfer] of this.#transfers) {
      if (excess <= 0) return;
      if (!transfer.finished) continue;
      this.#transfers.delete(id);
      excess--;
    }
  }

  #allocateId(): number {
    for (let tries = 0; tries < MAX_TRANSFER_ID; tries++) {
      const id = this.#nextId;
      this.#nextId = this.#nextId + 2 > MAX_TRANSFER_ID ? this.#nextId % 2 || 2 : this.#nextId + 2;
      if (!this.#transfers.has(id)) return id;
    }
    throw new TransferError('no free transfer id');
  }
}
