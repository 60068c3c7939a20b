import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP, type AddressInfo } from 'node:net';
import { CMD_CONNECTED, CMD_CONNECT, DEFAULT_BIND_ADDR, DEFAULT_PORT, MAX_HANDSHAKE_DATAGRAM } from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { CommEncryptor } from '../crypto/comm-encryptor.js';
import { DoCrypt, type DoCryptForm } from '../crypto/docrypt.js';
import { getDefaultBackend } from '../crypto/select.js';
import { toBase64Url } from '../encoding.js';
import { LowOrderKeyError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { encodeHandshake, parseHandshake } from '../protocol/handshake.js';
import { formatAddress } from './address.js';
import { ServerCounters, type DropReason } from './counters.js';

export interface ServerOptions {
  backend?: CryptoBackend;
  /** Handshake obfuscation (default: the original's NET_OBS_KEY). */
  docrypt?: DoCrypt;
  /** Most peers remembered at once; the oldest is forgotten first. */
  maxSessions?: number;
  logger?: Logger;
}

/** A peer whose handshake completed: its key lives in `encryptor`. */
export interface ServerSession {
  readonly peer: { address: string; port: number };
  readonly peerPublicKey: Uint8Array;
  readonly encryptor: CommEncryptor;
  /** The form the client's token used; the server answers in the same form. */
  readonly form: DoCryptForm;
  readonly establishedAt: number;
}

interface SessionEntry extends ServerSession {
  /** The exact `connected` datagram, re-sent for a retransmitted `connect`. */
  readonly reply: Buffer;
}

export const DEFAULT_MAX_SESSIONS = 10_000;

export interface BittrrtServerEvents {
  listening: [AddressInfo];
  session: [ServerSession];
  error: [Error];
  close: [];
}

/**
 * The seed's server: one UDP socket; each valid `connect` gets an ephemeral key pair, a derived
 * channel key and a `connected` answer. Anything it cannot parse is dropped, counted, and never
 * answered.
 */
export class BittrrtServer extends EventEmitter<BittrrtServerEvents> {
  readonly counters = new ServerCounters();
  #socket: Socket | null = null;
  readonly #backend: CryptoBackend;
  readonly #docrypt: DoCrypt;
  readonly #maxSessions: number;
  readonly #log: Logger;
  /** Keyed by the client's public key (base64) so a retransmitted `connect` finds its session. */
  readonly #sessions = new Map<string, SessionEntry>();

  constructor(options: ServerOptions = {}) {
    super();
    this.#backend = options.backend ?? getDefaultBackend();
    this.#docrypt = options.docrypt ?? new DoCrypt();
    this.#maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.#log = options.logger ?? silentLogger;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  sessions(): IterableIterator<ServerSession> {
    return this.#sessions.values();
  }

  /** Binds a UDP socket (IPv6 when `host` is an IPv6 address); resolves with the bound address. */
  listen(port = DEFAULT_PORT, host = DEFAULT_BIND_ADDR): Promise<AddressInfo> {
    if (this.#socket) return Promise.reject(new Error('server is already listening'));
    const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
    this.#socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.emit('error', err));
        socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
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

  /** Closes the socket and wipes every session's keys. */
  close(): Promise<void> {
    for (const session of this.#sessions.values()) session.encryptor.destroy();
    this.#sessions.clear();
    const socket = this.#socket;
    this.#socket = null;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => {
      this.emit('close');
      resolve();
    }));
  }

  private receive(datagram: Buffer, rinfo: RemoteInfo): void {
    this.counters.packetsIn++;
    const reason = this.handleConnect(datagram, rinfo);
    if (reason !== null) {
      this.counters.drop(reason);
      this.#log.debug('dropped datagram', { from: formatAddress(rinfo.address, rinfo.port), reason, bytes: datagram.length });
    }
  }

  /** Answers a valid `connect`; returns why the datagram was dropped otherwise. */
  private handleConnect(datagram: Buffer, rinfo: RemoteInfo): DropReason | null {
    // Cheapest checks first: size, then the Fernet MAC, and only then any X25519 work.
    if (datagram.length > MAX_HANDSHAKE_DATAGRAM) return 'oversized';
    let decrypted;
    try {
      decrypted = this.#docrypt.fdecrypt(datagram);
    } catch {
      return 'bad-token';
    }
    const parsed = parseHandshake(decrypted.plaintext, CMD_CONNECT);
    if (!parsed.ok) return parsed.reason;
    const { pubkey } = parsed.message;

    const id = toBase64Url(pubkey);
    const existing = this.#sessions.get(id);
    if (existing) {
      this.counters.retransmittedConnects++;
      this.send(existing.reply, rinfo);
      return null;
    }

    const encryptor = new CommEncryptor({ backend: this.#backend });
    try {
      encryptor.deriveSharedSecret(pubkey);
    } catch (err) {
      encryptor.destroy();
      if (err instanceof LowOrderKeyError) return 'low-order';
      throw err;
    }
    const reply = Buffer.from(this.#docrypt.fencrypt(encodeHandshake(CMD_CONNECTED, encryptor.publicKey), { form: decrypted.form }), 'ascii');
    const session: SessionEntry = {
      peer: { address: rinfo.address, port: rinfo.port },
      peerPublicKey: pubkey,
      encryptor,
      form: decrypted.form,
      establishedAt: Date.now(),
      reply,
    };
    this.remember(id, session);
    this.counters.handshakes++;
    this.send(reply, rinfo);
    this.#log.info('secure channel established', { peer: formatAddress(rinfo.address, rinfo.port), form: decrypted.form });
    this.emit('session', session);
    return null;
  }

  private remember(id: string, session: SessionEntry): void {
    if (this.#sessions.size >= this.#maxSessions) {
      // Map iteration order is insertion order: the first entry is the oldest.
      const oldest = this.#sessions.keys().next();
      if (!oldest.done) {
        this.#sessions.get(oldest.value)?.encryptor.destroy();
        this.#sessions.delete(oldest.value);
      }
    }
    this.#sessions.set(id, session);
  }

  private send(datagram: Buffer, to: RemoteInfo): void {
    this.counters.packetsOut++;
    this.#socket?.send(datagram, to.port, to.address);
  }
}

export function createServer(options: ServerOptions = {}): BittrrtServer {
  return new BittrrtServer(options);
}
