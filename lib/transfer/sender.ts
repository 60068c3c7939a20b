import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { SEND_BURST_PACKETS, TRANSFER_STALL_MS } from '../constants.js';
import type { Acknowledgement, SenderStats } from '../protocol/transfer.js';
import { clock } from '../time.js';
import type { FrameLink } from './link.js';
import { SendCore, type ReadRequest } from './send-core.js';
import { TransferError } from './transfer-error.js';

export { OptimisticAckError } from './send-core.js';

/** Where a sender's bytes come from. Reads are sequential: each starts where the last one ended. */
export interface ByteSource {
  /** Up to `length` bytes at `offset`; fewer only if the source ended early (a file that shrank). */
  read(offset: number, length: number): Promise<Buffer>;
}

export interface SenderEvents {
  /** Every byte is acknowledged. */
  complete: [];
  /** Every byte has gone out once (emitted once, before `complete`); lost ones are still resent. */
  sent: [];
  /** Bytes acknowledged so far, counted from the stream's start offset. */
  progress: [acked: number];
  error: [err: Error];
}

/**
 * Drives a SendCore with a session, a byte source and Node's timers: the core decides what to
 * send and when, this sends it, reads what it asks for, and wakes it at its deadline. At most
 * SEND_BURST_PACKETS go out per event-loop turn, so acknowledgements are read in between.
 */
export class StreamSender extends EventEmitter<SenderEvents> {
  readonly core: SenderCoreView;
  readonly #core: SendCore;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #pumpQueued = false;
  #acked = 0;
  #allSent = false;
  #done = false;

  /** `stallMs`: fail when the peer acknowledges nothing this long. */
  constructor(private readonly link: FrameLink, private readonly source: ByteSource, start: number, size: number | null,
    stallMs = TRANSFER_STALL_MS) {
    super();
    this.#core = new SendCore({ maxBody: link.maxBody, start, size, now: clock(), stallMs, randomInt });
    this.core = this.#core;
  }

  get stats(): SenderStats {
    return this.#core.stats;
  }

  get rtt(): SendCore['rtt'] {
    return this.#core.rtt;
  }

  /** Bytes acknowledged, from the start offset. */
  get acked(): number {
    return this.#core.acked;
  }

  /** The offset the stream ends at: known from the start for a file, from end() for an open-ended stream; so always by `sent`. */
  get endOffset(): number | null {
    return this.#core.endOffset;
  }

  start(): void {
    this.#pump();
  }

  /** Ends an open-ended stream at what was sent so far; it completes once that is acknowledged. */
  end(): void {
    this.#core.end();
    this.#settle();
  }

  /** Stops sending and forgets every timer and buffer; nothing more is emitted. */
  stop(): void {
    this.#done = true;
    this.#core.stop();
    this.#clearTimer();
  }

  /** An acknowledgement; false if it acknowledged what was never sent (the stream fails). */
  onAck(largestPacket: number, cumulative: number, ack: Acknowledgement): boolean {
    if (this.#done) return true;
    const ok = this.#core.onAck(clock(), largestPacket, cumulative, ack);
    this.#pump();
    return ok;
  }

  /** Sends what the core has ready (one burst), starts a read it wants, and sleeps until its deadline. */
  #pump(): void {
    if (this.#settle()) return;
    const core = this.#core;
    let burst = 0;
    for (let transmit = core.poll(clock()); transmit !== null; transmit = core.poll(clock())) {
      if (!this.link.data(transmit.packet, transmit.offset, transmit.body)) {
        core.stop();
        this.#finish(new TransferError('the session closed'));
        return;
      }
      if (++burst === SEND_BURST_PACKETS) {
        this.#queuePump();
        break;
      }
    }
    this.#read();
    if (this.#settle()) return;
    this.#armTimer(core.deadline());
  }

  #queuePump(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    setImmediate(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #read(): void {
    const request: ReadRequest | null = this.#core.nextRead();
    if (request === null) return;
    this.source.read(request.offset, request.length).then((block) => {
      if (this.#done) return;
      this.#core.onRead(request, block);
      this.#pump();
    }, (err: Error) => {
      if (this.#done) return;
      this.#core.onReadError(err);
      this.#settle();
    });
  }

  /** One Node timer at the core's deadline; Node's timers are good to about a millisecond. */
  #armTimer(at: number): void {
    if (at === this.#timerAt && this.#timer !== undefined) return;
    this.#clearTimer();
    if (at === Infinity) return;
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      if (this.#done) return;
      this.#core.onTimer(clock());
      this.#pump();
    }, Math.max(0, at - clock()));
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** Emits what the core's state says happened; true once the stream is over. */
  #settle(): boolean {
    if (this.#done) return true;
    const core = this.#core;
    if (core.acked > this.#acked) {
      this.#acked = core.acked;
      this.emit('progress', this.#acked);
    }
    if (!this.#allSent && (core.allSent || core.complete)) {
      this.#allSent = true;
      this.emit('sent');
    }
    if (core.error) return this.#finish(core.error), true;
    if (core.complete) return this.#finish(null), true;
    return false;
  }

  #finish(err: Error | null): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearTimer();
    if (err) this.emit('error', err);
    else this.emit('complete');
  }
}

/** What callers may read of a sender's core (its model and counters), not drive. */
export type SenderCoreView = Pick<SendCore, 'rtt' | 'congestion' | 'packets' | 'retransmits' | 'timeouts' | 'sentBytes' | 'retransmittedBytes' | 'bytesInFlight'>;
