import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP, type AddressInfo } from 'node:net';
import {
  CMD_CONNECT, CMD_CONNECTED, DEFAULT_BIND_ADDR, DEFAULT_MAX_SESSIONS, DEFAULT_PORT, MAX_HANDSHAKE_DATAGRAM,
  NEGOTIATION_DELAY, NEGOTIATION_REPEAT, PROTOCOL_VERSION, TOKEN_FIRST_BYTE,
} from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { CommEncryptor } from '../crypto/comm-encryptor.js';
import { DoCrypt, type DoCryptForm } from '../crypto/docrypt.js';
import { getDefaultBackend } from '../crypto/select.js';
import { toBase64Url } from '../encoding.js';
import { LowOrderKeyError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { encodeHandshake, parseHandshake, type HandshakeMessage } from '../protocol/handshake.js';
import { formatAddress } from './address.js';
import { Counters, type DropReason } from './counters.js';
import { Keypair } from './keypair.js';
import { SecureSession } from './secure-session.js';
import { SeedSession } from './seed-session.js';
import type { CloseReason, PeerAddress, Session } from './session.js';
import { SessionTable, tickInterval } from './session-table.js';
import { resolveTimings, type SessionTimings } from './timings.js';

export interface ServerOptions {
  backend?: CryptoBackend;
  /** Handshake obfuscation (default: the original's NET_OBS_KEY). */
  docrypt?: DoCrypt;
  /** Most sessions at once; when full, the one heard from least recently is evicted. */
  maxSessions?: number;
  /** Session timers and limits (heartbeat rate, rotation...); defaults in constants.ts. */
  timings?: Partial<SessionTimings>;
  logger?: Logger;
  /** Kernel receive buffer for the socket, so bursts are not dropped (capped by the OS). */
  receiveBufferBytes?: number;
}

export interface BittrrtServerEvents {
  listening: [AddressInfo];
  /** A handshake completed; the session emits `message`, `rtt`, `rekey` and `close`. */
  session: [Session];
  error: [Error];
  close: [];
}

/** A `connected` answer, kept while the client may still be retransmitting its `connect`. */
interface Answer {
  session: Session;
  reply: Buffer;
  expires: number;
}

/** A client stops retransmitting `connect` after this long, so its answer can be forgotten. */
const ANSWER_TTL_MS = NEGOTIATION_REPEAT * NEGOTIATION_DELAY;
const DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024;

/**
 * A bittrrt server: one UDP socket for handshakes and every session. A datagram is, by its first
 * byte and then its receiver index, a handshake, a version-2 packet for a known session, or a
 * version-1 packet from a known address; anything else, and anything that fails a check, is
 * dropped, counted, and never answered.
 */
export class BittrrtServer extends EventEmitter<BittrrtServerEvents> {
  readonly counters = new Counters();
  readonly timings: SessionTimings;
  readonly #backend: CryptoBackend;
  readonly #docrypt: DoCrypt;
  readonly #maxSessions: number;
  readonly #receiveBufferBytes: number;
  readonly #log: Logger;
  readonly #table: SessionTable;
  /** Version-1 sessions have no receiver index, so they are found by source address. */
  readonly #seedBySource = new Map<string, SeedSession>();
  /** Keyed by the client's public key, so a retransmitted `connect` finds its session. */
  readonly #answers = new Map<string, Answer>();
  #socket: Socket | null = null;

  constructor(options: ServerOptions = {}) {
    super();
    this.#backend = options.backend ?? getDefaultBackend();
    this.#docrypt = options.docrypt ?? new DoCrypt();
    this.#maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.#receiveBufferBytes = options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER;
    this.timings = resolveTimings(options.timings);
    this.#log = options.logger ?? silentLogger;
    this.#table = new SessionTable(this.#backend, this.counters,
      (datagram, to) => this.#socket?.send(datagram, to.port, to.address),
      (session, reason) => this.forget(session, reason));
  }

  get sessionCount(): number {
    return this.#table.sessions.size;
  }

  sessions(): IterableIterator<Session> {
    return this.#table.sessions.values();
  }

  /** Binds a UDP socket (IPv6 when `host` is an IPv6 address); resolves with the bound address. */
  listen(port = DEFAULT_PORT, host = DEFAULT_BIND_ADDR): Promise<AddressInfo> {
    if (this.#socket) return Promise.reject(new Error('server is already listening'));
    const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
    this.#socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        this.#socket = null;
        reject(err);
      });
      socket.bind(port, host, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => this.emit('error', err));
        socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
        try {
          socket.setRecvBufferSize(this.#receiveBufferBytes);
        } catch {
          // The OS may refuse a size; its default still works, only bursts drop sooner.
        }
        this.#table.start(tickInterval(this.timings), (now) => this.expireAnswers(now));
        const address = socket.address();
        this.emit('listening', address);
        resolve(address);
      });
    });
  }

  address(): AddressInfo {
    if (!this.#socket) throw new Error('server is not listening');
    return this.#socket.address();
  }

  /** Tells every version-2 peer the session is closing, wipes all keys, closes the socket. */
  async close(): Promise<void> {
    this.#table.closeAll('shutdown');
    this.#table.stop();
    const socket = this.#socket;
    this.#socket = null;
    if (!socket) return;
    // Let the close messages leave before the socket goes.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.emit('close');
  }

  /* ---------------- receive path ---------------- */

  private receive(datagram: Buffer, rinfo: RemoteInfo): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += datagram.length;
    const now = Date.now();
    if (this.#table.route(datagram, rinfo, now)) return;
    if (this.#seedBySource.size > 0 && this.#seedBySource.get(sourceKey(rinfo))?.receive(datagram, rinfo, undefined, now)) return;
    const reason = datagram[0] === TOKEN_FIRST_BYTE ? this.handshake(datagram, rinfo, now) : 'unknown-session';
    if (reason !== null) this.drop(reason, datagram, rinfo);
  }

  private drop(reason: DropReason, datagram: Buffer, rinfo: RemoteInfo): void {
    this.counters.drop(reason);
    if (this.#log.isEnabled('debug')) {
      this.#log.debug('dropped datagram', { from: formatAddress(rinfo.address, rinfo.port), reason, bytes: datagram.length });
    }
  }

  /* ---------------- handshake (control path) ---------------- */

  /** Answers a valid `connect`; returns why the datagram was dropped otherwise. */
  private handshake(datagram: Buffer, rinfo: RemoteInfo, now: number): DropReason | null {
    // Cheapest checks first: size, then the Fernet MAC; X25519 only for an authentic token.
    if (datagram.length > MAX_HANDSHAKE_DATAGRAM) return 'oversized';
    let decrypted;
    try {
      decrypted = this.#docrypt.fdecrypt(datagram);
    } catch {
      return 'bad-token';
    }
    const parsed = parseHandshake(decrypted.plaintext, CMD_CONNECT);
    if (!parsed.ok) return parsed.reason;

    const id = toBase64Url(parsed.message.pubkey);
    const answered = this.#answers.get(id);
    if (answered && !answered.session.closed) {
      this.counters.retransmittedConnects++;
      this.#table.transmit(answered.reply, rinfo);
      return null;
    }
    if (this.#table.sessions.size >= this.#maxSessions) {
      const idle = this.#table.leastRecentlyHeard();
      if (!idle) return 'session-limit';
      idle.close('evicted');
    }
    const encryptor = new CommEncryptor({ backend: this.#backend });
    try {
      const peer = { address: rinfo.address, port: rinfo.port };
      const { session, reply } = this.accept(parsed.message, encryptor, peer, decrypted.form, now);
      this.#answers.set(id, { session, reply, expires: now + ANSWER_TTL_MS });
      this.#table.add(session);
      this.counters.handshakes++;
      this.#table.transmit(reply, rinfo);
      this.#log.info('session established', { peer: formatAddress(rinfo.address, rinfo.port), version: session.version, form: decrypted.form });
      session.on('rekey', () => this.#log.info('session keys rotated', { peer: formatAddress(session.remote.address, session.remote.port) }));
      this.emit('session', session);
      return null;
    } catch (err) {
      encryptor.destroy();
      if (err instanceof LowOrderKeyError) return 'low-order';
      throw err;
    }
  }

  /** Derives the keys and builds the session: version 2 if the client asked for it, else the seed's. */
  private accept(message: HandshakeMessage, encryptor: CommEncryptor, peer: PeerAddress, form: DoCryptForm, now: number):
    { session: Session; reply: Buffer } {
    const clientIndex = message.fields.idx;
    const wantsV2 = typeof message.fields.v === 'number' && message.fields.v >= 2
      && Number.isInteger(clientIndex) && (clientIndex as number) >= 0 && (clientIndex as number) <= 0xffff_ffff;
    if (!wantsV2) {
      encryptor.deriveSharedSecret(message.pubkey);
      const reply = this.answer(encodeHandshake(CMD_CONNECTED, encryptor.publicKey), form);
      const session = new SeedSession(this.#table, 'server', peer, encryptor, this.timings, now);
      this.#seedBySource.set(sourceKey(peer), session);
      return { session, reply };
    }
    const keys = encryptor.deriveSessionKeys(message.pubkey, 'responder');
    const keypair = new Keypair(this.#backend, keys, this.#table.allocateIndex(), clientIndex as number, now, this.timings.rejectAfterMessages);
    const reply = this.answer(encodeHandshake(CMD_CONNECTED, encryptor.publicKey, { v: PROTOCOL_VERSION, idx: keypair.localIndex }), form);
    encryptor.destroy();
    return { session: new SecureSession(this.#table, 'server', peer, keypair, this.timings, now), reply };
  }

  private answer(json: string, form: DoCryptForm): Buffer {
    return Buffer.from(this.#docrypt.fencrypt(json, { form }), 'ascii');
  }

  private expireAnswers(now: number): void {
    // Insertion order is expiry order: stop at the first answer still live.
    for (const [id, answer] of this.#answers) {
      if (answer.expires > now && !answer.session.closed) break;
      this.#answers.delete(id);
    }
  }

  private forget(session: Session, reason: CloseReason): void {
    if (session instanceof SeedSession) this.#seedBySource.delete(sourceKey(session.remote));
    this.#log.info(reason === 'timeout' ? 'session timed out' : 'session closed', {
      peer: formatAddress(session.remote.address, session.remote.port),
      reason,
      version: session.version,
      rtt_ms: Number.isNaN(session.rtt.smoothed) ? undefined : session.rtt.smoothed.toFixed(3),
    });
  }
}

function sourceKey(peer: PeerAddress): string {
  return `${peer.address}|${peer.port}`;
}

export function createServer(options: ServerOptions = {}): BittrrtServer {
  return new BittrrtServer(options);
}
