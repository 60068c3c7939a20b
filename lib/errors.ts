/** Typed errors, so callers branch on `instanceof` or `code`, never on message text. */

export class BittrrtError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A key, nonce or message had the wrong length or shape. */
export class InvalidInputError extends BittrrtError {
  constructor(message: string) {
    super('ERR_INVALID_INPUT', message);
  }
}

/** The peer's X25519 public key is of low order: the shared secret would be all zeros. */
export class LowOrderKeyError extends BittrrtError {
  constructor() {
    super('ERR_LOW_ORDER_KEY', 'peer public key is of low order (all-zero shared secret)');
  }
}

/** encrypt/decrypt was called before deriveSharedSecret, or after destroy. */
export class NoSharedKeyError extends BittrrtError {
  constructor(message = 'no shared key: call deriveSharedSecret() first') {
    super('ERR_NO_SHARED_KEY', message);
  }
}

/** An AEAD message was too short, tampered with, or sealed under another key or associated data. */
export class DecryptError extends BittrrtError {
  constructor(message = 'message failed authentication') {
    super('ERR_DECRYPT', message);
  }
}

/** A Fernet token was malformed, failed its MAC, or expired. */
export class InvalidTokenError extends BittrrtError {
  constructor(message: string) {
    super('ERR_INVALID_TOKEN', message);
  }
}

/** The native crypto binding was required (BITTRRT_CRYPTO=native) but could not be loaded. */
export class BackendUnavailableError extends BittrrtError {
  constructor(message: string) {
    super('ERR_BACKEND_UNAVAILABLE', message);
  }
}

/** connect() was aborted through its `signal`. */
export class AbortedError extends BittrrtError {
  constructor(message = 'connect aborted') {
    super('ERR_ABORTED', message);
  }
}

/**
 * The UDP socket failed (bind, send or resolve): `osCode` is Node's code (EADDRINUSE, EACCES...),
 * `cause` the error as Node raised it.
 */
export class SocketError extends BittrrtError {
  readonly osCode: string | undefined;
  constructor(cause: Error) {
    super('ERR_SOCKET', cause.message);
    this.cause = cause;
    this.osCode = (cause as NodeJS.ErrnoException).code;
  }
}

/** A server was asked to listen twice, or for its address before it listens. */
export class ServerStateError extends BittrrtError {
  constructor(message: string) {
    super('ERR_SERVER_STATE', message);
  }
}
