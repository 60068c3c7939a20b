import { DEFAULT_CONNECT_HOST, DEFAULT_PORT, NEGOTIATION_DELAY, NEGOTIATION_REPEAT, PROTOCOL_VERSION, TOKEN_FIRST_BYTE } from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import type { X25519KeyPair } from '../crypto/x25519-key-pair.js';
import { DoCrypt, type DoCryptForm } from '../crypto/docrypt.js';
import { deriveNetworkKeys } from '../crypto/network-key.js';
import { getDefaultBackend } from '../crypto/select.js';
import { AbortedError, BittrrtError, SocketError } from '../errors.js';
import type { ServerVerifier } from '../trust/server-verifier.js';
import { formatAddress, resolveHost } from './address.js';
import { ioFor, type DatagramPath } from './io/native-binding.js';
import { openDatagramSocket } from './io/open-socket.js';
import { Counters } from './counters.js';
import { HandshakeInitiator, type InitiatorKeys } from './handshake/initiator.js';
import { TrafficKeys } from './traffic-keys.js';
import { SecureSession } from './secure-session.js';
import { V1Session } from './v1-session.js';
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
  identity?: X25519KeyPair;
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
  /** The datagram path, as ServerOptions.datagramPath. */
  datagramPath?: DatagramPath;
}

const CLIENT_RECEIVE_BUFFER = 4 * 1024 * 1024;

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
 * The server's host answered that nothing listens on the port (ICMP port unreachable, which the
 * connected socket reports as ECONNREFUSED): waiting longer would not help. `attempt` is the
 * send it answered, of `attempts`.
 */
export class ConnectionRefusedError extends BittrrtError {
  constructor(readonly address: string, readonly attempt: number, readonly attempts: number) {
    super('ERR_CONNECTION_REFUSED', `${address} refused the connection (nothing listening on ${address}; after attempt ${attempt} of ${attempts})`);
  }
}

/**
 * Opens a session with a server: send `connect` up to `attempts` times, `delayMs` apart, until
 * the server at the target address gives an answer that checks out. Datagrams from any other
 * address, and answers that fail a check, are ignored (the last reason is reported on timeout);
 * a server whose recorded identity changed fails at once, and so does a port its host says nothing
 * listens on (ConnectionRefusedError). Resolves with the session; its socket
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
  const verifier: ServerVerifier | undefined = typeof options.verifyServer === 'function' ? { verify: options.verifyServer } : options.verifyServer;
  // Before the socket: a verifier that cannot read its file throws here.
  const authenticated = Boolean(options.networkKey || options.serverKey || options.identity
    || (verifier && (verifier.expectsIdentity?.(hostLabel) ?? true)));
  const counters = new Counters();
  const socket = openDatagramSocket(target.family === 6 ? 6 : 4, ioFor(options.datagramPath));
  const table = new SessionTable({
    backend,
    counters,
    psk: networkKeys?.psk,
    // The socket is connected to the server, the only peer a client's table sends to.
    send: (datagram) => socket.send(datagram),
    sealing: socket.sealing,
    ioStats: () => socket.stats(),
    // Let a close message leave before the socket goes.
    closed: () => {
      table.stop();
      setImmediate(() => void socket.close());
    },
  });
  const initiator = new HandshakeInitiator({
    backend,
    docrypt: new DoCrypt({ key: networkKeys?.fernetKey }),
    index: (options.protocolVersion ?? PROTOCOL_VERSION) >= 2 ? table.allocateIndex() : undefined,
    identity: options.identity,
    psk: networkKeys?.psk,
    form: options.form,
    hostLabel,
    serverKey: options.serverKey,
    verifier,
    authenticated,
    allowSeed: options.allowSeed ?? options.protocolVersion === 1,
  });

  /** The session the handshake's keys make. */
  const open = (keys: InitiatorKeys): Session => {
    const now = clock();
    if (keys.version === 1) return new V1Session(table, 'client', server, keys.encryptor, timings, now);
    const trafficKeys = new TrafficKeys(backend, keys.keys, keys.localIndex, keys.remoteIndex, now, timings.rejectAfterMessages);
    return new SecureSession(table, 'client', server, trafficKeys, timings, now, keys.serverStatic);
  };

  let session: Session;
  try {
    session = await new Promise<Session>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let sent = 0;
      const finish = (result: Session | Error): void => {
        clearTimeout(timer);
        socket.onMessage = null;
        options.signal?.removeEventListener('abort', onAbort);
        if (result instanceof Error) reject(result); else resolve(result);
      };
      const onAbort = (): void => finish(new AbortedError('connect aborted'));
      const onMessage = (msg: Buffer, rinfo: PeerAddress): void => {
        if (rinfo.address !== server.address || rinfo.port !== server.port) return;
        const step = initiator.receive(msg);
        if (step.kind === 'send') socket.send(initiator.token());
        else if (step.kind === 'fail') finish(step.error);
        else if (step.kind === 'done') finish(open(step.keys));
      };
      const sendNext = (): void => {
        if (sent >= attempts) {
          finish(new HandshakeTimeoutError(formatAddress(server.address, server.port), attempts, initiator.rejected, initiator.seedRefusedByDefault));
          return;
        }
        sent++;
        socket.send(initiator.token());
        timer = setTimeout(sendNext, delayMs);
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        finish(err.code === 'ECONNREFUSED'
          ? new ConnectionRefusedError(formatAddress(server.address, server.port), sent, attempts)
          : new SocketError(err));
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort);
      socket.onMessage = onMessage;
      socket.onError = onError;
      // Room for a burst of a download. A connected socket hears the ICMP port-unreachable a host
      // sends back for a port nobody serves (as ECONNREFUSED), and the kernel drops datagrams from
      // any other address.
      socket.bind(0, undefined, CLIENT_RECEIVE_BUFFER)
        .then(() => socket.connect(server.port, server.address))
        .then(sendNext, onError);
    });
  } catch (err) {
    initiator.destroy();
    await socket.close();
    throw err;
  }

  table.add(session);
  socket.onMessage = (msg, rinfo) => {
    counters.packetsIn++;
    counters.bytesIn += msg.length;
    if (rinfo.address !== server.address || rinfo.port !== server.port) return counters.drop('unknown-session');
    const now = clock();
    // Late copies of `connected` (first byte 'g') are ignored; a version-1 nonce may begin with 'g' too.
    if (session instanceof V1Session) {
      if (!session.receive(msg, rinfo, now) && msg[0] !== TOKEN_FIRST_BYTE) counters.drop('bad-auth');
    } else if (!table.route(msg, rinfo, now) && msg[0] !== TOKEN_FIRST_BYTE) {
      counters.drop('unknown-session');
    }
  };
  // Send errors after the handshake (a network gone away, or the server's port closed) are counted; the session times out.
  socket.onError = () => counters.socketErrors++;
  table.start(tickInterval(timings));
  return session;
}
