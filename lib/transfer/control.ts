import { CONTROL_RETRY_MS } from '../constants.js';
import type { BittrrtError } from '../errors.js';
import { encodeMessage, TransferFlags, type TransferMessage, type TransferMessageType } from '../protocol/transfer.js';
import { clock } from '../time.js';
import type { TransferPort } from './port.js';
import { FINISHED_REMEMBERED } from './table.js';
import { TransferError } from './transfer-error.js';
import type { TransferRecord } from './transfer-state.js';

/** Longest pause between two sends of an unanswered control message. */
const MAX_CONTROL_RETRY_MS = 2000;

/**
 * The control messages of one session's transfers (protocol/transfer.ts): a request is sent
 * again, backing off, until its answer arrives; our answer to each request is kept and sent again
 * when the request is repeated (its first answer was lost); a refusal is remembered by id. Every
 * wait ends at once when its transfer is told to stop.
 */
export class ControlChannel {
  readonly #port: TransferPort;
  readonly #stallMs: number;
  /** Requests refused lately, by id, with the reason. */
  readonly #refused = new Map<number, string>();
  /** Transfers stopped because the peer aborted them. */
  readonly #endedByPeer = new WeakSet<TransferRecord>();
  /** Transfers stopped with an error of their own (stopWith), which their waits reject with. */
  readonly #stopErrors = new WeakMap<TransferRecord, BittrrtError>();

  constructor(port: TransferPort, stallMs: number) {
    this.#port = port;
    this.#stallMs = stallMs;
  }

  send(id: number, message: TransferMessage): void {
    this.#port.sendFrame({ flags: TransferFlags.CONTROL, channel: id, sequence: 0, offset: 0 }, encodeMessage(message));
  }

  /** Answers the peer's request `to`; a repeat of that request gets the same answer. */
  answer(transfer: TransferRecord, to: TransferMessageType, answer: TransferMessage): void {
    transfer.answers.set(to, answer);
    this.send(transfer.id, answer);
  }

  /** Refuses a request; a repeat of it (already in flight) gets the same answer. */
  refuse(id: number, reason: string): void {
    this.#refused.set(id, reason);
    if (this.#refused.size > FINISHED_REMEMBERED) this.#refused.delete(this.#refused.keys().next().value!);
    this.send(id, { type: 'reject', reason });
  }

  /** Why the request with `id` was refused lately, if it was. */
  refusal(id: number): string | undefined {
    return this.#refused.get(id);
  }

  /**
   * A message about a transfer: a repeat of a request we answered gets the same answer again, and
   * a message the transfer waits for ends its wait. False when it was neither.
   */
  deliver(transfer: TransferRecord, message: TransferMessage): boolean {
    const repeated = transfer.answers.get(message.type);
    if (repeated) {
      this.send(transfer.id, repeated);
      return true;
    }
    const { waiter } = transfer;
    if (!waiter?.types.includes(message.type)) return false;
    transfer.waiter = undefined;
    clearTimeout(transfer.retry);
    waiter.resolve(message);
    return true;
  }

  /**
   * Tells a transfer to stop: its current wait ends now, or the next check throws. `byPeer`: the
   * peer aborted it, so its TransferError's origin says so (and nobody tells the peer again).
   */
  stop(transfer: TransferRecord, reason: string, byPeer = false): void {
    if (!transfer.stop(reason)) return;
    if (byPeer) this.#endedByPeer.add(transfer);
    transfer.interrupt?.(reason);
  }

  /** Tells a transfer to stop as stop() does, its waits rejecting with `error` (a PeerSilentError, its sender's failure). */
  stopWith(transfer: TransferRecord, error: BittrrtError): void {
    if (!transfer.stop(error.message)) return;
    this.#stopErrors.set(transfer, error);
    transfer.interrupt?.(error.message);
  }

  checkStopped(transfer: TransferRecord): void {
    const reason = transfer.stopReason;
    if (reason !== undefined) throw this.#stopped(transfer, reason);
  }

  #stopped(transfer: TransferRecord, reason: string): BittrrtError {
    return this.#stopErrors.get(transfer) ?? new TransferError(reason, { origin: this.#endedByPeer.has(transfer) ? 'peer' : 'local' });
  }

  /** Waits for `body` to settle, ending early (rejecting) when the transfer is stopped. */
  wait<T>(transfer: TransferRecord, body: (resolve: (value: T) => void, reject: (err: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const reason = transfer.stopReason;
      if (reason !== undefined) return reject(this.#stopped(transfer, reason));
      transfer.interrupt = (why) => reject(this.#stopped(transfer, why));
      body(resolve, reject);
    }).finally(() => {
      transfer.interrupt = undefined;
      transfer.waiter = undefined;
    });
  }

  /** Waits for the peer's request of `type` about a transfer it started; gives up after the stall time. */
  awaitRequest<T extends TransferMessageType>(transfer: TransferRecord, type: T): Promise<Extract<TransferMessage, { type: T }>> {
    let timer: NodeJS.Timeout | undefined;
    return this.wait<Extract<TransferMessage, { type: T }>>(transfer, (resolve, reject) => {
      timer = setTimeout(() => reject(new TransferError(`the peer sent no ${type} for ${formatSeconds(this.#stallMs)}`, { origin: 'silence' })), this.#stallMs);
      transfer.waiter = { types: [type], resolve: (message) => resolve(message as Extract<TransferMessage, { type: T }>) };
    }).finally(() => clearTimeout(timer));
  }

  /**
   * Sends `message` until an answer of `type` (or a refusal) arrives; gives up after the stall time
   * without a sign of life, and after `totalMs` (when given) whatever the peer says.
   */
  request<T extends TransferMessageType>(transfer: TransferRecord, message: TransferMessage, type: T,
    totalMs?: number): Promise<Extract<TransferMessage, { type: T }>> {
    const first = clock();
    let started = first;
    let delay = CONTROL_RETRY_MS;
    return this.wait<Extract<TransferMessage, { type: T }>>(transfer, (resolve, reject) => {
      const send = (): void => {
        if (this.#port.closed) return reject(new TransferError('the session closed'));
        if (clock() - started > this.#stallMs) return reject(new TransferError(`no answer from the peer for ${formatSeconds(this.#stallMs)}`, { origin: 'silence' }));
        if (totalMs !== undefined && clock() - first > totalMs) {
          return reject(new TransferError(`the receiver was still checking the file after ${formatSeconds(totalMs)}; gave up (try again, or with --resume)`));
        }
        transfer.contacted();
        this.send(transfer.id, message);
        transfer.retry = setTimeout(send, delay);
        delay = Math.min(delay * 1.5, MAX_CONTROL_RETRY_MS);
      };
      transfer.keepAlive = () => {
        started = clock();
      };
      transfer.waiter = {
        types: [type, 'reject', 'abort'],
        resolve: (answer) => {
          if (answer.type === 'reject') return reject(TransferError.fromPeer('refused', answer.reason));
          if (answer.type === 'abort') return reject(TransferError.fromPeer('aborted', answer.reason));
          resolve(answer as Extract<TransferMessage, { type: T }>);
        },
      };
      send();
    }).finally(() => {
      clearTimeout(transfer.retry);
      transfer.keepAlive = undefined;
    });
  }
}

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
