import type { CryptoBackend } from '../../crypto/backend.js';
import type { DoCrypt, DoCryptForm } from '../../crypto/docrypt.js';
import type { SessionKeys } from '../../crypto/key-schedule.js';
import { X25519KeyPair } from '../../crypto/x25519-key-pair.js';
import { encodeResponse, type Initiation } from '../../protocol/handshake-v2.js';
import { respond } from './key-agreement.js';

/** What answering a version-2 `connect` takes: the same in the socket thread and in a handshake thread. */
export interface AnswerKeys {
  backend: CryptoBackend;
  identity: X25519KeyPair;
  psk?: Uint8Array;
  docrypt: DoCrypt;
}

/** A `connect` that passed every cheap check, reduced to what the key agreement needs. */
export interface AnswerRequest {
  init: Initiation;
  /** The receiver index the server reserved for the session. */
  responderIndex: number;
  /** The token form the client used; the answer uses it too. */
  form: DoCryptForm;
}

export interface Answer {
  /** The `connected` datagram. */
  reply: Buffer;
  /** The session's keys; the caller owns (and wipes) them. */
  keys: SessionKeys;
}

/**
 * The expensive part of a version-2 handshake: a fresh ephemeral key pair, the DHs and key
 * schedule, and the Fernet-wrapped `connected`. Throws LowOrderKeyError.
 */
export function answerInitiation(material: AnswerKeys, request: AnswerRequest): Answer {
  const ephemeral = new X25519KeyPair({ backend: material.backend });
  try {
    const { keys, response } = respond(request.init, ephemeral, material.identity, request.responderIndex, material.psk);
    const reply = Buffer.from(material.docrypt.fencrypt(encodeResponse(response), { form: request.form }), 'ascii');
    return { reply, keys };
  } finally {
    ephemeral.destroy();
  }
}
