import { randomFillSync } from 'node:crypto';
import { MIN_CHECK_BYTES_PER_SECOND, MAX_CHECK_WAIT_MS, RECEIVE_WINDOW_BYTES, SHORT_TRANSFER_OVERHEAD, TRANSFER_OVERHEAD } from '../constants.js';
import { SHORT_OFFSET_LIMIT } from '../protocol/frame.js';
import { encodeAck, TransferFlags, type TransferMessage } from '../protocol/transfer.js';
import { clock } from '../time.js';
import { PatternSource } from './bandwidth.js';
import type { Grant } from './budget.js';
import { formatSeconds, type ControlChannel } from './control.js';
import { describeFsError, TransferFileError } from './files.js';
import type { HashControl } from './hashing.js';
import type { FrameLink } from './link.js';
import type { TransferPort } from './port.js';
import { StreamReceiver, type ByteSink } from './receiver.js';
import { StreamSender, type ByteSource } from './sender.js';
import type { TransferTable } from './table.js';
import { asTransferFailure, TransferError } from './transfer-error.js';
import type { TransferRecord } from './transfer-state.js';
import type { TransferResult, UploadOptions } from './types.js';

export type DoneMessage = Extract<TransferMessage, { type: 'done' }>;

/** What a run reports as it starts and as it goes. */
export type RunOptions = Pick<UploadOptions, 'onProgress' | 'onStart'> & {
  /**
   * When the run began, on the monotonic clock: a receive that asked the peer to send counts from
   * its request (the peer may start before the answer reaches us), so its seconds cover the peer's.
   */
  startedAt?: number;
};

/**
 * The two halves of every transfer, whoever started it: the sending side runs a StreamSender,
 * then sends `done` until the receiver's `result`; the receiving side runs a StreamReceiver until
 * `done`, checks what it got and answers `result`. And how a transfer ends: finished (kept to
 * answer repeats) or abandoned (streams stopped, the peer told).
 */
export class TransferStreams {
  readonly #port: TransferPort;
  readonly #control: ControlChannel;
  readonly #table: TransferTable;
  readonly #maxBody: number;
  readonly stallMs: number;

  constructor(port: TransferPort, control: ControlChannel, table: TransferTable, maxBody: number, stallMs: number) {
    this.#port = port;
    this.#control = control;
    this.#table = table;
    this.#maxBody = maxBody;
    this.stallMs = stallMs;
  }

  /** Runs a StreamSender from `offset`, then `done` until the receiver answers. `seconds` makes it open-ended (bandwidth). */
  async send(transfer: TransferRecord, source: ByteSource & { digest?(): string }, offset: number, size: number | null,
    options: RunOptions, seconds?: number): Promise<TransferResult> {
    const started = clock();
    // A file that ends past a short data frame's 48-bit offsets (256 TiB) goes in the original's frames.
    const shortData = transfer.peerReadsShortData && (size ?? 0) < SHORT_OFFSET_LIMIT;
    const sender = new StreamSender(this.link(transfer.id, shortData), source, offset, size, this.stallMs);
    transfer.sender = sender;
    options.onStart?.(offset, size ?? 0);
    if (options.onProgress) sender.on('progress', (acked) => options.onProgress!(acked, (size ?? 0) - offset));
    const endTimer = seconds === undefined ? undefined : setTimeout(() => sender.end(), seconds * 1000);
    // A file's `done` goes as soon as its last byte has gone out once, not a round trip later when
    // that byte is acknowledged: the receiver answers it only once it holds every byte, and
    // meanwhile the sender still resends what is lost. A bandwidth test's goes once every byte is
    // acknowledged, so its figure stays the rate of the data alone.
    const doneAfter = seconds === undefined ? 'sent' : 'complete';
    // A sender that fails ends whichever wait is on, that for the data or that for `result`.
    sender.once('error', (err) => this.#control.stopWith(transfer, asTransferFailure(err)));
    let done: DoneMessage;
    let answer: Extract<TransferMessage, { type: 'result' }>;
    let ended: number | undefined;
    try {
      await this.#control.wait<void>(transfer, (resolve) => {
        sender.once(doneAfter, resolve);
        sender.start();
      });
      // A bandwidth test's time ends with its last acknowledgement: the `done` and `result` after
      // it are bookkeeping, as iperf3's own end-of-test exchange is not in its figure. A file's
      // time runs until the receiver says it holds the file.
      if (seconds !== undefined) ended = clock();
      done = { type: 'done', size: sender.endOffset!, sha256: source.digest?.() ?? '', stats: sender.stats };
      answer = await this.#control.request(transfer, done, 'result', this.checkWaitMs(done.size - offset));
    } catch (err) {
      const failure = asTransferFailure(err);
      this.abandon(transfer, failure);
      throw failure;
    } finally {
      clearTimeout(endTimer);
    }
    const total = done.size;
    this.finish(transfer, answer.ok ? undefined : `the receiver refused the file: ${answer.reason}`);
    if (!answer.ok) throw new TransferError(`the receiver refused the file: ${answer.reason}`);
    return {
      name: transfer.name, direction: 'send', size: total, offset, seconds: ((ended ?? clock()) - started) / 1000, sha256: done.sha256, stats: sender.stats,
      restarted: false,
    };
  }

  /** Runs a StreamReceiver from `offset` until the sender's `done`, then `finish` and answers `result`. */
  async receive(transfer: TransferRecord, sink: ByteSink, offset: number, size: number | null,
    options: RunOptions, finish: (done: DoneMessage) => Promise<void>): Promise<TransferResult> {
    const started = options.startedAt ?? clock();
    const receiver = transfer.receiver ?? new StreamReceiver(this.link(transfer.id), sink, offset, size);
    transfer.receiver = receiver;
    options.onStart?.(offset, size ?? 0);
    if (options.onProgress) receiver.on('progress', (written) => options.onProgress!(written, (size ?? 0) - offset));
    let watchdog: NodeJS.Timeout | undefined;
    let done: DoneMessage;
    try {
      done = await this.#control.wait<DoneMessage>(transfer, (resolve, reject) => {
        receiver.once('error', reject);
        // The sending side has its timers; this side only waits, so it gives up on a silent peer.
        watchdog = setInterval(() => {
          if (clock() - receiver.lastActivity > this.stallMs) reject(new TransferError(`the peer sent nothing for ${formatSeconds(this.stallMs)}`, { origin: 'silence' }));
        }, this.stallMs / 10);
        // A file's `done` comes once the sender has sent every byte: some may still be on the way, or resent, and the disk may still be writing.
        transfer.waiter = {
          types: ['done'],
          resolve: (message) => {
            const last = message as DoneMessage;
            // A waiter is only set while the transfer may go on, so this always holds.
            if (!transfer.is('open') && !transfer.is('resuming')) return;
            transfer.to({ kind: 'finishing' });
            if (receiver.setSize(last.size) === 'refused') return reject(new TransferError('the sender announced a different size'));
            if (receiver.complete) resolve(last);
            else receiver.once('complete', () => resolve(last));
          },
        };
      });
      // A stop that came with the last write still counts; from here on the check runs to its end.
      this.#control.checkStopped(transfer);
      transfer.to({ kind: 'checking' });
    } catch (err) {
      const failure = asTransferFailure(err);
      this.abandon(transfer, failure);
      // A write in progress finishes, so the part file holds exactly a prefix of the file.
      await receiver.drain();
      throw failure;
    } finally {
      clearInterval(watchdog);
    }
    let outcome: Extract<TransferMessage, { type: 'result' }>;
    let failure: string | undefined;
    try {
      await finish(done);
      outcome = { type: 'result', ok: true, reason: '' };
    } catch (err) {
      failure = err instanceof TransferFileError ? err.message : describeFsError(err, transfer.name);
      outcome = { type: 'result', ok: false, reason: reasonForPeer(transfer, err) };
    }
    this.#control.answer(transfer, 'done', outcome);
    this.finish(transfer, failure);
    if (failure !== undefined) throw new TransferError(failure);
    return {
      name: transfer.name, direction: 'receive', size: done.size, offset: receiver.start, seconds: (clock() - started) / 1000,
      sha256: done.sha256, stats: done.stats, restarted: false,
    };
  }

  /** A receiver whose window is its grant and grows only as the grant does (the full window without one), reporting what it holds to the budget. */
  receiverFor(transfer: TransferRecord, sink: ByteSink, start: number, size: number | null, grant: Grant | undefined): StreamReceiver {
    const receiver = new StreamReceiver(this.link(transfer.id), sink, start, size, grant?.bytes ?? RECEIVE_WINDOW_BYTES, grant?.grow);
    if (grant) grant.held = () => receiver.held;
    return receiver;
  }

  /** Stops a bandwidth test that runs past its seconds plus the stall time (either side, whoever started it). */
  bandwidthDeadline(transfer: TransferRecord, seconds: number): NodeJS.Timeout {
    return setTimeout(() => this.#control.stop(transfer, 'the bandwidth test ran past its time'), seconds * 1000 + this.stallMs);
  }

  /** Stops a hash of our own between blocks once the transfer is stopped (Ctrl-C, the peer's abort). */
  stopControl(transfer: TransferRecord): HashControl {
    return { stopped: () => transfer.stopReason, hashed: () => undefined };
  }

  /**
   * How a transfer's streams send. With `shortData` (the peer reads short data frames, and every
   * offset is below 2^48) its file data goes in them, 6 bytes more of it per datagram. A bandwidth
   * test's stream would need 625 Gbit/s for its longest hour to pass 2^48.
   */
  link(id: number, shortData = false): FrameLink {
    const port = this.#port;
    const flags = shortData ? TransferFlags.SHORT_DATA : TransferFlags.DATA;
    return {
      maxBody: shortData ? this.#maxBody + TRANSFER_OVERHEAD - SHORT_TRANSFER_OVERHEAD : this.#maxBody,
      data: (packet, offset, payload) => port.sendFrame({ flags, channel: id, sequence: packet, offset }, payload),
      ack: (largest, cumulative, ack) => port.sendFrame(
        { flags: TransferFlags.ACK, channel: id, sequence: Math.max(0, largest), offset: cumulative }, encodeAck(ack)),
    };
  }

  /**
   * The transfer ran to its end, the file taken or (`refused`) refused by the receiver's check:
   * the `result` told the peer. Remembered for a while, to answer repeats (a completed receiver
   * still acknowledges).
   */
  finish(transfer: TransferRecord, refused?: string): void {
    transfer.to(refused === undefined ? { kind: 'finished' } : { kind: 'failed', reason: refused });
    transfer.sender?.stop();
    this.#table.forgetOldest();
  }

  /** The transfer failed: streams stopped, the peer told (unless it told us), files closed by their owners. */
  abandon(transfer: TransferRecord, err: Error): void {
    if (transfer.finished) return;
    const peerKnows = transfer.peerKnows;
    transfer.to({ kind: 'failed', reason: transfer.stopReason ?? err.message });
    clearTimeout(transfer.retry);
    transfer.sender?.stop();
    transfer.receiver?.stop();
    // Not when the peer knows nothing of it yet (a local error would only tell it our paths), nor
    // when it ended the transfer or went silent.
    if (peerKnows && !(err instanceof TransferError && err.origin !== 'local')) {
      this.#control.send(transfer.id, { type: 'abort', reason: err instanceof TransferFileError ? reasonForPeer(transfer, err) : err.message });
    }
    this.#table.forgetOldest();
  }

  /**
   * How long a sender waits for `result` after `done`, `checking` answers or not: the stall time
   * plus the bytes sent at MIN_CHECK_BYTES_PER_SECOND (the receiver syncs and hashes them), at
   * most MAX_CHECK_WAIT_MS.
   */
  checkWaitMs(bytes: number): number {
    return Math.min(MAX_CHECK_WAIT_MS, this.stallMs + (bytes * 1000) / MIN_CHECK_BYTES_PER_SECOND);
  }
}

/**
 * What the peer is told when a transfer fails on our side. A file error of a transfer we started names
 * our local path (--out, the file sent), which is none of the peer's business and would end up in
 * its log: it hears only which side of the transfer had a file problem.
 */
function reasonForPeer(transfer: TransferRecord, err: unknown): string {
  if (!(err instanceof TransferFileError)) return describeFsError(err, transfer.name);
  if (!transfer.startedByUs) return err.message;
  return err.peerReason ?? (transfer.direction === 'receive' ? 'the downloader could not write its copy of the file' : 'the uploader could not read its file');
}

/** The bytes of a bandwidth test: random, so nothing on the path can compress them. */
export function patternSource(): PatternSource {
  return new PatternSource((block) => randomFillSync(block));
}
