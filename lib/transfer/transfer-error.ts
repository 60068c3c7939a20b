import { BittrrtError } from '../errors.js';

/**
 * Where a transfer's failure came from: `peer`, it refused or aborted the transfer; `silence`, it
 * sent nothing for the stall time; `local`, anything else (a file, a check, a cancel, the session).
 */
export type TransferErrorOrigin = 'local' | 'peer' | 'silence';

/** What the peer said when it refused or aborted a transfer: its verb and its own reason. */
export interface PeerWords {
  readonly verb: 'refused' | 'aborted';
  readonly reason: string;
}

export interface TransferErrorOptions {
  origin?: TransferErrorOrigin;
  cause?: unknown;
  peerWords?: PeerWords;
}

/** A transfer failed: refused by the peer, aborted, or broken by the session or a file. */
export class TransferError extends BittrrtError {
  readonly origin: TransferErrorOrigin;
  /** The peer's refusal or abort in its own words, so a caller can say it its way without parsing the message. */
  readonly peerWords: PeerWords | undefined;
  constructor(message: string, options: TransferErrorOptions = {}, code = 'ERR_TRANSFER') {
    super(code, message);
    this.origin = options.origin ?? 'local';
    this.peerWords = options.peerWords;
    if (options.cause !== undefined) this.cause = options.cause;
  }

  /** The peer refused or aborted, saying `reason`: "the peer refused: REASON". */
  static fromPeer(verb: PeerWords['verb'], reason: string): TransferError {
    return new TransferError(`the peer ${verb}: ${reason}`, { origin: 'peer', peerWords: { verb, reason } });
  }
}

/**
 * A transfer stopped because the peer sent nothing at all, not a heartbeat answer nor an
 * acknowledgement, for `peerSilenceMs` (TransferEndpointOptions): it has stopped, or the path to
 * it is down. Its part files stay for a resume.
 */
export class PeerSilentError extends TransferError {
  readonly silenceMs: number;
  constructor(silenceMs: number) {
    super(`the peer has sent nothing for ${silenceMs / 1000} s: it has stopped, or the path to it is down`, { origin: 'silence' }, 'ERR_PEER_SILENT');
    this.silenceMs = silenceMs;
  }
}

/** `err` as the transfer API promises it: a BittrrtError as it is, anything else as a TransferError around it. */
export function asTransferFailure(err: unknown): BittrrtError {
  if (err instanceof BittrrtError) return err;
  return new TransferError(err instanceof Error ? err.message : String(err), { cause: err });
}
