import { EventEmitter } from 'node:events';
import { RECEIVE_WINDOW_BYTES } from '../constants.js';
import { clock } from '../time.js';
import type { FrameLink } from './link.js';
import { ReceiveCore, type AckFrame, type DataVerdict } from './receive-core.js';

export type { DataVerdict } from './receive-core.js';

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

/**
 * Drives a ReceiveCore with a session, a byte sink and Node's event loop: it hands data frames to
 * the core, sends the acknowledgements it makes (those not due at once at the end of the
 * event-loop turn, so one acknowledges all the datagrams read in that turn), and runs its writes.
 */
export class StreamReceiver extends EventEmitter<ReceiverEvents> {
  readonly #core: ReceiveCore;
  #ackQueued = false;
  #writing = false;
  #completed = false;
  #failed = false;

  /** `window` is the first receive window; `grow` asks for more (see ReceiveCoreOptions). */
  constructor(private readonly link: FrameLink, private readonly sink: ByteSink, start: number, size: number | null, window = RECEIVE_WINDOW_BYTES,
    grow?: (extra: number) => boolean) {
    super();
    this.#core = new ReceiveCore({ maxBody: link.maxBody, start, size, window, grow, now: clock() });
    this.#completed = this.#core.complete;
  }

  get lastActivity(): number {
    return this.#core.lastActivity;
  }

  get start(): number {
    return this.#core.start;
  }

  get size(): number | null {
    return this.#core.size;
  }

  get untouched(): boolean {
    return this.#core.untouched;
  }

  restartAt(start: number): boolean {
    const ok = this.#core.restartAt(start);
    this.#completed = this.#core.complete;
    return ok;
  }

  get held(): number {
    return this.#core.held;
  }

  get written(): number {
    return this.#core.written;
  }

  get complete(): boolean {
    return this.#core.complete;
  }

  setSize(size: number): DataVerdict {
    const verdict = this.#core.setSize(size);
    this.#after();
    return verdict;
  }

  /** A data frame; from a short one, `packet` is only the packet number's low 32 bits (`lowBits`). */
  onData(packet: number, offset: number, body: Buffer, lowBits = false): DataVerdict {
    const verdict = this.#core.onData(clock(), lowBits ? this.#core.expandPacket(packet) : packet, offset, body);
    this.#after();
    return verdict;
  }

  /** Stops: no more writes are started or acknowledgements sent; pending ones finish. */
  stop(): void {
    this.#core.stop();
  }

  /** Resolves once no write is in progress (so a part file holds exactly what was written). */
  async drain(): Promise<void> {
    while (this.#writing) await new Promise((resolve) => setImmediate(resolve));
  }

  /** After every input: send a due acknowledgement (or one at the end of the turn), start a write, report. */
  #after(): void {
    const core = this.#core;
    this.#send(core.pollAck(clock()));
    if (core.unacked > 0) this.#queueAck();
    this.#write();
    this.#settle();
  }

  #send(frame: AckFrame | null): void {
    if (frame !== null) this.link.ack(frame.largestPacket, frame.cumulative, frame.ack);
  }

  #queueAck(): void {
    if (this.#ackQueued) return;
    this.#ackQueued = true;
    setImmediate(() => {
      this.#ackQueued = false;
      this.#send(this.#core.flushAck(clock()));
    });
  }

  /** One write at a time, of everything queued since the last one. */
  #write(): void {
    const chunks = this.#core.nextWrite();
    if (chunks === null) return;
    this.#writing = true;
    this.sink.write(chunks).then(() => {
      this.#writing = false;
      const before = this.#core.written;
      this.#core.onWritten(clock());
      if (this.#core.stopped) return;
      if (this.#core.written > before) this.emit('progress', this.#core.written);
      this.#after();
    }, (err: Error) => {
      this.#writing = false;
      this.#core.onWriteError(err);
      this.#settle();
    });
  }

  #settle(): void {
    const core = this.#core;
    if (core.error && !this.#failed) {
      this.#failed = true;
      this.emit('error', core.error);
    } else if (core.complete && !this.#completed) {
      this.#completed = true;
      this.emit('complete');
    }
  }
}
