import {
  ACK_EVERY_PACKETS, ACK_EVERY_REORDERED, MIN_SEGMENT_BYTES, PROBE_ANSWER_MS, READ_BLOCK_BYTES, RECEIVE_WINDOW_BYTES,
  RECEIVE_WINDOW_MAX_BYTES,
} from '../constants.js';
import { expandPacketNumber } from '../protocol/frame.js';
import { spansThatFit, type Acknowledgement } from '../protocol/transfer.js';
import { Spans } from './spans.js';

/** What became of one data frame: taken (new or a harmless duplicate) or refused as a protocol violation. */
export type DataVerdict = 'ok' | 'refused';

/** An acknowledgement to send. */
export interface AckFrame {
  largestPacket: number;
  cumulative: number;
  ack: Acknowledgement;
}

export interface ReceiveCoreOptions {
  maxBody: number;
  start: number;
  size: number | null;
  /** Bytes beyond those written that this side lets the sender send, at first. */
  window?: number;
  /**
   * Asks for `extra` more bytes of window (from a memory budget); true if granted. Without it the
   * window grows up to RECEIVE_WINDOW_MAX_BYTES unasked; `() => false` keeps it fixed.
   */
  grow?: (extra: number) => boolean;
  now: number;
}

/**
 * The receiving half of one reliable stream, without I/O: data frames and write completions go in;
 * acknowledgements and writes come out. Segments that arrive in order are queued for the sink;
 * others wait in memory until the gap fills. Both are bounded by the receive window this side
 * advertises (bytes written + its window), so a slow disk stops the sender instead of growing
 * memory. An acknowledgement is due at once when a gap opens or closes, else after
 * ACK_EVERY_PACKETS (ACK_EVERY_REORDERED while a gap is open); the driver sends the rest at the
 * end of its turn (flushAck). A window probe gets one at most every PROBE_ANSWER_MS.
 *
 * The window grows (auto-tuning, as Linux's tcp_rcv_space_adjust does for TCP) when the sender
 * says the window holds it back while the disk keeps up: see #autoTune.
 */
export class ReceiveCore {
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
  #largestPacket = -1;
  #largestAt = 0;
  #lastActivity: number;
  #lastAckAt = -Infinity;
  #unacked = 0;
  /** Offsets of new segments since the last acknowledgement (at most #maxSpans / 2 kept). */
  #arrivals: number[] = [];
  #ackNow = false;
  /** stop() was called, or a write failed: nothing more happens. */
  #stopped = false;
  #completed: boolean;
  error: Error | null = null;
  readonly #maxSpans: number;
  #window: number;
  readonly #grow: (extra: number) => boolean;
  /** What was written when the window last grew: it grows at most once per half window written. */
  #grownAt: number;

  constructor(options: ReceiveCoreOptions) {
    this.#window = options.window ?? RECEIVE_WINDOW_BYTES;
    this.#grow = options.grow ?? (() => true);
    this.#start = options.start;
    this.#size = options.size;
    this.#delivered = options.start;
    this.#written = options.start;
    this.#advertised = options.start + this.#window;
    this.#maxSpans = spansThatFit(options.maxBody);
    this.#completed = options.size !== null && options.start >= options.size;
    this.#lastActivity = options.now;
    this.#grownAt = options.start;
  }

  /** The window this side advertises beyond what it wrote, as grown so far. */
  get window(): number {
    return this.#window;
  }

  /** When new data last arrived or a write last finished (duplicates and probes do not count). */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  get start(): number {
    return this.#start;
  }

  get size(): number | null {
    return this.#size;
  }

  /** No data has arrived yet (so the stream may still start over). */
  get untouched(): boolean {
    return this.#largestPacket < 0 && !this.#stopped;
  }

  /** Starts over at `start` (the sink was emptied); only before any data arrived. */
  restartAt(start: number): boolean {
    if (!this.untouched) return false;
    this.#start = start;
    this.#delivered = start;
    this.#written = start;
    this.#advertised = start + this.#window;
    this.#grownAt = start;
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

  get writing(): boolean {
    return this.#writingBytes > 0;
  }

  get complete(): boolean {
    return this.#completed;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The stream's size becomes known (an open-ended stream's sender said `done`). */
  setSize(size: number): DataVerdict {
    if (this.#size !== null) return size === this.#size ? 'ok' : 'refused';
    if (size < this.#delivered || this.#received.overlaps(size, Number.MAX_SAFE_INTEGER)) return 'refused';
    this.#size = size;
    this.#checkComplete();
    return 'ok';
  }

  /** The full packet number whose low 32 bits a short data frame carried, nearest the largest received; -1 (refused) past SHORT_PACKET_LIMIT. */
  expandPacket(low: number): number {
    return expandPacketNumber(low, this.#largestPacket);
  }

  onData(now: number, packet: number, offset: number, body: Buffer): DataVerdict {
    if (packet < 0) return 'refused';
    if (this.#stopped) return 'ok';
    if (body.length === 0) return this.#answerProbe(now);
    const end = offset + body.length;
    if (offset < this.#start || (this.#size !== null && end > this.#size) || end > this.#advertised || !this.#wellCut(body.length, end)) {
      return 'refused';
    }
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
    if (this.#arrivals.length < this.#maxSpans / 2) this.#arrivals.push(offset);
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
  #answerProbe(now: number): DataVerdict {
    if (now - this.#lastAckAt >= PROBE_ANSWER_MS) this.#ackNow = true;
    this.#autoTune();
    return 'ok';
  }

  /**
   * A probe says the sender has data and room in its congestion window but none in ours. If the
   * disk keeps up (less than a quarter of the window waits to be written), what fills the window
   * is the path: data in flight and data held out of order while a loss is repaired, together
   * about two bandwidth-delay products. So the window doubles, at most once per half window
   * written (the sender must first use what it got), up to RECEIVE_WINDOW_MAX_BYTES and what the
   * memory budget grants. A slow disk fills the window with data waiting to be written and never
   * grows it.
   */
  #autoTune(): void {
    if (this.#delivered - this.#written >= this.#window / 4 || this.#written - this.#grownAt < this.#window / 2) return;
    const extra = Math.min(this.#window, RECEIVE_WINDOW_MAX_BYTES - this.#window);
    if (extra <= 0 || !this.#grow(extra)) return;
    this.#window += extra;
    this.#grownAt = this.#written;
    this.#ackNow = true;
  }

  #acknowledge(urgent: boolean): void {
    const every = this.#early.size > 0 ? ACK_EVERY_REORDERED : ACK_EVERY_PACKETS;
    ++this.#unacked;
    if (urgent || this.#unacked >= every) this.#ackNow = true;
  }

  /** An acknowledgement due now (a gap opened or closed, enough datagrams, a probe), or null. */
  pollAck(now: number): AckFrame | null {
    if (!this.#ackNow || this.#stopped) return null;
    return this.#makeAck(now);
  }

  /** Whatever is not yet acknowledged, acknowledged now (the driver's end of turn), or null. */
  flushAck(now: number): AckFrame | null {
    if ((this.#unacked === 0 && !this.#ackNow) || this.#stopped) return null;
    return this.#makeAck(now);
  }

  /** Received datagrams not yet acknowledged. */
  get unacked(): number {
    return this.#unacked;
  }

  #makeAck(now: number): AckFrame {
    this.#unacked = 0;
    this.#ackNow = false;
    this.#lastAckAt = now;
    this.#advertised = this.#written + this.#window;
    return {
      largestPacket: this.#largestPacket,
      cumulative: this.#delivered,
      ack: {
        windowEnd: this.#advertised,
        delayMicros: (now - this.#largestAt) * 1000,
        spans: this.#spansToReport(),
      },
    };
  }

  /**
   * The spans an acknowledgement names, when there are more than fit: those that took new
   * segments since the last one (a retransmission that filled an old gap, as TCP's first SACK
   * block reports the latest segment, RFC 2018 §4), then the newest. Either left out would make
   * the sender think what arrived was lost, and send it again.
   */
  #spansToReport(): Array<[number, number]> {
    const arrivals = this.#arrivals;
    this.#arrivals = [];
    if (this.#received.count <= this.#maxSpans) return this.#received.spansFrom(this.#delivered, this.#maxSpans);
    const chosen = new Map<number, [number, number]>();
    for (const offset of arrivals) {
      const span = offset >= this.#delivered ? this.#received.spanAt(offset) : null;
      if (span) chosen.set(span[0], span);
    }
    for (const span of this.#received.newestSpans(this.#delivered, this.#maxSpans).reverse()) {
      if (chosen.size >= this.#maxSpans) break;
      chosen.set(span[0], span);
    }
    return [...chosen.values()].sort((a, b) => a[0] - b[0]);
  }

  /** Stops: no more writes are started or acknowledgements sent. */
  stop(): void {
    this.#stopped = true;
    this.#early.clear();
    this.#queue = [];
    this.#held = 0;
  }

  #deliver(chunk: Buffer): void {
    this.#queue.push(chunk);
    this.#held += chunk.length;
    this.#delivered += chunk.length;
  }

  /** The next write for the sink (everything queued since the last), one at a time; null if none is due. */
  nextWrite(): Buffer[] | null {
    if (this.#writingBytes > 0 || this.#queue.length === 0 || this.#stopped) return null;
    const chunks = this.#queue;
    this.#queue = [];
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.length;
    this.#held -= bytes;
    this.#writingBytes = bytes;
    return chunks;
  }

  /** The write from nextWrite() finished. */
  onWritten(now: number): void {
    const bytes = this.#writingBytes;
    this.#writingBytes = 0;
    this.#written += bytes;
    this.#lastActivity = now;
    if (this.#stopped) return;
    // The window opened: say so if the sender may be waiting for it.
    if (this.#advertised - this.#delivered < this.#window / 2) this.#ackNow = true;
    this.#checkComplete();
  }

  onWriteError(err: Error): void {
    this.#writingBytes = 0;
    if (this.#stopped) return;
    this.stop();
    this.error = err;
  }

  #checkComplete(): void {
    if (this.#stopped || this.#completed || this.#size === null || this.#written < this.#size || this.#writingBytes > 0) return;
    this.#completed = true;
    this.#ackNow = true;
  }
}
