import {
  LOSS_PACKET_THRESHOLD, LOSS_TIME_THRESHOLD, MAX_SACKED_SPANS, PACING_SLACK_MS, PACKET_NUMBER_SKIP_MIN, PACKET_NUMBER_SKIP_SPREAD,
  PACKET_NUMBER_START_RANGE, READ_BLOCK_BYTES, RECEIVE_WINDOW_BYTES, TRANSFER_STALL_MS,
} from '../constants.js';
import { EMPTY } from '../bytes.js';
import { BittrrtError } from '../errors.js';
import type { Acknowledgement, SenderStats } from '../protocol/transfer.js';
import { Bbr } from './congestion/bbr.js';
import { DeliveryRateSampler, type DeliveryStamp } from './congestion/delivery-rate.js';
import { RttEstimator } from './rtt.js';
import { Spans } from './spans.js';
import { TransferError } from './transfer-error.js';

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

/** One datagram to send: `body` empty is a window probe. */
export interface Transmit {
  packet: number;
  offset: number;
  body: Uint8Array;
}

/** A read the core wants: `length` bytes at `offset`, sequential. */
export interface ReadRequest {
  offset: number;
  length: number;
}

export interface SendCoreOptions {
  /** Most payload bytes per datagram. */
  maxBody: number;
  /** First offset to send, and the offset after the last (null: open-ended until end()). */
  start: number;
  size: number | null;
  /** The clock's reading when the stream is made (ms). */
  now: number;
  /** Fail when the peer acknowledges nothing this long (ms). */
  stallMs?: number;
  /** How far sends may run ahead of the pacing schedule (ms): the driver's timer granularity. */
  pacingSlackMs?: number;
  /** Uniform integers in [0, n): packet numbers. Injected so a simulation can be replayed. */
  randomInt: (n: number) => number;
}

/** Skipped packet numbers remembered (one every ~190 packets: the last ~12,000 packets' worth). */
const SKIPPED_REMEMBERED = 64;

interface InFlight extends DeliveryStamp {
  offset: number;
}

/**
 * The sending half of one reliable stream, without I/O: time and acknowledgements go in,
 * datagrams, read requests and a deadline come out (the shape of quinn-proto's connection), so a
 * simulated network can drive it in virtual time and a thin driver (StreamSender) binds it to a
 * session and Node's timers.
 *
 * Bytes go out in datagram-sized segments, each transmission under a new packet number;
 * acknowledgements carry the cumulative offset and SACK spans, from which segments are freed, and
 * the largest packet number received, from which RTT is sampled and losses found (RFC 9002 style:
 * three later packets acknowledged, or 9/8 RTT older). Lost segments go again first. How much is in
 * flight is bounded by the congestion controller's window and by the receiver's window, and paced
 * at the controller's rate; a retransmission timeout (RFC 6298) covers a lost tail. Segments never
 * straddle a read block, so a retransmission slices the same block again.
 */
export class SendCore {
  readonly rtt = new RttEstimator();
  readonly congestion: Bbr;
  readonly delivery = new DeliveryRateSampler();
  packets = 0;
  retransmits = 0;
  /** Payload bytes sent, first transmissions and retransmissions alike. */
  sentBytes = 0;
  retransmittedBytes = 0;
  /** Retransmission timeouts that fired with data in flight. */
  timeouts = 0;
  /** Why the stream failed, once it has; nothing more happens after. */
  error: Error | null = null;
  complete = false;
  readonly #maxBody: number;
  readonly #stallMs: number;
  readonly #slack: number;
  readonly #randomInt: (n: number) => number;
  #size: number | null;
  readonly #start: number;
  readonly #acked = new Spans();
  #cumulative: number;
  #nextOffset: number;
  #peerWindowEnd: number;
  /** Packet numbers start at a random value and skip one now and then (see PACKET_NUMBER_SKIP_MIN). */
  readonly #firstPacket: number;
  #nextPacket: number;
  #nextSkip: number;
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
  /** Pacing: when the next datagram is due; sends may run ahead of it by the slack. */
  #paceAt = 0;
  /** The retransmission timer's deadline; 0 while disarmed. */
  #timerAt = 0;
  #lastProgress: number;
  #probeDue = false;
  /** When an empty segment last told the receiver its window holds us back. */
  #blockedSaidAt = -Infinity;
  #stopped = false;

  constructor(options: SendCoreOptions) {
    this.#maxBody = options.maxBody;
    this.#stallMs = options.stallMs ?? TRANSFER_STALL_MS;
    this.#slack = options.pacingSlackMs ?? PACING_SLACK_MS;
    this.#randomInt = options.randomInt;
    this.#start = options.start;
    this.#cumulative = options.start;
    this.#nextOffset = options.start;
    this.#readOffset = options.start;
    this.#size = options.size;
    this.#peerWindowEnd = options.start + RECEIVE_WINDOW_BYTES;
    this.#lastProgress = options.now;
    this.#firstPacket = this.#randomInt(PACKET_NUMBER_START_RANGE);
    this.#nextPacket = this.#firstPacket;
    this.#nextSkip = this.#firstPacket + this.#skipGap();
    this.congestion = new Bbr({ datagramBytes: this.#maxBody, random: () => this.#randomInt(1 << 30) / (1 << 30) });
    this.#checkComplete();
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

  get bytesInFlight(): number {
    return this.#bytesInFlight;
  }

  /** Where the stream ends, once known (an open-ended one's at end()). */
  get endOffset(): number | null {
    return this.#size;
  }

  /** The stream's end is known and every byte of it has gone out at least once (losses may still be resent). */
  get allSent(): boolean {
    return this.#size !== null && this.#nextOffset >= this.#size;
  }

  /** Nothing more will happen: complete, failed or stopped. */
  get finished(): boolean {
    return this.#stopped;
  }

  /** Ends an open-ended stream at what was sent so far; it completes once that is acknowledged. */
  end(): void {
    if (this.#size !== null) return;
    this.#size = this.#nextOffset;
    this.#checkComplete();
  }

  /** Stops sending and forgets every buffer. */
  stop(): void {
    this.#stopped = true;
    this.#timerAt = 0;
    this.#blocks.clear();
    this.#inFlight.clear();
    this.#lost = [];
    this.#lostHead = 0;
  }

  /* ---------------- acknowledgements ---------------- */

  /**
   * An acknowledgement. Returns false if it acknowledges what was never sent (the stream then
   * fails with OptimisticAckError), so the caller can count the drop.
   */
  onAck(now: number, largestPacket: number, cumulative: number, ack: Acknowledgement): boolean {
    if (this.#stopped) return true;
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
    let rttSample = Number.NaN;
    if (largestPacket > this.#largestAcked) {
      const newest = this.#inFlight.get(largestPacket);
      if (newest) {
        const first = !this.rtt.hasSample;
        this.rtt.sample(now - newest.sentAt, ack.delayMicros / 1000);
        rttSample = this.rtt.latest;
        if (first) this.congestion.onFirstRtt(rttSample);
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
    this.#detectLosses(now);
    const sample = this.delivery.sample(this.congestion.minRtt === Infinity ? 0 : this.congestion.minRtt);
    if (sample.newlyAcked > 0) {
      this.#lastProgress = now;
      this.#timerAt = 0; // new data acknowledged: the timeout starts over (RFC 6298 5.3)
    }
    if (sample.newlyAcked > 0 || sample.newlyLost > 0) {
      this.congestion.onAck({ now, sample, rtt: rttSample, inFlight: this.#bytesInFlight });
    }
    this.#freeBlocks();
    this.#checkComplete();
    return true;
  }

  /** Frees what the acknowledgement covers and declares lost what it shows to be (RFC 9002 §6.1). */
  #detectLosses(now: number): void {
    const lostBefore = now - LOSS_TIME_THRESHOLD * Math.max(this.rtt.smoothed || 0, this.rtt.latest || 0);
    for (const [packet, segment] of this.#inFlight) {
      if (packet > this.#largestAcked) break;
      const end = segment.offset + segment.length;
      if (end <= this.#cumulative || this.#acked.covers(segment.offset, end)) {
        this.delivery.onAcked(now, segment);
      } else if (packet <= this.#largestAcked - LOSS_PACKET_THRESHOLD || segment.sentAt <= lostBefore) {
        this.delivery.onLost(segment);
        this.#lost.push(segment);
      } else {
        continue;
      }
      this.#inFlight.delete(packet);
      this.#bytesInFlight -= segment.length;
    }
  }

  /* ---------------- sending ---------------- */

  /**
   * The next datagram to send now, or null: the windows are full, the pace says later (see
   * deadline()), or nothing is ready (a read is pending, or all is sent). Retransmissions first.
   */
  poll(now: number): Transmit | null {
    if (this.#stopped) return null;
    if (this.#probeDue) {
      this.#probeDue = false;
      return { packet: this.#takePacketNumber(), offset: this.#cumulative, body: EMPTY };
    }
    if (this.#bytesInFlight >= this.congestion.window) return this.#arm(now);
    const nothingLost = this.#lostHead >= this.#lost.length;
    // Computed once a datagram: the blocked check and the segment both need it.
    const newLength = this.#nextNewLength();
    if (nothingLost && newLength > 0 && this.#nextOffset + newLength > this.#peerWindowEnd) {
      // The receiver's window, not the path, holds us back: an empty segment says so (once a round
      // trip, whatever the pace), and a receiver whose disk keeps up grows its window (ReceiveCore's
      // auto-tuning).
      if (now - this.#blockedSaidAt < (this.rtt.hasSample ? this.rtt.smoothed : this.rtt.rto)) return this.#arm(now);
      this.#blockedSaidAt = now;
      return { packet: this.#takePacketNumber(), offset: this.#cumulative, body: EMPTY };
    }
    if (this.#paceAt > now + this.#slack) return this.#arm(now);
    const segment = this.#nextSegment(newLength);
    if (segment === null) {
      // Nothing read yet to send (the source is behind): the samples from now on say less than
      // the path can carry. A shut receive window is not that: it is the path's own limit.
      if (nothingLost && !this.#windowShut()) this.delivery.onAppLimited(this.#bytesInFlight);
      return this.#arm(now);
    }
    const block = this.#blocks.get(this.#blockIndex(segment.offset))!;
    const at = (segment.offset - this.#start) % READ_BLOCK_BYTES;
    const stamped: InFlight = {
      offset: segment.offset, length: segment.length, sentAt: 0, delivered: 0, deliveredTime: 0, firstSentTime: 0, appLimited: false,
    };
    this.delivery.stamp(stamped, now, this.#bytesInFlight);
    const packet = this.#takePacketNumber();
    this.#inFlight.set(packet, stamped);
    this.#bytesInFlight += segment.length;
    this.congestion.onSent(this.#bytesInFlight);
    this.#paceAt = Math.max(this.#paceAt, now - this.#slack) + segment.length / this.congestion.pacingRate;
    this.packets++;
    this.sentBytes += segment.length;
    if (segment.retransmit) {
      this.retransmits++;
      this.retransmittedBytes += segment.length;
    }
    return { packet, offset: segment.offset, body: block.subarray(at, at + segment.length) };
  }

  /** Arms the retransmission timer unless it runs (it also runs while nothing is in flight, to probe a shut window and notice a stalled peer). */
  #arm(now: number): null {
    if (this.#timerAt === 0 && !this.#stopped) this.#timerAt = now + this.rtt.rto;
    return null;
  }

  /**
   * When the driver should next call poll() or onTimer(): the pace's next slot if there is
   * something it could send then, else the retransmission timer; Infinity once finished.
   */
  deadline(): number {
    if (this.#stopped) return Infinity;
    let at = this.#timerAt === 0 ? Infinity : this.#timerAt;
    if (this.#bytesInFlight < this.congestion.window && this.#paceAt - this.#slack < at && this.#hasSomethingToSend()) {
      at = this.#paceAt - this.#slack;
    }
    return at;
  }

  #hasSomethingToSend(): boolean {
    if (this.#lostHead < this.#lost.length) return true;
    const length = this.#nextNewLength();
    return length > 0 && this.#nextOffset + length <= this.#peerWindowEnd;
  }

  /** The receiver's window has no room for the next whole segment (or, with nothing read, for a byte). */
  #windowShut(): boolean {
    return this.#nextOffset + Math.max(1, this.#nextNewLength()) > this.#peerWindowEnd;
  }

  /** The length of the next new segment, whether or not the receiver has room for it; 0 when nothing more is read. */
  #nextNewLength(): number {
    const offset = this.#nextOffset;
    if ((this.#size !== null && offset >= this.#size) || offset >= this.#readOffset) return 0;
    const blockEnd = this.#start + (this.#blockIndex(offset) + 1) * READ_BLOCK_BYTES;
    return Math.min(this.#maxBody, blockEnd - offset, this.#readOffset - offset);
  }

  /** Which read block holds `offset` (blocks count from the start offset). */
  #blockIndex(offset: number): number {
    return Math.floor((offset - this.#start) / READ_BLOCK_BYTES);
  }

  /**
   * The next segment to send: a lost one still unacknowledged, else new bytes the receiver has
   * room for and that are read (`newLength`: #nextNewLength(), which the caller has at hand).
   */
  #nextSegment(newLength: number): { offset: number; length: number; retransmit: boolean } | null {
    while (this.#lostHead < this.#lost.length) {
      const segment = this.#lost[this.#lostHead++]!;
      if (this.#lostHead === this.#lost.length) {
        this.#lost = [];
        this.#lostHead = 0;
      }
      const end = segment.offset + segment.length;
      if (end <= this.#cumulative || this.#acked.covers(segment.offset, end)) continue;
      return { offset: segment.offset, length: segment.length, retransmit: true };
    }
    const offset = this.#nextOffset;
    // Whole segments only (the receiver refuses slivers): wait for the window to take one.
    if (newLength === 0 || offset + newLength > this.#peerWindowEnd) return null;
    this.#nextOffset += newLength;
    return { offset, length: newLength, retransmit: false };
  }

  /** The next packet number, leaving one unused (and remembered) every so often. */
  #takePacketNumber(): number {
    if (this.#nextPacket === this.#nextSkip) {
      if (this.#skipped.length === SKIPPED_REMEMBERED) this.#skipped.shift();
      this.#skipped.push(this.#nextPacket++);
      this.#nextSkip = this.#nextPacket + this.#skipGap();
    }
    return this.#nextPacket++;
  }

  #skipGap(): number {
    return PACKET_NUMBER_SKIP_MIN + this.#randomInt(PACKET_NUMBER_SKIP_SPREAD);
  }

  /* ---------------- reading ---------------- */

  /**
   * The next block to read, if one is wanted: the core reads ahead, one block at a time, up to a
   * block beyond the receiver's window. The driver reads it and hands it to onRead().
   */
  nextRead(): ReadRequest | null {
    if (this.#reading || this.#stopped) return null;
    if (this.#size !== null && this.#readOffset >= this.#size) return null;
    if (this.#readOffset >= this.#peerWindowEnd + READ_BLOCK_BYTES) return null;
    const offset = this.#readOffset;
    const length = this.#size === null ? READ_BLOCK_BYTES : Math.min(READ_BLOCK_BYTES, this.#size - offset);
    this.#reading = true;
    return { offset, length };
  }

  onRead(request: ReadRequest, block: Buffer): void {
    this.#reading = false;
    if (this.#stopped) return;
    if (block.length < request.length) {
      return this.#fail(new TransferError(`the source ended at byte ${request.offset + block.length}, before its announced size ${this.#size}`));
    }
    this.#blocks.set(this.#blockIndex(request.offset), block);
    this.#readOffset += block.length;
  }

  onReadError(err: Error): void {
    this.#reading = false;
    this.#fail(err);
  }

  #freeBlocks(): void {
    const below = this.#blockIndex(this.#cumulative);
    for (const index of this.#blocks.keys()) if (index < below) this.#blocks.delete(index);
  }

  #checkComplete(): void {
    if (this.#stopped || this.#size === null || this.#cumulative < this.#size) return;
    this.stop();
    this.complete = true;
  }

  /* ---------------- timers ---------------- */

  /** The deadline passed: a retransmission timeout, a window probe, or a stall. */
  onTimer(now: number): void {
    if (this.#stopped || this.#timerAt === 0 || now < this.#timerAt) return;
    if (now - this.#lastProgress > this.#stallMs) {
      return this.#fail(new TransferError(`the peer acknowledged nothing for ${this.#stallMs / 1000} s`, { origin: 'silence' }));
    }
    this.#timerAt = 0;
    if (this.#inFlight.size > 0) {
      // Retransmission timeout: everything in flight is presumed lost (RFC 6298 5.4-5.6).
      for (const segment of this.#inFlight.values()) this.#lost.push(segment);
      this.#inFlight.clear();
      this.#bytesInFlight = 0;
      this.timeouts++;
      this.congestion.onTimeout();
      this.rtt.backOff();
    } else if (this.#windowShut()) {
      // The receiver's window is shut and its opening may have been lost: an empty segment asks again.
      this.rtt.backOff();
      this.#probeDue = true;
    }
  }

  #fail(err: Error): void {
    if (this.#stopped) return;
    this.stop();
    this.error = err;
  }
}
