import { DEFAULT_BANDWIDTH_LIMITS, MAX_BANDWIDTH_SECONDS, READ_BLOCK_BYTES } from '../constants.js';
import type { ByteSink } from './receiver.js';
import type { ByteSource } from './sender.js';
import { HostSlots } from './host-slots.js';

/**
 * The endless source of a bandwidth test: one random block, sent again and again (random, so
 * nothing on the path could compress it). Reads cost nothing, so the test measures the channel.
 */
export class PatternSource implements ByteSource {
  readonly #block: Buffer;

  constructor(fill: (block: Buffer) => void) {
    this.#block = Buffer.allocUnsafe(READ_BLOCK_BYTES);
    fill(this.#block);
  }

  /** The sender reads at most a block at a time. */
  read(_offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(this.#block.subarray(0, length));
  }
}

/** The sink of a bandwidth test: counts and forgets. */
export class DiscardSink implements ByteSink {
  bytes = 0;

  write(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) this.bytes += chunk.length;
    return Promise.resolve();
  }
}

/** How many bandwidth tests a server runs at once, in all and per host, and for how long each. */
export interface BandwidthLimits {
  inAll: number;
  perHost: number;
  maxSeconds: number;
}

/**
 * A server's policy for the bandwidth tests its clients ask for: none ('off'), or limited. Shared
 * by every session's endpoint; a test holds its place from the request until it ends.
 */
export class BandwidthPolicy {
  readonly limits: BandwidthLimits | 'off';
  readonly #slots: HostSlots;

  constructor(limits: BandwidthLimits | 'off' = DEFAULT_BANDWIDTH_LIMITS) {
    this.limits = limits;
    this.#slots = limits === 'off' ? new HostSlots(0, 0) : new HostSlots(limits.inAll, limits.perHost);
  }

  /** Tests running now. */
  get running(): number {
    return this.#slots.running;
  }

  /** A place for a test of `seconds` from `host`: a release function, or the reason it is refused. */
  admit(host: string, seconds: number): (() => void) | string {
    const { limits } = this;
    if (limits === 'off') return 'this server runs no bandwidth tests';
    if (seconds > limits.maxSeconds) return `this server runs bandwidth tests of at most ${limits.maxSeconds} s`;
    const place = this.#slots.take(host);
    if (place === 'host') return `this server runs at most ${limits.perHost} bandwidth test(s) at once per client host; try again when yours ends`;
    if (place === 'all') return `this server runs at most ${limits.inAll} bandwidth test(s) at once, and all are taken; try again later`;
    return place;
  }
}

/** `off`, or `IN_ALL,PER_HOST,SECONDS` (as the config key and `--bandwidth-tests` take it); undefined if neither. */
export function parseBandwidthLimits(text: string): BandwidthLimits | 'off' | undefined {
  if (text === 'off') return 'off';
  const match = /^(\d{1,6}),(\d{1,6}),(\d{1,4})$/.exec(text);
  if (!match) return undefined;
  const [inAll, perHost, maxSeconds] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (inAll < 1 || perHost < 1 || perHost > inAll || maxSeconds < 1 || maxSeconds > MAX_BANDWIDTH_SECONDS) return undefined;
  return { inAll, perHost, maxSeconds };
}

export function formatBandwidthLimits(limits: BandwidthLimits | 'off'): string {
  return limits === 'off' ? 'off' : `${limits.inAll},${limits.perHost},${limits.maxSeconds}`;
}
