import { createHmac, timingSafeEqual } from 'node:crypto';
import { CONFIRM_BYTES, CONFIRM_LABEL, X25519_KEY_BYTES } from '../../constants.js';
import type { X25519KeyPair } from '../../crypto/x25519-key-pair.js';
import { wipeSessionKeys, type SessionKeys } from '../../crypto/key-schedule.js';
import type { Initiation, Response } from '../../protocol/handshake-v2.js';

/**
 * Version 2's key agreement over the `connect` / `connected` fields (protocol/handshake-v2.ts).
 *
 * Keys mix ee = DH(E_c, E_s), es = DH(E_c, S) (only the holder of the server identity S can
 * compute it) and, when the client has an identity C, se = DH(C, E_s) (only its holder can);
 * plus the network key when one is set. `conf` is a MAC under a key from that schedule over the
 * whole transcript: a client that verifies it knows the server holds S (and the network key)
 * and that no field was altered on the way. In Noise terms this is NK (the client knows S)
 * or NX (it learns S, trust on first use), with the client's static key added IK-style.
 */

/** Everything both sides saw besides the two ephemeral keys (which the key schedule binds itself). */
function transcript(init: Initiation, responderIndex: number, serverStatic: Uint8Array): Buffer {
  const t = Buffer.alloc(4 + 4 + X25519_KEY_BYTES + 4 + X25519_KEY_BYTES);
  t.writeUInt32BE(init.version, 0);
  t.writeUInt32BE(init.index, 4);
  t.set(init.clientStatic ?? new Uint8Array(X25519_KEY_BYTES), 8);
  t.writeUInt32BE(responderIndex, 40);
  t.set(serverStatic, 44);
  return t;
}

function confirmation(keys: SessionKeys): Buffer {
  return createHmac('sha256', keys.confirm).update(CONFIRM_LABEL).digest().subarray(0, CONFIRM_BYTES);
}

/** Server: keys and the confirmation for a version-2 `connect`. Throws LowOrderKeyError. */
export function respond(init: Initiation, ephemeral: X25519KeyPair, identity: X25519KeyPair, index: number, psk?: Uint8Array):
  { keys: SessionKeys; response: Response } {
  const secrets: Uint8Array[] = [];
  try {
    secrets.push(identity.agree(init.ephemeralPublic));
    if (init.clientStatic) secrets.push(ephemeral.agree(init.clientStatic));
    const keys = ephemeral.deriveSessionKeys(init.ephemeralPublic, 'responder', {
      psk, extraSecrets: secrets, transcript: transcript(init, index, identity.publicKey),
    });
    return { keys, response: { ephemeralPublic: ephemeral.publicKey, index, serverStatic: identity.publicKey, confirmation: confirmation(keys) } };
  } finally {
    for (const s of secrets) s.fill(0);
  }
}

/**
 * Client: the session keys if `response` proves the server holds `response.serverStatic` (and the
 * network key) over an unaltered transcript; null otherwise. Throws LowOrderKeyError.
 */
export function complete(init: Initiation, ephemeral: X25519KeyPair, response: Response, identity?: X25519KeyPair,
  psk?: Uint8Array): SessionKeys | null {
  const secrets: Uint8Array[] = [];
  try {
    secrets.push(ephemeral.agree(response.serverStatic));
    if (identity) secrets.push(identity.agree(response.ephemeralPublic));
    const keys = ephemeral.deriveSessionKeys(response.ephemeralPublic, 'initiator', {
      psk, extraSecrets: secrets, transcript: transcript(init, response.index, response.serverStatic),
    });
    if (timingSafeEqual(confirmation(keys), response.confirmation)) return keys;
    wipeSessionKeys(keys);
    return null;
  } finally {
    for (const s of secrets) s.fill(0);
  }
}

/**
 * A rotation's keys (REKEY_INIT / REKEY_RESPONSE, key-ring.ts): the same key schedule as the
 * handshake, over a fresh ephemeral exchange, with the current keys' chain secret mixed in (so the
 * next keys depend on the whole first handshake) and the network key. Throws LowOrderKeyError.
 */
export function rotationKeys(ephemeral: X25519KeyPair, peerPublic: Uint8Array, role: 'initiator' | 'responder', chain: Uint8Array,
  psk?: Uint8Array): SessionKeys {
  return ephemeral.deriveSessionKeys(peerPublic, role, { psk, extraSecrets: [chain] });
}
