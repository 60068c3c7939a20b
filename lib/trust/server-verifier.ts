import type { BittrrtError } from '../errors.js';

/** What a ServerVerifier says of a server key that the server has proven it holds. */
export type ServerVerdict =
  /** Trust it: the session is established. */
  | { kind: 'accept' }
  /** Not this answer: connect() keeps waiting for another and, on timeout, reports `reason`. */
  | { kind: 'ignore'; reason: string }
  /** Stop now: connect() rejects with `error` (a changed host key, say). */
  | { kind: 'fail'; error: BittrrtError };

/**
 * How connect() decides whether to trust a server's identity: a policy, such as trust on first
 * use against a known_hosts file (trustOnFirstUse, known-hosts.ts), or a check of your own.
 */
export interface ServerVerifier {
  /**
   * Called once per answer, after the server proved it holds `serverKey` (its private half);
   * `host` is the `host:port` connect() was given.
   */
  verify(host: string, serverKey: Uint8Array): ServerVerdict;
  /**
   * Whether `host` must prove an identity: if so, an answer in the original, unauthenticated
   * protocol is refused even with allowSeed. Default: true.
   */
  expectsIdentity?(host: string): boolean;
}

export const ACCEPT: ServerVerdict = Object.freeze({ kind: 'accept' });
