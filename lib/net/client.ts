import { createSocket, type RemoteInfo } from 'node:dgram';
import {
  CMD_CONNECT, CMD_CONNECTED, DEFAULT_CONNECT_HOST, DEFAULT_PORT, NEGOTIATION_DELAY, NEGOTIATION_REPEAT, PROTOCOL_VERSION,
  TOKEN_FIRST_BYTE,
} from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { CommEncryptor } from '../crypto/comm-encryptor.js';
import { DoCrypt, type DoCryptForm } from '../crypto/docrypt.js';
import { getDefaultBackend } from '../crypto/select.js';
import { BittrrtError } from '../errors.js';
import { encodeHandshake, parseHandshake, type HandshakeMessage } from '../protocol/handshake.js';
import { formatAddress, resolveHost } from './address.js';
import { Counters } from './counters.js';
import { Keypair } from './keypair.js';
import { SecureSession } from './secure-session.js';
import { SeedSession } from './seed-session.js';
import type { PeerAddress, Session } from './session.js';
import { SessionTable, tickInterval } from './session-table.js';
import { resolveTimings, type SessionTimings } from './timings.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  backend?: CryptoBackend;
  /** Handshake obfuscation (default: the original's NET_OBS_KEY). */
  docrypt?: DoCrypt;
  /** Token form to send: the seed's (default) or the later salted one. */
  form?: DoCryptForm;
  /** 2 (default) offers version 2 and accepts the seed's channel from an original server; 1 speaks only the seed's. */
  protocolVersion?: 1 | 2;
  /** Sends of `connect` before giving up (default NEGOTIATION_REPEAT = 50). */
  attempts?: number;
  /** Milliseconds to wait for an answer after each send (default NEGOTIATION_DELAY = 100). */
  delayMs?: number;
  /** Session timers and limits; they should match the server's. */
  timings?: Partial<SessionTimings>;
  signal?: AbortSignal;
}

/** No `connected` answer arrived from the server after every attempt. */
export class HandshakeTimeoutError extends BittrrtError {
  constructor(readonly address: string, readonly attempts: number) {
    super('ERR_HANDSHAKE_TIMEOUT', `no answer from ${address} after ${attempts} attempts`);
  }
}

/**
 * Opens a session with a server: send `connect` with our public key up to `attempts` times,
 * `delayMs` apart, until the server at the target address answers `connected`. Datagrams from any
 * other address, and answers that do not check out, are ignored. Resolves with the session; its
 * socket closes when the session does.
 */
export async function connect(options: ConnectOptions = {}): Promise<Session> {
  const target = await resolveHost(options.host ?? DEFAULT_CONNECT_HOST);
  const server: PeerAddress = { address: target.address, port: options.port ?? DEFAULT_PORT };
  const attempts = options.attempts ?? NEGOTIATION_REPEAT;
  const delayMs = options.delayMs ?? NEGOTIATION_DELAY;
  const timings = resolveTimings(options.timings);
  const backend = options.backend ?? getDefaultBackend();
  const docrypt = options.docrypt ?? new DoCrypt();
  const counters = new Counters();
  const socket = createSocket({ type: target.family === 6 ? 'udp6' : 'udp4' });
  const table = new SessionTable(backend, counters, (datagram, to) => socket.send(datagram, to.port, to.address), () => {
    table.stop();
    // Let a close message leave before the socket goes.
    setImmediate(() => socket.close());
  });
  const encryptor = new CommEncryptor({ backend });
  const offerV2 = (options.protocolVersion ?? PROTOCOL_VERSION) >= 2;
  const localIndex = table.allocateIndex();
  const hello = encodeHandshake(CMD_CONNECT, encryptor.publicKey, offerV2 ? { v: PROTOCOL_VERSION, idx: localIndex } : {});
  const token = Buffer.from(docrypt.fencrypt(hello, { form: options.form }), 'ascii');

  /** Builds the session from a valid `connected`; throws (and the answer is ignored) if it does not check out. */
  const establish = (answer: HandshakeMessage): Session => {
    const now = Date.now();
    const serverIndex = answer.fields.idx;
    if (offerV2 && answer.fields.v === PROTOCOL_VERSION && Number.isInteger(serverIndex)
      && (serverIndex as number) >= 0 && (serverIndex as number) <= 0xffff_ffff) {
      const keys = encryptor.deriveSessionKeys(answer.pubkey, 'initiator');
      const keypair = new Keypair(backend, keys, localIndex, serverIndex as number, now, timings.rejectAfterMessages);
      encryptor.destroy();
      return new SecureSession(table, 'client', server, keypair, timings, now);
    }
    encryptor.deriveSharedSecret(answer.pubkey);
    return new SeedSession(table, 'client', server, encryptor, timings, now);
  };

  let sent = 0;
  let session: Session;
  try {
    session = await new Promise<Session>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (result: Session | Error): void => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        options.signal?.removeEventListener('abort', onAbort);
        if (result instanceof Error) reject(result); else resolve(result);
      };
      const onAbort = (): void => finish(new BittrrtError('ERR_ABORTED', 'connect aborted'));
      const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
        if (rinfo.address !== server.address || rinfo.port !== server.port) return;
        let plaintext: Buffer;
        try {
          plaintext = docrypt.fdecrypt(msg).plaintext;
        } catch {
          return;
        }
        const parsed = parseHandshake(plaintext, CMD_CONNECTED);
        if (!parsed.ok) return;
        try {
          finish(establish(parsed.message));
        } catch {
          // A low-order key from "the server" is an attack, not an answer: keep waiting.
        }
      };
      const sendNext = (): void => {
        if (sent >= attempts) {
          finish(new HandshakeTimeoutError(formatAddress(server.address, server.port), attempts));
          return;
        }
        sent++;
        socket.send(token, server.port, server.address);
        timer = setTimeout(sendNext, delayMs);
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort);
      socket.on('message', onMessage);
      socket.once('error', (err) => finish(err));
      socket.bind(0, () => sendNext());
    });
  } catch (err) {
    encryptor.destroy();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    throw err;
  }

  table.add(session);
  socket.on('message', (msg, rinfo) => {
    counters.packetsIn++;
    counters.bytesIn += msg.length;
    if (rinfo.address !== server.address || rinfo.port !== server.port) return counters.drop('unknown-session');
    if (msg[0] === TOKEN_FIRST_BYTE && msg.length > 0) return; // a late copy of `connected`
    const now = Date.now();
    if (session instanceof SeedSession) {
      if (!session.receive(msg, rinfo, undefined, now)) counters.drop('bad-auth');
    } else if (!table.route(msg, rinfo, now)) {
      counters.drop('unknown-session');
    }
  });
  table.start(tickInterval(timings));
  return session;
}
