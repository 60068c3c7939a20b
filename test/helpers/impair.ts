import type { RemoteInfo, Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { closeSocket, openLoopbackSocket } from './udp.js';

export interface ImpairmentOptions {
  /** Seed of the deterministic PRNG: the same seed and traffic give the same fate to every datagram. */
  seed: number;
  /** Probability 0..1 each datagram is dropped. */
  drop?: number;
  /** Probability 0..1 a forwarded datagram is sent twice. */
  duplicate?: number;
  /** Probability 0..1 a datagram is held back and sent after the next one (reordering). */
  reorder?: number;
  /** Fixed one-way delay in ms added to every datagram (0 = forward synchronously). */
  delayMs?: number;
  /** Extra uniform random delay 0..jitterMs (may also reorder). */
  jitterMs?: number;
  /** Which directions are impaired: default 'both'. */
  direction?: 'both' | 'to-server' | 'to-client';
}

/**
 * Counters of one direction. Each copy of a duplicate counts once in `forwarded` (or in `dropped` if
 * pause() caught it in flight), so once nothing is pending: received + duplicated = forwarded + dropped.
 */
export interface ImpairmentStats {
  received: number;
  forwarded: number;
  dropped: number;
  duplicated: number;
  /** Datagrams held back and then overtaken by a later one (not those released by the timeout). */
  reordered: number;
}

type Settings = Required<Omit<ImpairmentOptions, 'seed'>>;

/** One direction of the link. */
interface Lane {
  readonly stats: ImpairmentStats;
  readonly random: () => number;
  readonly transmit: (datagram: Buffer) => void;
  /** False while no option applies to this lane: then it forwards synchronously, drawing no numbers. */
  impaired: boolean;
  held: Held | null;
}

interface Held {
  readonly datagram: Buffer;
  readonly copies: number;
  readonly delayMs: number;
  readonly timer: NodeJS.Timeout;
}

/** A held-back datagram goes out after the next one, or after this long if no other comes. */
const REORDER_RELEASE_MS = 5;
/** Large enough that bursts of tens of thousands of datagrams a second do not overflow the kernel queues. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const UNIMPAIRED: Settings = { drop: 0, duplicate: 0, reorder: 0, delayMs: 0, jitterMs: 0, direction: 'both' };

/** mulberry32: 32 bits of state, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function newStats(): ImpairmentStats {
  return { received: 0, forwarded: 0, dropped: 0, duplicated: 0, reordered: 0 };
}

function enlargeBuffers(socket: Socket): void {
  try {
    socket.setRecvBufferSize(SOCKET_BUFFER_BYTES);
    socket.setSendBufferSize(SOCKET_BUFFER_BYTES);
  } catch {
    // The kernel may refuse the size; the default still works at lower rates.
  }
}

/** `settings` changed by `options`; throws RangeError on a value out of range. */
function withOptions(settings: Settings, options: Partial<Omit<ImpairmentOptions, 'seed'>>): Settings {
  const next: Settings = { ...settings };
  for (const key of ['drop', 'duplicate', 'reorder'] as const) {
    const value = options[key];
    if (value === undefined) continue;
    if (!(value >= 0 && value <= 1)) throw new RangeError(`${key} must be a probability in 0..1, got ${value}`);
    next[key] = value;
  }
  for (const key of ['delayMs', 'jitterMs'] as const) {
    const value = options[key];
    if (value === undefined) continue;
    if (!(value >= 0 && Number.isFinite(value))) throw new RangeError(`${key} must be a finite number >= 0, got ${value}`);
    next[key] = value;
  }
  if (options.direction !== undefined) next.direction = options.direction;
  return next;
}

/**
 * A UDP proxy on loopback that drops, duplicates, reorders and delays datagrams between one client and
 * a server, reproducibly from a seed. The client talks to `port`; the server sees the proxy's upstream
 * socket as the client. Datagrams from the server go to the client that sent the latest datagram.
 */
export class ImpairmentProxy {
  readonly port: number;
  readonly toServer: ImpairmentStats = newStats();
  readonly toClient: ImpairmentStats = newStats();
  private settings = UNIMPAIRED;
  private readonly serverLane: Lane;
  private readonly clientLane: Lane;
  /** Delayed sends in flight, with their lane and number of copies, so pause() and close() can cancel them. */
  private readonly pending = new Map<NodeJS.Timeout, { lane: Lane; copies: number }>();
  private client: RemoteInfo | null = null;
  private paused = false;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly front: Socket,
    private readonly upstream: Socket,
    serverPort: number,
    serverAddress: string,
    seed: number,
    settings: Settings,
  ) {
    this.port = front.address().port;
    // Separate streams per direction, so the traffic one way does not change the fate of the other way.
    const root = mulberry32(seed);
    this.serverLane = {
      stats: this.toServer,
      random: mulberry32(root() * 2 ** 32),
      transmit: (datagram) => upstream.send(datagram, serverPort, serverAddress),
      impaired: false,
      held: null,
    };
    this.clientLane = {
      stats: this.toClient,
      random: mulberry32(root() * 2 ** 32),
      transmit: (datagram) => {
        // Only reachable after the client has spoken (the server only answers the upstream socket).
        if (this.client) front.send(datagram, this.client.port, this.client.address);
      },
      impaired: false,
      held: null,
    };
    this.apply(settings);
    front.on('message', (datagram, rinfo) => {
      this.client = rinfo;
      this.onDatagram(this.serverLane, datagram);
    });
    upstream.on('message', (datagram) => this.onDatagram(this.clientLane, datagram));
    // A send can fail (say ENOBUFS under a burst); a lossy link loses it rather than crashing the test.
    const ignore = (): void => {};
    front.on('error', ignore);
    upstream.on('error', ignore);
  }

  static async start(serverPort: number, options: ImpairmentOptions, serverAddress = '127.0.0.1'): Promise<ImpairmentProxy> {
    // Validated before any socket opens, so bad options leak nothing.
    const settings = withOptions(UNIMPAIRED, options);
    const front = await openLoopbackSocket();
    const upstream = await openLoopbackSocket(isIPv6(serverAddress) ? 'udp6' : 'udp4');
    enlargeBuffers(front);
    enlargeBuffers(upstream);
    return new ImpairmentProxy(front, upstream, serverPort, serverAddress, options.seed, settings);
  }

  /** Change impairment at run time (e.g. start lossless, then impair). */
  set(options: Partial<Omit<ImpairmentOptions, 'seed'>>): void {
    this.apply(withOptions(this.settings, options));
  }

  /** Stop forwarding entirely (a dead link) until resume(): datagrams in flight and arriving are dropped and counted. */
  pause(): void {
    this.paused = true;
    for (const [timer, { lane, copies }] of this.pending) {
      clearTimeout(timer);
      lane.stats.dropped += copies;
    }
    this.pending.clear();
    for (const lane of [this.serverLane, this.clientLane]) {
      if (!lane.held) continue;
      clearTimeout(lane.held.timer);
      lane.stats.dropped += lane.held.copies;
      lane.held = null;
    }
  }

  resume(): void {
    this.paused = false;
  }

  /** Cancels every pending datagram and closes both sockets; closing again waits for the same close. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private apply(settings: Settings): void {
    this.settings = settings;
    const { drop, duplicate, reorder, delayMs, jitterMs, direction } = settings;
    const impairs = drop > 0 || duplicate > 0 || reorder > 0 || delayMs > 0 || jitterMs > 0;
    this.serverLane.impaired = impairs && direction !== 'to-client';
    this.clientLane.impaired = impairs && direction !== 'to-server';
  }

  private async shutdown(): Promise<void> {
    for (const timer of this.pending.keys()) clearTimeout(timer);
    this.pending.clear();
    for (const lane of [this.serverLane, this.clientLane]) {
      if (lane.held) clearTimeout(lane.held.timer);
      lane.held = null;
    }
    await Promise.all([closeSocket(this.front), closeSocket(this.upstream)]);
  }

  private onDatagram(lane: Lane, datagram: Buffer): void {
    // A datagram read before the sockets finished closing must not be sent on a closed socket.
    if (this.closing) return;
    lane.stats.received++;
    if (this.paused) {
      lane.stats.dropped++;
      return;
    }
    if (!lane.impaired) {
      this.send(lane, datagram, 1);
      if (lane.held) this.release(lane, true);
      return;
    }
    // Always four draws, so datagram n meets the same dice whatever mix of options is set.
    const dropRoll = lane.random();
    const duplicateRoll = lane.random();
    const reorderRoll = lane.random();
    const jitterRoll = lane.random();
    const { drop, duplicate, reorder, delayMs, jitterMs } = this.settings;
    if (dropRoll < drop) {
      lane.stats.dropped++;
      return;
    }
    const copies = duplicateRoll < duplicate ? 2 : 1;
    lane.stats.duplicated += copies - 1;
    const delay = delayMs + jitterRoll * jitterMs;
    if (!lane.held && reorderRoll < reorder) {
      const timer = setTimeout(() => this.release(lane, false), REORDER_RELEASE_MS);
      lane.held = { datagram, copies, delayMs: delay, timer };
      return;
    }
    this.deliver(lane, datagram, copies, delay);
    if (lane.held) this.release(lane, true);
  }

  /** Sends the held-back datagram of `lane`; `overtaken` when a later datagram went first. */
  private release(lane: Lane, overtaken: boolean): void {
    const held = lane.held;
    if (!held) return;
    lane.held = null;
    clearTimeout(held.timer);
    if (overtaken) lane.stats.reordered++;
    this.deliver(lane, held.datagram, held.copies, held.delayMs);
  }

  private deliver(lane: Lane, datagram: Buffer, copies: number, delayMs: number): void {
    if (delayMs <= 0) {
      this.send(lane, datagram, copies);
      return;
    }
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      this.send(lane, datagram, copies);
    }, delayMs);
    this.pending.set(timer, { lane, copies });
  }

  private send(lane: Lane, datagram: Buffer, copies: number): void {
    for (let i = 0; i < copies; i++) lane.transmit(datagram);
    lane.stats.forwarded += copies;
  }
}
