import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { TransferFileError } from './files.js';
import type { ByteSink } from './receiver.js';

/**
 * A download written to a stream (standard output) as it arrives, in order, and hashed as it
 * goes. A stream cannot be taken back: the bytes are out before the sender's hash is known, so
 * finish() can only say whether they matched; the caller turns a mismatch into its exit code.
 * There is no part file, so a stream download never resumes.
 */
export class StreamSink implements ByteSink {
  readonly #hash = createHash('sha256');
  #failed: Error | undefined;

  /** `label` names the stream in errors ("standard output"). */
  constructor(private readonly out: Writable, private readonly label: string) {
    // A reader that goes away (EPIPE) fails the write below; without a listener it would crash the process.
    out.on('error', (err) => { this.#failed ??= err; });
  }

  /** Writes `chunks` and resolves once the stream took them (its backpressure slows the receiver). */
  async write(chunks: Buffer[]): Promise<void> {
    if (this.#failed) throw this.#writeError(this.#failed);
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    await new Promise<void>((resolve, reject) => {
      this.out.write(data, (err) => (err ? reject(this.#writeError(err)) : resolve()));
    });
    this.#hash.update(data);
  }

  /** Whether what was written hashes to the sender's SHA-256; throws the mismatch. */
  async finish(expectedSha256: string): Promise<void> {
    if (this.#failed) throw this.#writeError(this.#failed);
    if (this.#hash.copy().digest('hex') !== expectedSha256) {
      throw new TransferFileError(`SHA-256 mismatch: the bytes written to ${this.label} differ from the sender's file`,
        'SHA-256 mismatch: the received data differs from the sender\'s file');
    }
  }

  #writeError(err: Error): TransferFileError {
    const code = (err as NodeJS.ErrnoException).code;
    return new TransferFileError(code === 'EPIPE' ? `${this.label}: the reader closed the pipe` : `${this.label}: cannot be written to`);
  }
}
