import { DEFAULT_MAX_DATAGRAM, TRANSFER_OVERHEAD } from '../../lib/constants.js';
import { ackBytes } from '../../lib/protocol/transfer.js';
import { ReceiveCore } from '../../lib/transfer/receive-core.js';
import { SendCore } from '../../lib/transfer/send-core.js';
import { SimHost, type HostOptions } from './host.js';
import type { SimLink } from './link.js';
import type { SeededRandom } from './random.js';
import type { Simulator } from './simulator.js';

/** IPv4 and UDP headers, counted on the simulated wire as on a real one. */
const IP_UDP_BYTES = 28;
const MAX_BODY = DEFAULT_MAX_DATAGRAM - TRANSFER_OVERHEAD;
/** One block of zeros stands for the file: the core never looks at the bytes. */
const ZEROS = Buffer.alloc(1024 * 1024);

export interface FlowOptions {
  /** Bytes to send; null for open-ended (stopped by the test). */
  size: number | null;
  /** When the receiver sends what is not due at once: the end of a driver's turn (ms; Node: well under one). */
  ackDelayMs?: number;
  /** How fast the sink writes, bytes per ms: Infinity is a disk that keeps up. */
  diskBytesPerMs?: number;
  /** Receive window, bytes, at first. */
  window?: number;
  /** Asked for more receive window (ReceiveCoreOptions.grow); unset: it grows unasked up to its bound. */
  grow?: (extra: number) => boolean;
  /** The sending and receiving hosts' threads; unset: every event runs the instant it arrives. */
  hosts?: HostOptions;
  /** Which of the two hosts behave so (default both). */
  hostSides?: 'both' | 'sender' | 'receiver';
}

/**
 * One transfer over simulated links: a SendCore and a ReceiveCore driven as StreamSender and
 * StreamReceiver drive them, but by the simulator's clock. Data goes over `forward`, acknowledgements
 * over `back`, each datagram counted at its real size on the wire.
 */
export class SimFlow {
  readonly sender: SendCore;
  readonly receiver: ReceiveCore;
  /** Payload bytes the receiver took in order, with the virtual time, sampled per acknowledgement. */
  readonly deliveredAt: Array<[time: number, bytes: number]> = [];
  completedAt = -1;
  #deadline = Infinity;
  #deadlineToken = 0;
  #ackQueued = false;
  #writing = false;
  readonly #sendHost: SimHost | undefined;
  readonly #receiveHost: SimHost | undefined;

  constructor(private readonly sim: Simulator, private readonly forward: SimLink, private readonly back: SimLink,
    random: SeededRandom, private readonly options: FlowOptions) {
    if (options.hosts !== undefined) {
      const sides = options.hostSides ?? 'both';
      if (sides !== 'receiver') this.#sendHost = new SimHost(sim, random, options.hosts);
      if (sides !== 'sender') this.#receiveHost = new SimHost(sim, random, options.hosts);
    }
    // A host that pauses gets the real driver's pacing slack, as a Node process does.
    const pacingSlackMs = options.hosts === undefined ? 0 : undefined;
    this.sender = new SendCore({ maxBody: MAX_BODY, start: 0, size: options.size, now: sim.now, randomInt: (n) => random.int(n), pacingSlackMs });
    this.receiver = new ReceiveCore({ maxBody: MAX_BODY, start: 0, size: options.size, window: options.window, grow: options.grow, now: sim.now });
  }

  start(): void {
    this.#pump();
  }

  stop(): void {
    this.sender.stop();
    this.receiver.stop();
  }

  /** Payload bytes delivered in order to the receiver so far. */
  get goodputBytes(): number {
    return this.receiver.written + this.receiver.held;
  }

  #pump(): void {
    const sender = this.sender;
    const now = this.sim.now;
    for (let transmit = sender.poll(now); transmit !== null; transmit = sender.poll(now)) {
      const { packet, offset, body } = transmit;
      this.forward.send(body.length + TRANSFER_OVERHEAD + IP_UDP_BYTES, () => this.#on(this.#receiveHost, () => this.#onData(packet, offset, body)));
    }
    this.#read();
    if (sender.complete && this.completedAt < 0) this.completedAt = now;
    this.#arm(sender.deadline());
  }

  #read(): void {
    for (let request = this.sender.nextRead(); request !== null; request = this.sender.nextRead()) {
      this.sender.onRead(request, ZEROS.subarray(0, request.length));
    }
  }

  #arm(at: number): void {
    if (at === this.#deadline) return;
    this.#deadline = at;
    if (at === Infinity) return;
    const token = ++this.#deadlineToken;
    this.sim.at(at, () => this.#on(this.#sendHost, () => {
      if (token !== this.#deadlineToken) return;
      this.#deadline = Infinity;
      this.sender.onTimer(this.sim.now);
      this.#pump();
    }));
  }

  #onData(packet: number, offset: number, body: Uint8Array): void {
    const receiver = this.receiver;
    receiver.onData(this.sim.now, packet, offset, body as Buffer);
    this.#sendAck(receiver.pollAck(this.sim.now));
    if (receiver.unacked > 0 && !this.#ackQueued) {
      this.#ackQueued = true;
      this.sim.after(this.options.ackDelayMs ?? 0.05, () => this.#on(this.#receiveHost, () => {
        this.#ackQueued = false;
        this.#sendAck(receiver.flushAck(this.sim.now));
      }));
    }
    this.#write();
  }

  /** The sink keeps nothing: taking the write from the core is the write. */
  #write(): void {
    const chunks = this.#writing ? null : this.receiver.nextWrite();
    if (chunks === null) return;
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.length;
    this.#writing = true;
    this.sim.after(bytes / (this.options.diskBytesPerMs ?? Infinity), () => {
      this.#writing = false;
      this.receiver.onWritten(this.sim.now);
      this.#sendAck(this.receiver.pollAck(this.sim.now));
      this.#write();
    });
  }

  #sendAck(frame: ReturnType<ReceiveCore['pollAck']>): void {
    if (frame === null) return;
    this.deliveredAt.push([this.sim.now, frame.cumulative]);
    const bytes = ackBytes(frame.ack.spans.length) + TRANSFER_OVERHEAD + IP_UDP_BYTES;
    this.back.send(bytes, () => this.#on(this.#sendHost, () => {
      this.sender.onAck(this.sim.now, frame.largestPacket, frame.cumulative, frame.ack);
      this.#pump();
    }));
  }

  /** Runs an event on a host's thread, or at once without hosts. */
  #on(host: SimHost | undefined, event: () => void): void {
    if (host === undefined) event();
    else host.handle(event);
  }
}
