import {
  NETWORK_KEY_BYTES, NETWORK_KEY_FERNET_ENCRYPTION_INFO, NETWORK_KEY_FERNET_SIGNING_INFO, NETWORK_KEY_PSK_INFO,
} from '../constants.js';
import { InvalidInputError } from '../errors.js';
import { hkdfSha256 } from './hkdf.js';

/**
 * The keys a network key is used as, each derived from it with HKDF-SHA256 under its own label
 * (constants.ts), instead of the same 32 bytes serving as a Fernet key and as the psk.
 * Derived once where the network key enters (a server or a client being made), not per handshake.
 */
export interface NetworkKeys {
  /** The handshake's Fernet key, in Fernet's layout: signing key (16 bytes) || encryption key (16 bytes). */
  readonly fernetKey: Uint8Array;
  /** The psk of the version-2 key schedule (key-schedule.ts). */
  readonly psk: Uint8Array;
}

const FERNET_HALF_BYTES = 16;

export function deriveNetworkKeys(networkKey: Uint8Array): NetworkKeys {
  if (networkKey.length !== NETWORK_KEY_BYTES) throw new InvalidInputError(`a network key is ${NETWORK_KEY_BYTES} bytes, got ${networkKey.length}`);
  const fernetKey = new Uint8Array(2 * FERNET_HALF_BYTES);
  fernetKey.set(hkdfSha256(networkKey, NETWORK_KEY_FERNET_SIGNING_INFO, FERNET_HALF_BYTES), 0);
  fernetKey.set(hkdfSha256(networkKey, NETWORK_KEY_FERNET_ENCRYPTION_INFO, FERNET_HALF_BYTES), FERNET_HALF_BYTES);
  return { fernetKey, psk: hkdfSha256(networkKey, NETWORK_KEY_PSK_INFO, NETWORK_KEY_BYTES) };
}
