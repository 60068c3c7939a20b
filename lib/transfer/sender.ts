import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  LOSS_PACKET_THRESHOLD, LOSS_TIME_THRESHOLD, MAX_SACKED_SPANS, MIN_PACING_RTT_MS, PACING_SLACK_MS, PACKET_NUMBER_SKIP_MIN, PACKET_NUMBER_SKIP_SPREAD,
  PACKET_NUMBER_START_RANGE, READ_BLOCK_BYTES, RECEIVE_WINDOW_BYTES, SEND_BURST_PACKETS, TRANSFER_STALL_MS,
} from '../constants.js';
import { BittrrtError } from '../errors.js';
import type { Acknowledgement, SenderStats } from '../protocol/transfer.js';
import { CongestionControl } from './congestion.js';
import { clock, type FrameLink } from './link.js';
import { RttEstimator } from './rtt.js';
import { Spans } from './spans.js';

/** Where a sender's bytes come from. Reads are sequential: each starts where the last one ended. */
export interface ByteSource {
  /** Up to `length` bytes at `offset`; fewer only if the source ended early (a file that shrank). */
  read(offset: number, length: number): Promise<Buffer>;
}

export interface SenderEvents {
  /** Every byte is acknowledged. */
  complete: [];
  /** Bytes acknowledged so far, counted from the stream's start offset. */
  progress: [acked: number];
  error: [err: Error];
}

/**
 * The peer acknowledged what it cannot have received: a packet number never sent, or bytes never
 * sent. An honest receiver never does; one that does wants the sender to go faster than the path
 * allows, or to send to someone else. The transfer stops.
 */
export class OptimisticAckError extends BittrrtError {
  constructor(what: string) {
    super('ERR_OPTIMISTIC_ACK', `the peer acknowledged ${what} that was never sent`);
  }
}

/** Skipped packet numbers remembered (one every ~190 packets: the last ~12,000 packets' worth). */
const SKIPPED_REMEMBERED = 64;

interface InFlight {
  offset: number;
  length: number;
  sentAt: number;
}

/**
 * The sending half of one reliable stream (the hot path of a transfer). Bytes go out in
 * datagram-sized segments, each transmission under a new packet number; acknowledgements carry
 * the cumulative offset and SACK spans, from which segments are freed, and the largest packet
 * number received, from which RTT is sampled and losses found (RFC 9002 style: three later
 * packets acknowledged, or 9/8 RTT older). Lost segments go again first. How much is in flight
 * is bounded by the congestion window and by the receiver's window, and paced over the RTT; a retransmission timeout
 * (RFC 6298) covers a lost tail. Segments never straddle a read block, so a retransmission
 * slices the same block again.
 */
export class StreamSender extends EventEmitter<SenderEvents> {
  readonly rtt = new RttEstimator();
  readonly congestion: CongestionControl;
  packets = 0;
  retransmits = 0;
  /** Offset after the last byte; null while open-ended (a bandwidth test) until end(). */
  #size: number | null;
  readonly #start: number;
  readonly #acked = new Spans();
  #cumulative: number;
  #nextOffset: number;
  #peerWindowEnd: number;
  /** Packet numbers start at a random value and skip one now and then (see PACKET_NUMBER_SKIP_MIN). */
  readonly #firstPacket = randomInt(PACKET_NUMBER_START_RANGE);
  #nextPacket = this.#firstPacket;
  #nextSkip = this.#firstPacket + skipGap();
  /** The latest skipped numbers, a ring: any acknowledgement naming one is optimistic. */
  readonly #skipped: number[] = [];
  #largestAcked = -1;
  readonly #inFlight = new Map<number, InFlight>();
  #bytesInFlight = 0;
  /** Segments to send again, oldest first; taken from #lostHead on (a timeout can add thousands at once). */
  #lost: InFlight[] = [];
  #lostHead = 0;
  /** Read blocks by index from #start, freed once acknowledged. */
  readonly #blocks = new Map<number, Buffer>();
  #readOffset: number;
  #reading = false;
  #pumpQueued = false;
  /** Pacing: when the next datagram is due (clock ms); sends may run ahead of it by PACING_SLACK_MS. */
  #paceAt = 0;
  #paceTimer: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = 0;
  #lastProgress = clock();
  #finished = false;

  /** `stallMs`: fail when the peer acknowledges nothing this long. */
  constructor(private readonly link: FrameLink, private readonly source: ByteSource, start: number, size: number | null,
    private readonly stallMs = TRANSFER_STALL_MS) {
    super();
    this.#start = start;
    this.#cumulative = start;
    this.#nextOffset = start;
    this.#readOffset = start;
    this.#size = size;
    this.#peerWindowEnd = start + RECEIVE_WINDOW_BYTES;
    this.congestion = new CongestionControl(link.maxBody);
  }

  get stats(): SenderStats {
    return {
      packets: this.packets,
      retransmits: this.retransmits,
      srtt: this.rtt.hasSample ? this.rtt.smoothed : null,
      minRtt: this.rtt.hasSample ? this.rtt.min : null,
    };
  }

  /** Bytes acknowledged, from the start offset. */
  get acked(): number {
    return this.#cumulative - this.#start;
  }

  start(): void {
    if (this.#checkComplete()) return;
    this.#fill();
    this.#pump();
  }

  /** Ends an open-ended stream at what was sent so far; it completes once that is acknowledged. */
  end(): void {
    if (this.#size !== null) return;
    this.#size = this.#nextOffset;
    this.#checkComplete();
  }

  /** Stops sending and forgets every timer and buffer; nothing more is emitted. */
  stop(): void {
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    this.#blocks.clear();
    this.#inFlight.clear();
    this.#lost = [];
    this.#lostHead = 0;
  }

  /* ---------------- acknowledgements ---------------- */

  /**
   * An acknowledgement. Returns false if it acknowledges what was never sent (the transfer then
   * fails with OptimisticAckError), so the caller can count the drop.
   */
  onAck(largestPacket: number, cumulative: number, ack: Acknowledgement): boolean {
    if (this.#finished) return true;
    const now = clock();
    // Below the first number: the receiver has no data packet to report yet (it says 0).
    if (largestPacket < this.#firstPacket) return true;
    if (largestPacket >= this.#nextPacket || this.#skipped.includes(largestPacket)) {
      this.#fail(new OptimisticAckError('a packet'));
      return false;
    }
    if (cumulative > this.#nextOffset) {
      this.#fail(new OptimisticAckError('data'));
      return false;
    }
    if (ack.windowEnd > this.#peerWindowEnd) this.#peerWindowEnd = ack.windowEnd;
    if (largestPacket > this.#largestAcked) {
      const newest = this.#inFlight.get(largestPacket);
      if (newest) {
        this.rtt.sample(now - newest.sentAt, ack.delayMicros / 1000);
        this.congestion.onRtt(this.rtt.latest, this.rtt.min, newest.sentAt, now);
      }
      this.#largestAcked = largestPacket;
    }
    if (cumulative > this.#cumulative) {
      this.#acked.add(this.#cumulative, cumulative);
      this.#cumulative = cumulative;
    }
    // A hostile receiver could send endless tiny spans: past a bound, only the cumulative offset counts.
    for (const [start, end] of ack.spans) {
      if (end <= this.#nextOffset && this.#acked.count < MAX_SACKED_SPANS) this.#acked.add(start, end);
    }
    this.#cumulative = this.#acked.contiguousEnd(this.#cumulative);
    this.#acked.forgetBelow(this.#cumulative);

    let newlyAcked = 0;
    const lostBefore = now - LOSS_TIME_THRESHOLD * Math.max(this.rtt.smoothed || 0, this.rtt.latest || 0);
    for (const [packet, segment] of this.#inFlight) {
      if (packet > this.#largestAcked) break;
      const end = segment.offset + segment.length;
      if (end <= this.#cumulative || this.#acked.covers(segment.offset, end)) {
        newlyAcked += segment.length;
      } else if (packet <= this.#largestAcked - LOSS_PACKET_THRESHOLD || segment.sentAt <= lostBefore) {
        this.#lost.push(segment);
        this.congestion.onLost(segment.sentAt, now);
      } else {
        continue;
      }
      this.#inFlight.delete(packet);
      this.#bytesInFlight -= segment.length;
    }
    if (newlyAcked > 0) {
      this.#lastProgress = now;
      this.#timerAt = 0; // new data acknowledged: the timeout starts over (RFC 6298 5.3)
      this.congestion.onAcked(newlyAcked);
      this.emit('progress', this.acked);
    }
    this.#freeBlocks();
    if (this.#checkComplete()) return true;
    this.#fill();
    this.#pump();
    return true;
  }

  /* ---------------- sending ---------------- */

  /**
   * Sends while the windows allow, retransmissions first: at most a burst per event-loop turn
   * (acknowledgements are read in between), and paced over the round trip (below).
   */
  #pump(): void {
    if (this.#finished) return;
    const window = Math.min(this.congestion.window, RECEIVE_WINDOW_BYTES * 2);
    const rate = this.#pacingRate(window);
    let burst = 0;
    while (this.#bytesInFlight < window && burst < SEND_BURST_PACKETS) {
      const now = clock();
      if (this.#paceAt > now + PACING_SLACK_MS) {
        this.#pauseUntil(this.#paceAt - PACING_SLACK_MS, now);
        break;
      }
      const segment = this.#nextSegment();
      if (segment === null) break;
      const block = this.#blocks.get(Math.floor((segment.offset - this.#start) / READ_BLOCK_BYTES))!;
      const at = (segment.offset - this.#start) % READ_BLOCK_BYTES;
      const packet = this.#takePacketNumber();
      segment.sentAt = now;
      this.#inFlight.set(packet, segment);
      this.#bytesInFlight += segment.length;
      this.#paceAt = Math.max(this.#paceAt, now - PACING_SLACK_MS) + segment.length / rate;
      this.packets++;
      burst++;
      if (!this.link.data(packet, segment.offset, block.subarray(at, at + segment.length))) return this.#fail(new Error('the session closed'));
    }
    if (burst === SEND_BURST_PACKETS && !this.#pumpQueued) {
      this.#pumpQueued = true;
      setImmediate(() => {
        this.#pumpQueued = false;
        this.#pump();
      });
    }
    this.#armTimer();
  }

  /**
   * Bytes per millisecond: the window spread over one smoothed RTT, with headroom (twice that in
   * slow start, so the window can still double; 1.25 times after, as Linux's fq pacing does).
   * Unpaced until the first RTT sample.
   */
  #pacingRate(window: number): number {
    if (!this.rtt.hasSample) return Infinity;
    return ((this.congestion.inSlowStart ? 2 : 1.25) * window) / Math.max(this.rtt.smoothed, MIN_PACING_RTT_MS);
  }

  #pauseUntil(at: number, now: number): void {
    if (this.#paceTimer !== undefined) return;
    this.#paceTimer = setTimeout(() => {
      this.#paceTimer = undefined;
      this.#pump();
    }, Math.max(1, at - now));
  }

  /** The next segment to send: a lost one still unacknowledged, else new bytes the receiver has room for and that are read. */
  #nextSegment(): InFlight | null {
    while (this.#lostHead < this.#lost.length) {
      const segment = this.#lost[this.#lostHead++]!;
      if (this.#lostHead === this.#lost.length) {
        this.#lost = [];
        this.#lostHead = 0;
      }
      const end = segment.offset + segment.length;
      if (end <= this.#cumulative || this.#acked.covers(segment.offset, end)) continue;
      this.retransmits++;
      return { offset: segment.offset, length: segment.length, sentAt: 0 };
    }
    const offset = this.#nextOffset;
    if ((this.#size !== null && offset >= this.#size) || offset >= this.#readOffset) return null;
    const blockEnd = this.#start + (Math.floor((offset - this.#start) / READ_BLOCK_BYTES) + 1) * READ_BLOCK_BYTES;
    const length = Math.min(this.link.maxBody, blockEnd - offset, this.#readOffset - offset);
    // Whole segments only (the receiver refuses slivers): wait for the window to take one.
    if (offset + length > this.#peerWindowEnd) return null;
    this.#nextOffset += length;
    return { offset, length, sentAt: 0 };
  }

  /** The next packet number, leaving one unused (and remembered) every so often. */
  #takePacketNumber(): number {
    if (this.#nextPacket === this.#nextSkip) {
      if (this.#skipped.length === SKIPPED_REMEMBERED) this.#skipped.shift();
      this.#skipped.push(this.#nextPacket++);
      this.#nextSkip = this.#nextPacket + skipGap();
    }
    return this.#nextPacket++;
  }

  /** Reads ahead, one block at a time, up to a receive window beyond what is acknowledged. */
  #fill(): void {
    if (this.#reading || this.#finished) return;
    if (this.#size !== null && this.#readOffset >= this.#size) return;
    if (this.#readOffset - this.#cumulative >= RECEIVE_WINDOW_BYTES + READ_BLOCK_BYTES) return;
    const offset = this.#readOffset;
    const length = this.#size === null ? READ_BLOCK_BYTES : Math.min(READ_BLOCK_BYTES, this.#size - offset);
    this.#reading = true;
    this.source.read(offset, length).then((block) => {
      this.#reading = false;
      if (this.#finished) return;
      if (block.length < length) {
        return this.#fail(new Error(`the source ended at byte ${offset + block.length}, before its announced size ${this.#size}`));
      }
      this.#blocks.set(Math.floor((offset - this.#start) / READ_BLOCK_BYTES), block);
      this.#readOffset += block.length;
      this.#fill();
      this.#pump();
    }, (err: Error) => {
      this.#reading = false;
      this.#fail(err);
    });
  }

  #freeBlocks(): void {
    const below = Math.floor((this.#cumulative - this.#start) / READ_BLOCK_BYTES);
    for (const index of this.#blocks.keys()) if (index < below) this.#blocks.delete(index);
  }

  #checkComplete(): boolean {
    if (this.#finished || this.#size === null || this.#cumulative < this.#size) return false;
    this.stop();
    this.emit('complete');
    return true;
  }

  /* ---------------- timers ---------------- */

  /**
   * Starts the retransmission timer unless it runs. One Node timer serves: when it fires early
   * (the deadline moved later) it sleeps again for the rest. It also runs while nothing is in
   * flight, to probe a shut receive window and to notice a stalled peer.
   */
  #armTimer(): void {
    if (this.#timerAt !== 0) return;
    this.#timerAt = clock() + this.rtt.rto;
    this.#timer ??= setTimeout(() => this.#onTimer(), this.rtt.rto);
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#finished) return;
    const now = clock();
    if (now - this.#lastProgress > this.stallMs) {
      return this.#fail(new Error(`the peer acknowledged nothing for ${this.stallMs / 1000} s`));
    }
    if (now < this.#timerAt - 1) {
      this.#timer = setTimeout(() => this.#onTimer(), this.#timerAt - now);
      return;
    }
    this.#timerAt = 0;
    if (this.#inFlight.size > 0) {
      // Retransmission timeout: everything in flight is presumed lost (RFC 6298 5.4-5.6).
      for (const segment of this.#inFlight.values()) this.#lost.push(segment);
      this.#inFlight.clear();
      this.#bytesInFlight = 0;
      this.congestion.onTimeout(now);
      this.rtt.backOff();
    } else if (this.#nextOffset + this.link.maxBody > this.#peerWindowEnd) {
      // The receiver's window is shut and its opening may have been lost: an empty segment asks again.
      this.rtt.backOff();
      this.link.data(this.#takePacketNumber(), this.#cumulative, EMPTY);
    }
    this.#pump();
  }

  #fail(err: Error): void {
    if (this.#finished) return;
    this.stop();
    this.emit('error', err);
  }
}

const EMPTY = new Uint8Array(0);

function skipGap(): number {
  return PACKET_NUMBER_SKIP_MIN + randomInt(PACKET_NUMBER_SKIP_SPREAD);
}
