import { existsSync } from 'node:fs';
import type { X25519KeyPair } from '../crypto/x25519-key-pair.js';
import type { Logger } from '../log.js';
import { defaultClientKeyPath, fingerprint, loadIdentity } from '../trust/identity.js';

/**
 * The identity `connect` shows the server: the configured one (--identity, identity_file), else
 * the ~/.bittrrt/client.key that `keygen --client` writes, when it exists and --no-identity was
 * not given. Which one, and from where, is logged at the verbose level.
 */
export function clientIdentity(configured: string, noIdentity: boolean, log: Logger): X25519KeyPair | undefined {
  if (noIdentity) return undefined;
  const implicit = configured === '';
  const path = implicit ? defaultClientKeyPath() : configured;
  if (implicit && !existsSync(path)) return undefined;
  const identity = loadIdentity(path, 'client identity');
  log.debug(`client identity ${fingerprint(identity.publicKey)}`, { file: path, default: implicit || undefined });
  return identity;
}
