import { EventEmitter } from 'node:events';
import { isIP, type AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { CONNECT_MAX_AGE_SECONDS, DEFAULT_BIND_ADDR, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_HOST, DEFAULT_PORT, MAX_DEFAULT_HANDSHAKE_THREADS, TOKEN_FIRST_BYTE } from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { X25519KeyPair } from '../crypto/x25519-key-pair.js';
import { DoCrypt } from '../crypto/docrypt.js';
import { deriveNetworkKeys, type NetworkKeys } from '../crypto/network-key.js';
import { getDefaultBackend } from '../crypto/select.js';
import { ServerStateError, SocketError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { formatAddress } from './address.js';
import type { DatagramIoStats, DatagramSocket } from './io/datagram-socket.js';
import { ioFor, type DatagramPath, type NativeIo } from './io/native-binding.js';
import { openDatagramSocket } from './io/open-socket.js';
import { CookieJar } from './handshake/cookie.js';
import { Counters, type DropReason } from './counters.js';
import { HandshakeThreads } from './handshake/threads.js';
import { HandshakeRateLimiter, type RateLimitOptions } from './handshake/rate-limit.js';
import { HandshakeResponder } from './handshake/responder.js';
import { RefusalLog, refusalReason } from './refusal-log.js';
import { V1Session } from './v1-session.js';
import type { SessionService } from './secure-session.js';
import type { CloseReason, PeerAddress, Session } from './session.js';
import { SessionTable, tickInterval } from './session-table.js';
import { resolveTimings, type SessionTimings } from './timings.js';
import { clock } from '../time.js';

export interface ServerOptions {
  backend?: CryptoBackend;
  /**
   * The server's long-term X25519 identity; clients pin its public key. A fresh one is made
   * when omitted (the CLI keeps one in ~/.bittrrt/server.key).
   */
  identity?: X25519KeyPair;
  /**
   * A 32-byte network key: keys derived from it are the handshake's Fernet key (instead of the
   * public NET_OBS_KEY) and an input to every session key.
   */
  networkKey?: Uint8Array;
  /** Only clients whose identity public key (URL-safe base64) is listed may complete a handshake. */
  authorizedKeys?: ReadonlySet<string>;
  /** Serve clients that speak only the original protocol (default: yes, unless a network key or authorized keys are set). */
  allowSeed?: boolean;
  /** Most sessions at once; when full, a newcomer may evict a half-open or silent session, never a working one. */
  maxSessions?: number;
  /**
   * Most sessions one host (IPv4 /32, IPv6 /64) may hold, so one host cannot fill the table;
   * default DEFAULT_MAX_SESSIONS_PER_HOST (a NAT puts many honest clients behind one address).
   */
  maxSessionsPerHost?: number;
  /** Handshake rate limits (defaults in handshake/rate-limit.ts). */
  rateLimits?: Partial<RateLimitOptions>;
  /** Session timers and limits (heartbeat rate, rotation...); defaults in constants.ts. */
  timings?: Partial<SessionTimings>;
  logger?: Logger;
  /**
   * A refused client (not authorized, wrong network key, too old a handshake, version 1 when not
   * accepted) is logged as a warning at most once per cause per source address in this many
   * milliseconds (default 60000); every refusal is counted regardless.
   */
  refusalLogIntervalMs?: number;
  /**
   * Threads that compute version-2 handshakes (X25519, key schedule, the answer) off the socket
   * thread, started by listen(). Default: one per core beyond the first, at most 4; 0 computes
   * them on the socket thread.
   */
  handshakeThreads?: number;
  /** Kernel receive buffer for the socket, so bursts are not dropped (capped by the OS). */
  receiveBufferBytes?: number;
  /**
   * The datagram path: 'native' (the batched addon; an error if it cannot load) or 'dgram'
   * (node:dgram). Default: as BITTRRT_IO says, else native when the addon loads.
   */
  datagramPath?: DatagramPath;
  /**
   * The layer above the sessions (file transfer: lib/transfer/file-service.ts, which
   * lib/transfer/file-server.ts plugs in): it makes each version-2 session's handler for the
   * UNLOSSY frames, which otherwise are dropped as `bad-frame`.
   */
  service?: SessionService;
}

export interface BittrrtServerEvents {
  listening: [AddressInfo];
  /** A peer completed its handshake (for version 2: proved it holds the keys); the session emits `message`, `rtt`, `rekey` and `close`. */
  session: [Session];
  error: [Error];
  close: [];
}

const DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024;
const DEFAULT_REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * A bittrrt server: one UDP socket for handshakes and every session. A datagram is, by its first
 * byte and then its receiver index, a handshake, a version-2 packet for a known session, or a
 * version-1 packet from a known address; anything else, and anything that fails a check, is
 * dropped, counted, and never answered.
 */
export class BittrrtServer extends EventEmitter<BittrrtServerEvents> {
  readonly counters = new Counters();
  readonly timings: SessionTimings;
  readonly identity: X25519KeyPair;
  readonly #receiveBufferBytes: number;
  readonly #log: Logger;
  readonly #refusals: RefusalLog;
  readonly #hasNetworkKey: boolean;
  readonly #table: SessionTable;
  readonly #responder: HandshakeResponder;
  /** Version-1 sessions have no receiver index, so they are found by source address. */
  readonly #v1BySource = new V1Sources();
  readonly #backend: CryptoBackend;
  readonly #networkKeys: NetworkKeys | undefined;
  readonly #threadCount: number;
  #threads: HandshakeThreads | undefined;
  #socket: DatagramSocket | null = null;
  /** The datagram path, chosen once (BITTRRT_IO): the native addon, or null for node:dgram. */
  readonly #io: NativeIo | null;

  constructor(options: ServerOptions = {}) {
    super();
    const backend = options.backend ?? getDefaultBackend();
    this.#io = ioFor(options.datagramPath);
    this.#backend = backend;
    const networkKeys = options.networkKey === undefined ? undefined : deriveNetworkKeys(options.networkKey);
    this.#networkKeys = networkKeys;
    this.#threadCount = options.handshakeThreads ?? defaultHandshakeThreads();
    if (!Number.isInteger(this.#threadCount) || this.#threadCount < 0) throw new RangeError('handshakeThreads must be a whole number >= 0');
    this.identity = options.identity ?? new X25519KeyPair({ backend });
    this.timings = resolveTimings(options.timings);
    this.#receiveBufferBytes = options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER;
    this.#log = options.logger ?? silentLogger;
    this.#refusals = new RefusalLog(options.refusalLogIntervalMs ?? DEFAULT_REFUSAL_LOG_INTERVAL_MS);
    this.#hasNetworkKey = options.networkKey !== undefined;
    const { service } = options;
    this.#table = new SessionTable({
      backend,
      counters: this.counters,
      psk: networkKeys?.psk,
      send: (datagram, to) => this.#socket?.send(datagram, to),
      // The native path's sockets seal a turn's datagrams in one call; node:dgram's do not.
      sealing: this.#io ? {
        send: (datagram, key, to) => this.#socket?.sealing?.send(datagram, key, to),
        flush: () => this.#socket?.sealing?.flush(),
        open: this.#io.openDatagram,
      } : undefined,
      closed: (session, reason) => this.forget(session, reason),
      ioStats: () => this.ioStats(),
      confirmed: (session) => {
        if (session.version === 2) this.established(session);
      },
      rekeyed: (session) => this.#log.info('session keys rotated', { peer: formatAddress(session.remote.address, session.remote.port) }),
      roamed: (session, from) => this.#log.info('peer moved (its new address answered a path check)', {
        peer: formatAddress(session.remote.address, session.remote.port), from: formatAddress(from.address, from.port),
      }),
      frameHandlerFor: service && ((session) => service.handlerFor(session)),
    });
    this.#responder = new HandshakeResponder({
      table: this.#table,
      docrypt: new DoCrypt({ key: networkKeys?.fernetKey }),
      trust: {
        identity: this.identity,
        psk: networkKeys?.psk,
        authorizedKeys: options.authorizedKeys,
        allowSeed: options.allowSeed ?? (options.networkKey === undefined && options.authorizedKeys === undefined),
      },
      limiter: new HandshakeRateLimiter(options.rateLimits),
      cookies: new CookieJar(),
      timings: this.timings,
      maxSessions: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
      maxSessionsPerHost: options.maxSessionsPerHost ?? DEFAULT_MAX_SESSIONS_PER_HOST,
      connectMaxAgeSeconds: options.networkKey === undefined ? undefined : CONNECT_MAX_AGE_SECONDS,
      threads: () => this.#threads,
      v1Candidate: (peer) => this.#v1BySource.candidate(peer),
      dropped: (reason, datagram, from) => this.drop(reason, datagram, from),
      transmit: (datagram, to) => this.#table.transmit(datagram, to),
    });
  }

  get sessionCount(): number {
    return this.#table.sessions.size;
  }

  sessions(): IterableIterator<Session> {
    return this.#table.sessions.values();
  }

  /** Binds a UDP socket (IPv6 when `host` is an IPv6 address); resolves with the bound address. */
  async listen(port = DEFAULT_PORT, host = DEFAULT_BIND_ADDR): Promise<AddressInfo> {
    if (this.#socket) throw new ServerStateError('server is already listening');
    const socket = openDatagramSocket(isIP(host) === 6 ? 6 : 4, this.#io);
    this.#socket = socket;
    let address: AddressInfo;
    try {
      address = await socket.bind(port, host, this.#receiveBufferBytes);
    } catch (err) {
      this.#socket = null;
      throw new SocketError(err as Error);
    }
    socket.onError = (err) => this.emit('error', err);
    socket.onMessage = (msg, rinfo) => this.receive(msg, rinfo);
    this.#table.start(tickInterval(this.timings), (now) => this.#responder.expire(now));
    this.startThreads();
    this.emit('listening', address);
    return address;
  }

  /** What the socket has done: which datagram path, and how many datagrams per system call. */
  ioStats(): DatagramIoStats | undefined {
    return this.#socket?.stats();
  }

  address(): AddressInfo {
    if (!this.#socket) throw new ServerStateError('server is not listening');
    return this.#socket.address();
  }

  /** Tells every version-2 peer the session is closing, wipes all keys, closes the socket. */
  async close(): Promise<void> {
    // Nothing that arrives while closing may open a session.
    if (this.#socket) this.#socket.onMessage = null;
    this.#responder.stop();
    this.#table.closeAll('shutdown');
    this.#table.stop();
    const threads = this.#threads;
    this.#threads = undefined;
    await threads?.close();
    const socket = this.#socket;
    this.#socket = null;
    if (!socket) return;
    // Let the close messages leave before the socket goes.
    await new Promise((resolve) => setImmediate(resolve));
    await socket.close();
    this.emit('close');
  }

  private startThreads(): void {
    if (this.#threadCount === 0) return;
    const onFailure = (err: Error): void => this.#log.warn('handshake thread failed; handshakes continue on the socket thread', { error: err.message });
    try {
      this.#threads = new HandshakeThreads({
        threads: this.#threadCount, backend: this.#backend.name, identity: this.identity, networkKeys: this.#networkKeys, onFailure,
      });
    } catch (err) {
      // Threads are an optimisation: without them every handshake is answered on the socket thread.
      onFailure(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /* ---------------- receive path ---------------- */

  /**
   * Handles one datagram as if it had arrived on the socket from `rinfo`: the whole receive
   * path, for the socket and for fuzzing.
   */
  receive(datagram: Buffer, rinfo: PeerAddress): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += datagram.length;
    const now = clock();
    if (this.#table.route(datagram, rinfo, now)) return;
    if (this.#v1BySource.size > 0 && this.#v1BySource.receive(datagram, rinfo, now)) return;
    if (datagram[0] !== TOKEN_FIRST_BYTE) return this.drop('unknown-session', datagram, rinfo);
    const outcome = this.#responder.handle(datagram, rinfo, now);
    if ('dropped' in outcome) return this.drop(outcome.dropped, datagram, rinfo);
    if ('session' in outcome) {
      const { session } = outcome;
      if (session instanceof V1Session) this.#v1BySource.add(session);
      // A version-1 peer proves nothing more after its handshake: announce it now.
      if (session.version === 1) this.established(session);
    }
  }

  private drop(reason: DropReason, datagram: Buffer, rinfo: PeerAddress): void {
    this.counters.drop(reason);
    const refused = refusalReason(reason, this.#hasNetworkKey);
    if (refused !== undefined && this.#refusals.due(reason, rinfo.address)) {
      this.#log.warn(`refused a client: ${refused}`, { from: formatAddress(rinfo.address, rinfo.port), reason });
    }
    if (this.#log.isEnabled('debug')) {
      this.#log.debug('dropped datagram', { from: formatAddress(rinfo.address, rinfo.port), reason, bytes: datagram.length });
    }
  }

  private established(session: Session): void {
    this.#log.info('session established', { peer: formatAddress(session.remote.address, session.remote.port), version: session.version });
    this.emit('session', session);
  }

  private forget(session: Session, reason: CloseReason): void {
    if (session instanceof V1Session) this.#v1BySource.forget(session);
    if (session.version === 2 && !session.confirmed) return; // a half-open session was never announced
    this.#log.info(reason === 'timeout' ? 'session timed out' : 'session closed', {
      peer: formatAddress(session.remote.address, session.remote.port),
      reason,
      version: session.version,
      rtt_ms: Number.isNaN(session.rtt.smoothed) ? undefined : session.rtt.smoothed.toFixed(3),
    });
  }
}

function defaultHandshakeThreads(): number {
  return Math.min(MAX_DEFAULT_HANDSHAKE_THREADS, availableParallelism() - 1);
}

function sourceKey(peer: PeerAddress): string {
  return `${peer.address}|${peer.port}`;
}

/**
 * Version-1 sessions by source address and port. A `connect` proves nothing (anyone can forge
 * one, under the public key, from any source address), so a new session from a source that
 * already has one does not replace it: it waits as that source's candidate and takes over only
 * once it has decrypted a datagram, which only the holder of its key can send. Until then the
 * working session keeps working. One candidate per source: a newer one displaces it.
 */
class V1Sources {
  readonly #current = new Map<string, V1Session>();
  readonly #candidates = new Map<string, V1Session>();

  /** Sources with a session (a candidate never exists without one). */
  get size(): number {
    return this.#current.size;
  }

  add(session: V1Session): void {
    const key = sourceKey(session.remote);
    if (!this.#current.has(key)) {
      this.#current.set(key, session);
      return;
    }
    const displaced = this.#candidates.get(key);
    this.#candidates.set(key, session);
    displaced?.close('evicted');
  }

  /** The candidate a new session from `peer` would displace. */
  candidate(peer: PeerAddress): V1Session | undefined {
    return this.#candidates.get(sourceKey(peer));
  }

  /** Hands the datagram to its source's session, else to the candidate, which then replaces it. */
  receive(datagram: Buffer, from: PeerAddress, now: number): boolean {
    const key = sourceKey(from);
    if (this.#current.get(key)?.receive(datagram, from, now)) return true;
    const candidate = this.#candidates.get(key);
    if (!candidate?.receive(datagram, from, now)) return false;
    const replaced = this.#current.get(key);
    this.#candidates.delete(key);
    this.#current.set(key, candidate);
    replaced?.close('evicted');
    return true;
  }

  /** A closed session leaves; a candidate takes the place of a session that ended. */
  forget(session: V1Session): void {
    const key = sourceKey(session.remote);
    if (this.#candidates.get(key) === session) {
      this.#candidates.delete(key);
    } else if (this.#current.get(key) === session) {
      const candidate = this.#candidates.get(key);
      this.#candidates.delete(key);
      if (candidate) this.#current.set(key, candidate); else this.#current.delete(key);
    }
  }
}

export function createServer(options: ServerOptions = {}): BittrrtServer {
  return new BittrrtServer(options);
}
