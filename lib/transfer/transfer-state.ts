import type { TransferMessage, TransferMessageType } from '../protocol/transfer.js';
import type { FileSink } from './files.js';
import type { StreamReceiver } from './receiver.js';
import type { StreamSender } from './sender.js';

/**
 * Where a transfer is in its life. Transitions (anything else is a bug, and throws):
 *
 *   opening ─► open ─► resuming ─► finishing ─► checking ─► finished
 *      │        │ │       │  ▲         │            └─────► failed
 *      │        │ └───────┼──┘         │
 *      │        └─────────┼────────────┼──────────────────► finished, failed (a sender: the receiver's `result`)
 *      └────────┴─────────┴────────────┴─► stopping ──────► failed, finished (a sender: a `result` came first)
 *   (and every live state but checking ─► failed)
 *
 * - opening: we started it and the peer has heard nothing yet, so an abort would tell it nothing
 *   (only our paths): failing from here sends none.
 * - open: the peer knows of it (it sent the request, or we sent ours): control messages and data flow.
 * - resuming: the receiver of the peer's upload took its one resume question (the part file may
 *   be emptied meanwhile); a second one is ignored.
 * - finishing: the receiver has the sender's `done` and waits for its last data and writes; a repeated
 *   `done` is answered `checking`.
 * - checking: the receiver syncs and hashes the file; a stop is not honoured here: the check runs
 *   to its end and the result goes out either way. A repeated `done` is answered `checking`.
 * - stopping: told to stop (the peer's abort, Ctrl-C, the session closed, a deadline): the run
 *   ends at its next wait, and fails with `reason`. Unless that wait was a sender's for the
 *   receiver's `result` and the result came first: a receiver that closes its session as soon as
 *   it has answered stops the sender between the answer and the sender's turn to read it, and the
 *   transfer did finish.
 * - finished, failed: ended (failed: also when the receiver's check refused the file). Kept a
 *   while (TransferTable) to answer repeats of the last messages.
 */
export type TransferState =
  | { readonly kind: 'opening' }
  | { readonly kind: 'open' }
  | { readonly kind: 'resuming' }
  | { readonly kind: 'finishing' }
  | { readonly kind: 'checking' }
  | { readonly kind: 'stopping'; readonly reason: string; readonly peerKnows: boolean }
  | { readonly kind: 'finished' }
  | { readonly kind: 'failed'; readonly reason: string };

export type TransferStateKind = TransferState['kind'];

const NEXT: Readonly<Record<TransferStateKind, readonly TransferStateKind[]>> = {
  opening: ['open', 'stopping', 'failed'],
  open: ['resuming', 'finishing', 'stopping', 'finished', 'failed'],
  resuming: ['finishing', 'stopping', 'failed'],
  finishing: ['checking', 'stopping', 'failed'],
  checking: ['finished', 'failed'],
  stopping: ['failed', 'finished'],
  finished: [],
  failed: [],
};

/** A message of the peer's that the transfer waits for (control.ts). */
export interface Waiter {
  types: readonly TransferMessageType[];
  resolve(message: TransferMessage): void;
}

/** One transfer on an endpoint, whichever side started it. */
export class TransferRecord {
  readonly id: number;
  readonly direction: 'send' | 'receive';
  /** The file's name ('' for a bandwidth test). */
  readonly name: string;
  readonly startedByUs: boolean;
  #state: TransferState;
  sender?: StreamSender;
  receiver?: StreamReceiver;
  /** The part file of the peer's upload. */
  sink?: FileSink;
  /** The peer said it reads short data frames (its request or its accept had `short`): our file data goes to it in them. */
  peerReadsShortData = false;
  /** Our answer to each request type the peer sent, repeated when the request is (control.ts). */
  readonly answers = new Map<TransferMessageType, TransferMessage>();
  /* The control channel's bookkeeping of the current wait (control.ts). */
  waiter?: Waiter;
  retry?: NodeJS.Timeout;
  /** Sender waiting for `result`: the receiver says it is still checking. */
  keepAlive?: () => void;
  /** Ends the current wait at once; a stop between waits is seen by the next one. */
  interrupt?: (reason: string) => void;

  constructor(id: number, direction: 'send' | 'receive', name: string, startedByUs: boolean) {
    this.id = id;
    this.direction = direction;
    this.name = name;
    this.startedByUs = startedByUs;
    // The peer's transfers begin with its request, so it knows of them from the start.
    this.#state = startedByUs ? { kind: 'opening' } : { kind: 'open' };
  }

  get state(): TransferState {
    return this.#state;
  }

  /** Ended, well or not. */
  get finished(): boolean {
    return this.#state.kind === 'finished' || this.#state.kind === 'failed';
  }

  /** Why it must stop, or why it failed; undefined while it may go on. */
  get stopReason(): string | undefined {
    const state = this.#state;
    return state.kind === 'stopping' || state.kind === 'failed' ? state.reason : undefined;
  }

  /** Whether the peer has heard of this transfer (so an abort means something to it). */
  get peerKnows(): boolean {
    const state = this.#state;
    return state.kind === 'stopping' ? state.peerKnows : state.kind !== 'opening';
  }

  is(kind: TransferStateKind): boolean {
    return this.#state.kind === kind;
  }

  /** Moves to `next`; throws on a transition the diagram above does not have. */
  to(next: TransferState): void {
    if (!NEXT[this.#state.kind].includes(next.kind)) throw new Error(`transfer ${this.id}: no transition from ${this.#state.kind} to ${next.kind}`);
    this.#state = next;
  }

  /** The first message to the peer about this transfer is going out. */
  contacted(): void {
    if (this.#state.kind === 'opening') this.to({ kind: 'open' });
  }

  /**
   * Asks the transfer to stop: true when it will (its next wait ends it), false when it cannot
   * (it has ended, or it is checking: the result goes out either way) or was told already.
   */
  stop(reason: string): boolean {
    const kind = this.#state.kind;
    if (kind === 'stopping' || kind === 'checking' || this.finished) return false;
    this.to({ kind: 'stopping', reason, peerKnows: this.peerKnows });
    return true;
  }
}
