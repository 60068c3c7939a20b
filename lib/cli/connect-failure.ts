import type { Logger } from '../log.js';
import { ConnectionRefusedError, HandshakeTimeoutError } from '../net/client.js';
import { defaultKnownHostsPath, HostKeyMismatchError } from '../trust/known-hosts.js';

/**
 * Why a connection failed, in the CLI's words, or undefined for an error that is not about the
 * server's answer. A refusal is immediate; silence lists what usually causes it; a refused
 * version-1 answer names the flag that accepts it; a changed identity, the command that forgets
 * the old one.
 */
export function connectFailure(err: unknown): string | undefined {
  if (err instanceof HostKeyMismatchError) {
    const file = err.path === defaultKnownHostsPath() ? '' : ` --known-hosts ${err.path}`;
    return `${err.message} To forget the recorded key, run: bittrrt known-hosts remove ${err.host}${file}`;
  }
  if (err instanceof ConnectionRefusedError) {
    return `refused (nothing listening on ${err.address}; its host answered attempt ${err.attempt} of ${err.attempts}): `
      + 'is the server running, and on that port?';
  }
  if (!(err instanceof HandshakeTimeoutError)) return undefined;
  if (err.seedRefusedByDefault) {
    return `${err.address} answered only with the original, unauthenticated protocol (version 1), which an attacker on the path can fake; `
      + 'if it is an original bittrrt peer and you accept that anyone on the path could read the session, '
      + 'connect again with --allow-unauthenticated (or allow_unauthenticated=true in the config)';
  }
  if (err.rejected !== undefined) return err.message;
  return `${err.message}. Likely causes: a wrong address or port; a firewall dropping UDP on the way; `
    + 'the server requires a network key (--key-file, the same file as the server\'s); '
    + 'the server admits only listed clients (--identity, with your public key in its --authorized-keys)';
}

/** Logs why the connection failed and gives connect's exit code; an error of another kind is rethrown. */
export function reportConnectFailure(err: unknown, log: Logger): number {
  const why = connectFailure(err);
  if (why === undefined) throw err;
  log.error(`cannot connect: ${why}`);
  return 1;
}
