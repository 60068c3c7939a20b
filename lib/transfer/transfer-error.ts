import { BittrrtError } from '../errors.js';

/** A transfer failed: refused by the peer, aborted, or broken by the session or a file. */
export class TransferError extends BittrrtError {
  constructor(message: string) {
    super('ERR_TRANSFER', message);
  }
}
