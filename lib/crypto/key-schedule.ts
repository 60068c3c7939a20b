import { createHash } from 'node:crypto';
import { AEAD_KEY_BYTES, HKDF_V2_INFO } from '../constants.js';
import { hkdfSha256 } from './hkdf.js';

/** What, besides the ephemeral-ephemeral DH, goes into version-2 session keys. */
export interface SessionKeyContext {
  /** Further DH results both sides can compute (identity DHs), in an order both agree on. */
  extraSecrets?: readonly Uint8Array[];
  /** The network key, when one is configured: without it no key matches. */
  psk?: Uint8Array;
  /** Everything else both sides saw (version, indices, identities), bound into the keys. */
  transcript?: Uint8Array;
}

/** Keys for the two directions, seen from one side, and a key for confirming the handshake. */
export interface SessionKeys {
  send: Uint8Array;
  receive: Uint8Array;
  confirm: Uint8Array;
}

/**
 * Version-2 key schedule: HKDF-SHA256 with
 *   ikm  = psk || X25519(e, E) || extra DHs...
 *   salt = SHA-256(initiator ephemeral || responder ephemeral || transcript)
 *   info = "bittrrt-v2-session-keys", 96 bytes: initiator->responder, responder->initiator, confirm.
 * Binding the public keys and the transcript makes each key useless in the other direction, in
 * any other session, and under any tampered handshake field.
 */
export function sessionKeySchedule(ephemeralSecret: Uint8Array, initiatorPublic: Uint8Array, responderPublic: Uint8Array,
  role: 'initiator' | 'responder', context: SessionKeyContext = {}): SessionKeys {
  const salt = createHash('sha256').update(initiatorPublic).update(responderPublic).update(context.transcript ?? new Uint8Array(0)).digest();
  const ikm = Buffer.concat([context.psk ?? new Uint8Array(0), ephemeralSecret, ...(context.extraSecrets ?? [])]);
  const okm = hkdfSha256(ikm, HKDF_V2_INFO, 3 * AEAD_KEY_BYTES, salt);
  ikm.fill(0);
  const forward = okm.subarray(0, AEAD_KEY_BYTES);
  const backward = okm.subarray(AEAD_KEY_BYTES, 2 * AEAD_KEY_BYTES);
  const confirm = okm.subarray(2 * AEAD_KEY_BYTES);
  return role === 'initiator' ? { send: forward, receive: backward, confirm } : { send: backward, receive: forward, confirm };
}

/** Zeroes all three keys (they share one buffer; each view is cleared for clarity). */
export function wipeSessionKeys(keys: SessionKeys): void {
  keys.send.fill(0);
  keys.receive.fill(0);
  keys.confirm.fill(0);
}
