import { EventEmitter } from 'node:events';
import {
  ACK_EVERY_PACKETS, ACK_EVERY_REORDERED, MIN_SEGMENT_BYTES, PROBE_ANSWER_MS, READ_BLOCK_BYTES, RECEIVE_WINDOW_BYTES,
} from '../constants.js';
import { spansThatFit } from '../protocol/transfer.js';
import { clock, type FrameLink } from './link.js';
import { Spans } from './spans.js';

/** Where a receiver's bytes go, in order: each write continues where the last one ended. */
export interface ByteSink {
  write(chunks: Buffer[]): Promise<void>;
}

export interface ReceiverEvents {
  /** Bytes written to the sink so far, counted from the stream's start offset. */
  progress: [written: number];
  /** Every byte up to the size is written. */
  complete: [];
  error: [err: Error];
}

/** What became of one data frame: taken (new or a harmless duplicate) or refused as a protocol violation. */
export type DataVerdict = 'ok' | 'refused';

/**
 * The receiving half of one reliable stream. Segments that arrive in order go straight to the
 * sink's queue; others wait in memory until the gap fills. Both are bounded by the receive
 * window this side advertises (bytes written + its window: RECEIVE_WINDOW_BYTES, or what a
 * server's ReceiveBudget granted), so a slow disk stops the sender instead of growing memory. Acknowledgements go out at once when a gap opens or closes,
 * else after ACK_EVERY_PACKETS (ACK_EVERY_REORDERED while a gap is open) or at the end of the
 * event-loop turn, whichever comes first; a window probe gets one at most every PROBE_ANSWER_MS.
 */
export class StreamReceiver extends EventEmitter<ReceiverEvents> {
  #start: number;
  #size: number | null;
  readonly #received = new Spans();
  readonly #early = new Map<number, Buffer>();
  /** Everything below this offset was received and queued for the sink. */
  #delivered: number;
  #written: number;
  #advertised: number;
  #queue: Buffer[] = [];
  /** Bytes held in memory: out of order, queued for the sink, and being written. */
  #held = 0;
  #writingBytes = 0;
  #writing = false;
  #largestPacket = -1;
  #largestAt = 0;
  #lastActivity = clock();
  #lastAckAt = -Infinity;
  #unacked = 0;
  #ackQueued = false;
  /** stop() was called, or a write failed: nothing more happens. */
  #finished = false;
  #completed = false;
  readonly #maxSpans: number;
  /** Bytes beyond those written that this side lets the sender send (what it may hold). */
  readonly #window: number;

  constructor(private readonly link: FrameLink, private readonly sink: ByteSink, start: number, size: number | null, window = RECEIVE_WINDOW_BYTES) {
    super();
    this.#window = window;
    this.#start = start;
    this.#size = size;
    this.#delivered = start;
    this.#written = start;
    this.#advertised = start + this.#window;
    this.#maxSpans = spansThatFit(link.maxBody);
    this.#completed = size !== null && start >= size;
  }

  /** When (clock ms) new data last arrived or a write last finished (duplicates and probes do not count). */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** Where the stream starts (the bytes the sink already held). */
  get start(): number {
    return this.#start;
  }

  /** Where the stream ends, once known. */
  get size(): number | null {
    return this.#size;
  }

  /** No data has arrived yet (so the stream may still start over). */
  get untouched(): boolean {
    return this.#largestPacket < 0 && !this.#finished;
  }

  /** Starts over at `start` (the sink was emptied); only before any data arrived. */
  restartAt(start: number): boolean {
    if (!this.untouched) return false;
    this.#start = start;
    this.#delivered = start;
    this.#written = start;
    this.#advertised = start + this.#window;
    this.#completed = this.#size !== null && start >= this.#size;
    return true;
  }

  /** Bytes held in memory now (out-of-order segments, data queued for or being written to the sink): at most the window. */
  get held(): number {
    return this.#held + this.#writingBytes;
  }

  /** Bytes written to the sink, from the start offset. */
  get written(): number {
    return this.#written - this.#start;
  }

  /** The stream's size becomes known (an open-ended stream's sender said `done`). */
  setSize(size: number): DataVerdict {
    if (this.#size !== null) return size === this.#size ? 'ok' : 'refused';
    if (size < this.#delivered || this.#received.overlaps(size, Number.MAX_SAFE_INTEGER)) return 'refused';
    this.#size = size;
    this.#checkComplete();
    return 'ok';
  }

  get complete(): boolean {
    return this.#completed;
  }

  onData(packet: number, offset: number, body: Buffer): DataVerdict {
    if (this.#finished) return 'ok';
    if (body.length === 0) return this.#answerProbe();
    const end = offset + body.length;
    if (offset < this.#start || (this.#size !== null && end > this.#size) || end > this.#advertised || !this.#wellCut(body.length, end)) {
      return 'refused';
    }
    const now = clock();
    if (packet > this.#largestPacket) {
      this.#largestPacket = packet;
      this.#largestAt = now;
    }
    if (this.#completed || end <= this.#delivered || this.#received.covers(offset, end)) {
      // A duplicate (after the end: a retransmission): the sender may have missed an
      // acknowledgement. Not progress: duplicates alone must not keep a transfer alive.
      this.#acknowledge(false);
      return 'ok';
    }
    if (offset < this.#delivered || this.#received.overlaps(offset, end)) return 'refused';
    this.#lastActivity = now;
    const spansBefore = this.#received.count;
    this.#received.add(offset, end);
    // At once: a new gap (the sender should hear of a loss soon) or a filled one. While a gap
    // stays open, every few datagrams: enough for the sender's three-packet loss rule, without an
    // acknowledgement per datagram for every loss.
    let urgent: boolean;
    if (offset === this.#delivered) {
      const hadGap = this.#early.size > 0;
      this.#deliver(body);
      for (let next = this.#early.get(this.#delivered); next; next = this.#early.get(this.#delivered)) {
        this.#early.delete(this.#delivered);
        this.#held -= next.length;
        this.#deliver(next);
      }
      this.#received.forgetBelow(this.#delivered);
      this.#flush();
      urgent = hadGap;
    } else {
      // A copy of its own: a small buffer from Node's pool would keep the whole 8 KiB pool alive
      // for as long as the gap stays open.
      const own = Buffer.allocUnsafeSlow(body.length);
      body.copy(own);
      this.#early.set(offset, own);
      this.#held += own.length;
      urgent = this.#received.count > spansBefore;
    }
    this.#acknowledge(urgent);
    return 'ok';
  }

  /**
   * Every segment is a full datagram's worth (at least MIN_SEGMENT_BYTES) unless it ends a read
   * block (counted from the start) or the stream. So what a peer can make us keep out of order
   * is bounded in count, not only in bytes, and so is the work to keep it.
   */
  #wellCut(length: number, end: number): boolean {
    return length >= MIN_SEGMENT_BYTES || end === this.#size || (end - this.#start) % READ_BLOCK_BYTES === 0;
  }

  /**
   * A sender whose window is shut asks with an empty frame; answered at most every
   * PROBE_ANSWER_MS. Not counted as activity: probes alone must not keep a transfer (and the name
   * it holds) alive; a shut window opens by writes finishing, which count.
   */
  #answerProbe(): DataVerdict {
    if (clock() - this.#lastAckAt >= PROBE_ANSWER_MS) this.#sendAck();
    return 'ok';
  }

  #acknowledge(urgent: boolean): void {
    const every = this.#early.size > 0 ? ACK_EVERY_REORDERED : ACK_EVERY_PACKETS;
    if (urgent || ++this.#unacked >= every) this.#sendAck();
    else this.#queueAck();
  }

  /** Stops: no more writes are started or acknowledgements sent; pending ones finish. */
  stop(): void {
    this.#finished = true;
    this.#early.clear();
    this.#queue = [];
    this.#held = 0;
  }

  /** Resolves once no write is in progress (so a part file holds exactly what was written). */
  async drain(): Promise<void> {
    while (this.#writing) await new Promise((resolve) => setImmediate(resolve));
  }

  #deliver(chunk: Buffer): void {
    this.#queue.push(chunk);
    this.#held += chunk.length;
    this.#delivered += chunk.length;
  }

  /** One write at a time, of everything queued since the last one. */
  #flush(): void {
    if (this.#writing || this.#queue.length === 0 || this.#finished) return;
    const chunks = this.#queue;
    this.#queue = [];
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.length;
    this.#writing = true;
    this.#held -= bytes;
    this.#writingBytes = bytes;
    this.sink.write(chunks).then(() => {
      this.#writing = false;
      this.#writingBytes = 0;
      this.#written += bytes;
      this.#lastActivity = clock();
      if (this.#finished) return;
      this.emit('progress', this.written);
      // The window opened: say so if the sender may be waiting for it.
      if (this.#advertised - this.#delivered < this.#window / 2) this.#sendAck();
      if (this.#checkComplete()) return;
      this.#flush();
    }, (err: Error) => {
      this.#writing = false;
      this.#writingBytes = 0;
      this.#fail(err);
    });
  }

  #queueAck(): void {
    if (this.#ackQueued) return;
    this.#ackQueued = true;
    setImmediate(() => {
      this.#ackQueued = false;
      if (this.#unacked > 0 && !this.#finished) this.#sendAck();
    });
  }

  #sendAck(): void {
    this.#unacked = 0;
    this.#lastAckAt = clock();
    this.#advertised = this.#written + this.#window;
    this.link.ack(this.#largestPacket, this.#delivered, {
      windowEnd: this.#advertised,
      delayMicros: (clock() - this.#largestAt) * 1000,
      spans: this.#received.spansFrom(this.#delivered, this.#maxSpans),
    });
  }

  #checkComplete(): boolean {
    if (this.#finished || this.#completed || this.#size === null || this.#written < this.#size || this.#writing) return false;
    this.#completed = true;
    this.#sendAck();
    this.emit('complete');
    return true;
  }

  #fail(err: Error): void {
    if (this.#finished) return;
    this.stop();
    this.emit('error', err);
  }
}
