import { CMD_CONNECT, CMD_CONNECTED, PROTOCOL_VERSION } from '../../constants.js';
import type { CryptoBackend } from '../../crypto/backend.js';
import { CommEncryptor } from '../../crypto/comm-encryptor.js';
import type { X25519KeyPair } from '../../crypto/x25519-key-pair.js';
import type { DoCrypt, DoCryptForm } from '../../crypto/docrypt.js';
import { wipeSessionKeys, type SessionKeys } from '../../crypto/key-schedule.js';
import { encodeHandshake, parseHandshake, type HandshakeMessage } from '../../protocol/handshake.js';
import { encodeInitiation, readCookieReply, readResponse, type Initiation } from '../../protocol/handshake-v2.js';
import type { ServerVerdict, ServerVerifier } from '../../trust/server-verifier.js';
import { complete } from './key-agreement.js';

/** Why a version-1 answer is ignored, when the connection asked for authentication or did not opt in. */
const V1_REFUSED_AUTHENTICATED = 'the server answered with the original, unauthenticated protocol, which this connection does not accept';
const V1_REFUSED_BY_DEFAULT = 'the server answered only with the original, unauthenticated protocol (version 1), '
  + 'which an attacker on the path can fake and which is refused unless connect() is given allowSeed: true';

export interface InitiatorOptions {
  backend: CryptoBackend;
  /** Wraps and unwraps the handshake tokens (its key is the network key's Fernet key, if any). */
  docrypt: DoCrypt;
  /** Our receiver index for the version-2 keys; undefined speaks only version 1. */
  index: number | undefined;
  /** The client's long-term identity, for servers that only admit listed clients. */
  identity?: X25519KeyPair;
  psk?: Uint8Array;
  form?: DoCryptForm;
  /** The `host:port` the caller asked for, as the verifier knows it. */
  hostLabel: string;
  /** The only server identity accepted (pinning). */
  serverKey?: Uint8Array;
  verifier?: ServerVerifier;
  /** The connection asks for authentication: a version-1 answer is never accepted. */
  authenticated: boolean;
  /** Accept a version-1 answer when the connection asks for no authentication. */
  allowSeed: boolean;
}

/** The keys of an established session, for the caller to make it with. */
export type InitiatorKeys =
  /** Version 1: the one key of both directions, in the ephemeral encryptor (it now belongs to the session). */
  | { version: 1; encryptor: CommEncryptor }
  | { version: 2; keys: SessionKeys; localIndex: number; remoteIndex: number; serverStatic: Buffer };

/** What to do after a datagram from the server. */
export type InitiatorStep =
  /** The server is under load and sent a cookie: send token() now. */
  | { kind: 'send' }
  /** Not an acceptable answer (why, if it was one, is in `rejected`): keep waiting. */
  | { kind: 'ignore' }
  | { kind: 'done'; keys: InitiatorKeys }
  /** Stop: the verifier failed the server (a changed host key, say). */
  | { kind: 'fail'; error: Error };

/**
 * The client's half of the handshake (the responder's is responder.ts): the `connect` token it
 * sends (version 2's fields, and the server's cookie once it asked for one), and what it makes of
 * each answer: a version-1 answer only when allowed, a version-2 answer only when the server
 * proves its identity (complete(), key-agreement.ts), the identity is the pinned one, and the
 * verifier accepts it.
 */
export class HandshakeInitiator {
  readonly #options: InitiatorOptions;
  readonly #ephemeral: CommEncryptor;
  readonly #init: Initiation | null;
  readonly #v1Refused: string | null;
  #token: Buffer;
  /** Why the last answer was ignored, if one came. */
  rejected: string | undefined;
  /** The last answer was version 1, which an opt-in (allowSeed) would have accepted. */
  seedRefusedByDefault = false;

  constructor(options: InitiatorOptions) {
    this.#options = options;
    this.#ephemeral = new CommEncryptor({ backend: options.backend });
    this.#init = options.index === undefined ? null : {
      version: PROTOCOL_VERSION, ephemeralPublic: this.#ephemeral.publicKey, index: options.index, clientStatic: options.identity?.publicKey,
    };
    this.#v1Refused = options.authenticated ? V1_REFUSED_AUTHENTICATED : options.allowSeed ? null : V1_REFUSED_BY_DEFAULT;
    this.#token = this.#makeToken();
  }

  /** The `connect` datagram to send (again). */
  token(): Buffer {
    return this.#token;
  }

  #makeToken(): Buffer {
    const init = this.#init;
    const json = init ? encodeInitiation(init) : encodeHandshake(CMD_CONNECT, this.#ephemeral.publicKey);
    return Buffer.from(this.#options.docrypt.fencrypt(json, { form: this.#options.form }), 'ascii');
  }

  /** A datagram from the server's address. */
  receive(datagram: Buffer): InitiatorStep {
    let plaintext: Buffer;
    try {
      plaintext = this.#options.docrypt.fdecrypt(datagram).plaintext;
    } catch {
      return { kind: 'ignore' };
    }
    const cookie = this.#init ? readCookieReply(plaintext) : null;
    if (cookie && this.#init) {
      // The server is under load: prove our address by echoing its cookie, at once.
      this.#init.cookie = cookie;
      this.#token = this.#makeToken();
      return { kind: 'send' };
    }
    const parsed = parseHandshake(plaintext, CMD_CONNECTED);
    if (!parsed.ok) return { kind: 'ignore' };
    let step: InitiatorStep | string;
    try {
      step = this.#establish(parsed.message);
    } catch {
      step = 'the server sent a low-order key'; // an attack, not an answer: keep waiting
    }
    if (typeof step !== 'string') return step;
    this.rejected = step;
    return { kind: 'ignore' };
  }

  /** The keys for an answer, a reason to ignore it, or the error that ends the handshake. */
  #establish(answer: HandshakeMessage): InitiatorStep | string {
    const options = this.#options;
    const init = this.#init;
    const response = init ? readResponse(answer) : null;
    this.seedRefusedByDefault = !response && !options.authenticated && this.#v1Refused !== null;
    if (!response) {
      if (this.#v1Refused) return this.#v1Refused;
      this.#ephemeral.deriveSharedSecret(answer.pubkey);
      return { kind: 'done', keys: { version: 1, encryptor: this.#ephemeral } };
    }
    if (options.serverKey && !Buffer.from(options.serverKey).equals(response.serverStatic)) {
      return 'the server identity does not match the pinned key';
    }
    const keys = complete(init!, this.#ephemeral, response, options.identity, options.psk);
    if (!keys) return 'the server could not prove its identity';
    let verdict: ServerVerdict | undefined;
    try {
      verdict = options.verifier?.verify(options.hostLabel, response.serverStatic);
    } catch (err) {
      // The policy's own failure (an unreadable known_hosts, say) ends the handshake, as it is.
      wipeSessionKeys(keys);
      return { kind: 'fail', error: err as Error };
    }
    if (verdict?.kind !== undefined && verdict.kind !== 'accept') wipeSessionKeys(keys);
    if (verdict?.kind === 'fail') return { kind: 'fail', error: verdict.error };
    if (verdict?.kind === 'ignore') return verdict.reason;
    this.#ephemeral.destroy();
    return {
      kind: 'done',
      keys: { version: 2, keys, localIndex: init!.index, remoteIndex: response.index, serverStatic: Buffer.from(response.serverStatic) },
    };
  }

  /** Wipes the ephemeral key of a handshake that did not complete. */
  destroy(): void {
    this.#ephemeral.destroy();
  }
}
