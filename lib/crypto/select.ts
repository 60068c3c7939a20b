import { BackendUnavailableError } from '../errors.js';
import type { CryptoBackend } from './backend.js';
import { loadNobleBackend } from './noble-backend.js';
import { loadSodiumBackend } from './sodium-backend.js';

/** What BITTRRT_CRYPTO asks for: 'native' (required), 'js' (forced), or unset (native, else js). */
export type BackendPreference = 'auto' | 'native' | 'js';

export function parseBackendPreference(value: string | undefined): BackendPreference {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'native' || value === 'js') return value;
  throw new BackendUnavailableError(`BITTRRT_CRYPTO must be "native", "js" or "auto", not ${JSON.stringify(value)}`);
}

/**
 * Chooses a backend. With 'auto', a native binding that fails to load costs one warning (through
 * `warn`) and the pure-JS fallback is used; with 'native' the failure is an error.
 */
export function selectBackend(preference: BackendPreference, warn: (message: string) => void): CryptoBackend {
  if (preference === 'js') return loadNobleBackend();
  try {
    return loadSodiumBackend();
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (preference === 'native') {
      throw new BackendUnavailableError(`BITTRRT_CRYPTO=native but sodium-native could not be loaded: ${reason}`);
    }
    warn(`bittrrt: native crypto (sodium-native) unavailable, using the slower pure-JS fallback: ${reason}`);
    return loadNobleBackend();
  }
}

let defaultBackend: CryptoBackend | undefined;

/** The process-wide backend, chosen once from BITTRRT_CRYPTO on first use. */
export function getDefaultBackend(): CryptoBackend {
  defaultBackend ??= selectBackend(parseBackendPreference(process.env.BITTRRT_CRYPTO), (m) => process.emitWarning(m));
  return defaultBackend;
}
