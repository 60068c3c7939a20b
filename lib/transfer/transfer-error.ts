import { BittrrtError } from '../errors.js';

/**
 * Where a transfer's failure came from: `peer`, it refused or aborted the transfer; `silence`, it
 * sent nothing for the stall time; `local`, anything else (a file, a check, a cancel, the session).
 */
export type TransferErrorOrigin = 'local' | 'peer' | 'silence';

export interface TransferErrorOptions {
  origin?: TransferErrorOrigin;
  cause?: unknown;
}

/** A transfer failed: refused by the peer, aborted, or broken by the session or a file. */
export class TransferError extends BittrrtError {
  readonly origin: TransferErrorOrigin;
  constructor(message: string, options: TransferErrorOptions = {}) {
    super('ERR_TRANSFER', message);
    this.origin = options.origin ?? 'local';
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** `err` as the transfer API promises it: a BittrrtError as it is, anything else as a TransferError around it. */
export function asTransferFailure(err: unknown): BittrrtError {
  if (err instanceof BittrrtError) return err;
  return new TransferError(err instanceof Error ? err.message : String(err), { cause: err });
}
