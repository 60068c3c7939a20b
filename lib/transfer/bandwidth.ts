import { READ_BLOCK_BYTES } from '../constants.js';
import type { ByteSink } from './receiver.js';
import type { ByteSource } from './sender.js';

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
