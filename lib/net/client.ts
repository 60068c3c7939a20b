import { createSocket, type RemoteInfo } from 'node:dgram';
import {
  CMD_CONNECT, CMD_CONNECTED, DEFAULT_CONNECT_HOST, DEFAULT_PORT, NEGOTIATION_DELAY, NEGOTIATION_REPEAT, PROTOCOL_VERSION,
  TOKEN_FIRST_BYTE,
} from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { CommEncryptor } from '../crypto/comm-encryptor.js';
import { DoCrypt, type DoCryptForm } from '../crypto/docrypt.js';
import { deriveNetworkKeys } from '../crypto/network-key.js';
import { getDefaultBackend } from '../crypto/select.js';
import { AbortedError, BittrrtError, SocketError } from '../errors.js';
import { encodeHandshake, parseHandshake, type HandshakeMessage } from '../protocol/handshake.js';
import { encodeInitiation, readCookieReply, readResponse, type Initiation } from '../protocol/handshake-v2.js';
import { complete } from './handshake/key-agreement.js';
import type { ServerVerdict, ServerVerifier } from '../trust/server-verifier.js';
import { formatAddress, literalLookup, resolveHost } from './address.js';
import { Counters } from './counters.js';
import { Keypair } from './keypair.js';
import { SecureSession } from './secure-session.js';
import { SeedSession } from './seed-session.js';
import type { PeerAddress, Session } from './session.js';
import { SessionTable, tickInterval } from './session-table.js';
import { resolveTimings, type SessionTimings } from './timings.js';
import { clock } from '../time.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  backend?: CryptoBackend;
  /** A 32-byte network key shared with the server (its Fernet key and an input to every key). */
  networkKey?: Uint8Array;
  /** The server's identity public key: anything else is refused (pinning). */
  serverKey?: Uint8Array;
  /**
   * Decides whether to trust the server's identity once it has proven it holds it: a policy
   * object (trustOnFirstUse(new KnownHosts(path)) is ssh's known_hosts) or a function, which
   * makes every answer need an identity.
   */
  verifyServer?: ServerVerifier | ServerVerifier['verify'];
  /** The client's long-term identity, for servers that only admit listed clients. */
  identity?: CommEncryptor;
  /**
   * Accept a server that answers only with the original, unauthenticated protocol (version 1).
   * An attacker on the path can produce that answer by stripping version 2, so the default is
   * false (true when `protocolVersion` is 1, which asks for it), as the CLI's
   * `--allow-unauthenticated`. Even when true it is never accepted by a connection that asks for
   * authentication: a network key, pinned key, identity, or a verifyServer that expects one.
   */
  allowSeed?: boolean;
  /** Token form to send: the seed's (default) or the later salted one. */
  form?: DoCryptForm;
  /** 2 (default) offers version 2; 1 speaks only the original protocol. */
  protocolVersion?: 1 | 2;
  /** Sends of `connect` before giving up (default NEGOTIATION_REPEAT = 50). */
  attempts?: number;
  /** Milliseconds to wait for an answer after each send (default NEGOTIATION_DELAY = 100). */
  delayMs?: number;
  /** Session timers and limits; they should match the server's. */
  timings?: Partial<SessionTimings>;
  signal?: AbortSignal;
}

const CLIENT_RECEIVE_BUFFER = 4 * 1024 * 1024;

/** Why a version-1 answer is ignored, when the connection asked for authentication or did not opt in. */
const SEED_REFUSED_AUTHENTICATED = 'the server answered with the original, unauthenticated protocol, which this connection does not accept';
const SEED_REFUSED_BY_DEFAULT = 'the server answered only with the original, unauthenticated protocol (version 1), '
  + 'which an attacker on the path can fake and which is refused unless connect() is given allowSeed: true';

/** No acceptable `connected` answer arrived from the server after every attempt. */
export class HandshakeTimeoutError extends BittrrtError {
  /**
   * `rejected`: why the last answer was ignored, if one came. `seedRefusedByDefault`: the server
   * answered only with version 1, which an opt-in (allowSeed) would have accepted.
   */
  constructor(readonly address: string, readonly attempts: number, readonly rejected?: string, readonly seedRefusedByDefault = false) {
    super('ERR_HANDSHAKE_TIMEOUT', `no ${rejected ? 'acceptable ' : ''}answer from ${address} after ${attempts} attempts${rejected ? ` (${rejected})` : ''}`);
  }
}

/**
 * Opens a session with a server: send `connect` up to `attempts` times, `delayMs` apart, until
 * the server at the target address gives an answer that checks out. Datagrams from any other
 * address, and answers that fail a check, are ignored (the last reason is reported on timeout);
 * a server whose recorded identity changed fails at once. Resolves with the session; its socket
 * closes when the session does.
 */
export async function connect(options: ConnectOptions = {}): Promise<Session> {
  const hostName = options.host ?? DEFAULT_CONNECT_HOST;
  const target = await resolveHost(hostName);
  const server: PeerAddress = { address: target.address, port: options.port ?? DEFAULT_PORT };
  const hostLabel = formatAddress(hostName, server.port);
  const attempts = options.attempts ?? NEGOTIATION_REPEAT;
  const delayMs = options.delayMs ?? NEGOTIATION_DELAY;
  const timings = resolveTimings(options.timings);
  const backend = options.backend ?? getDefaultBackend();
  const networkKeys = options.networkKey === undefined ? undefined : deriveNetworkKeys(options.networkKey);
  const docrypt = new DoCrypt({ key: networkKeys?.fernetKey });
  const verifier: ServerVerifier | undefined = typeof options.verifyServer === 'function' ? { verify: options.verifyServer } : options.verifyServer;
  const asksForAuthentication = Boolean(options.networkKey || options.serverKey || options.identity
    || (verifier && (verifier.expectsIdentity?.(hostLabel) ?? true)));
  const seedRefused = asksForAuthentication ? SEED_REFUSED_AUTHENTICATED
    : (options.allowSeed ?? options.protocolVersion === 1) ? null : SEED_REFUSED_BY_DEFAULT;
  const counters = new Counters();
  let connected = false;
  const socket = createSocket({ type: target.family === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
  const table = new SessionTable({
    backend,
    counters,
    psk: networkKeys?.psk,
    // Once connected (after the handshake), sends skip the per-datagram address handling.
    send: (datagram, to) => (connected ? socket.send(datagram) : socket.send(datagram, to.port, to.address)),
    // Let a close message leave before the socket goes.
    closed: () => {
      table.stop();
      setImmediate(() => socket.close());
    },
  });
  const ephemeral = new CommEncryptor({ backend });
  const init: Initiation | null = (options.protocolVersion ?? PROTOCOL_VERSION) >= 2
    ? { version: PROTOCOL_VERSION, ephemeralPublic: ephemeral.publicKey, index: table.allocateIndex(), clientStatic: options.identity?.publicKey }
    : null;
  const makeToken = (): Buffer => Buffer.from(docrypt.fencrypt(
    init ? encodeInitiation(init) : encodeHandshake(CMD_CONNECT, ephemeral.publicKey), { form: options.form }), 'ascii');
  let token = makeToken();
  let rejected: string | undefined;
  let seedRefusedByDefault = false;

  /** The session for an answer, a reason to ignore it, or the error that ends connect(). */
  const establish = (answer: HandshakeMessage): Session | string | { fail: Error } => {
    const now = clock();
    const response = init ? readResponse(answer) : null;
    seedRefusedByDefault = !response && !asksForAuthentication && seedRefused !== null;
    if (!response) {
      if (seedRefused) return seedRefused;
      ephemeral.deriveSharedSecret(answer.pubkey);
      return new SeedSession(table, 'client', server, ephemeral, timings, now);
    }
    if (options.serverKey && !Buffer.from(options.serverKey).equals(response.serverStatic)) {
      return 'the server identity does not match the pinned key';
    }
    const keys = complete(init!, ephemeral, response, options.identity, networkKeys?.psk);
    if (!keys) return 'the server could not prove its identity';
    let verdict: ServerVerdict | undefined;
    try {
      verdict = verifier?.verify(hostLabel, response.serverStatic);
    } catch (err) {
      // The policy's own failure (an unreadable known_hosts, say) ends connect(), as it is.
      return { fail: err as Error };
    }
    if (verdict?.kind === 'fail') return { fail: verdict.error };
    if (verdict?.kind === 'ignore') return verdict.reason;
    ephemeral.destroy();
    const keypair = new Keypair(backend, keys, init!.index, response.index, now, timings.rejectAfterMessages);
    return new SecureSession(table, 'client', server, keypair, timings, now, Buffer.from(response.serverStatic));
  };

  let session: Session;
  try {
    session = await new Promise<Session>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let sent = 0;
      const finish = (result: Session | Error): void => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        options.signal?.removeEventListener('abort', onAbort);
        if (result instanceof Error) reject(result); else resolve(result);
      };
      const onAbort = (): void => finish(new AbortedError('connect aborted'));
      const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
        if (rinfo.address !== server.address || rinfo.port !== server.port) return;
        let plaintext: Buffer;
        try {
          plaintext = docrypt.fdecrypt(msg).plaintext;
        } catch {
          return;
        }
        const cookie = init ? readCookieReply(plaintext) : null;
        if (cookie && init) {
          // The server is under load: prove our address by echoing its cookie, at once.
          init.cookie = cookie;
          token = makeToken();
          socket.send(token, server.port, server.address);
          return;
        }
        const parsed = parseHandshake(plaintext, CMD_CONNECTED);
        if (!parsed.ok) return;
        let outcome: ReturnType<typeof establish>;
        try {
          outcome = establish(parsed.message);
        } catch {
          rejected = 'the server sent a low-order key'; // an attack, not an answer: keep waiting
          return;
        }
        if (typeof outcome === 'string') rejected = outcome;
        else if ('fail' in outcome) finish(outcome.fail);
        else finish(outcome);
      };
      const sendNext = (): void => {
        if (sent >= attempts) {
          finish(new HandshakeTimeoutError(formatAddress(server.address, server.port), attempts, rejected, seedRefusedByDefault));
          return;
        }
        sent++;
        socket.send(token, server.port, server.address);
        timer = setTimeout(sendNext, delayMs);
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort);
      socket.on('message', onMessage);
      socket.once('error', (err) => finish(new SocketError(err)));
      socket.bind(0, () => {
        try {
          // Room for a burst of a download (the OS may cap it; its default still works).
          socket.setRecvBufferSize(CLIENT_RECEIVE_BUFFER);
        } catch {
          // keep the default
        }
        sendNext();
      });
    });
  } catch (err) {
    ephemeral.destroy();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    throw err;
  }

  table.add(session);
  socket.on('message', (msg, rinfo) => {
    counters.packetsIn++;
    counters.bytesIn += msg.length;
    if (rinfo.address !== server.address || rinfo.port !== server.port) return counters.drop('unknown-session');
    const now = clock();
    // Late copies of `connected` (first byte 'g') are ignored; a version-1 nonce may begin with 'g' too.
    if (session instanceof SeedSession) {
      if (!session.receive(msg, rinfo, now) && msg[0] !== TOKEN_FIRST_BYTE) counters.drop('bad-auth');
    } else if (!table.route(msg, rinfo, now) && msg[0] !== TOKEN_FIRST_BYTE) {
      counters.drop('unknown-session');
    }
  });
  // Send errors after the handshake (a network gone away, or the server's port closed) are counted; the session times out.
  socket.removeAllListeners('error');
  socket.on('error', () => counters.socketErrors++);
  socket.connect(server.port, server.address, (err?: Error) => {
    // A failed connect leaves the socket as it was: sends keep naming the server.
    if (!err) connected = true;
  });
  table.start(tickInterval(timings));
  return session;
}
