import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { CMD_CONNECT, CMD_CONNECTED, DEFAULT_CONNECT_HOST, DEFAULT_PORT, NEGOTIATION_DELAY, NEGOTIATION_REPEAT } from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { CommEncryptor } from '../crypto/comm-encryptor.js';
import { DoCrypt, type DoCryptForm } from '../crypto/docrypt.js';
import { BittrrtError } from '../errors.js';
import { encodeHandshake, parseHandshake } from '../protocol/handshake.js';
import { formatAddress, resolveHost } from './address.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  backend?: CryptoBackend;
  /** Handshake obfuscation (default: the original's NET_OBS_KEY). */
  docrypt?: DoCrypt;
  /** Token form to send: the seed's (default) or the later salted one. */
  form?: DoCryptForm;
  /** Sends of `connect` before giving up (default NEGOTIATION_REPEAT = 50). */
  attempts?: number;
  /** Milliseconds to wait for an answer after each send (default NEGOTIATION_DELAY = 100). */
  delayMs?: number;
  signal?: AbortSignal;
}

/** No `connected` answer arrived from the server after every attempt. */
export class HandshakeTimeoutError extends BittrrtError {
  constructor(readonly address: string, readonly attempts: number) {
    super('ERR_HANDSHAKE_TIMEOUT', `no answer from ${address} after ${attempts} attempts`);
  }
}

/** The client side of an established channel. */
export interface ClientChannel {
  readonly encryptor: CommEncryptor;
  readonly remote: { address: string; port: number };
  readonly socket: Socket;
  /** How many `connect` datagrams were sent before the answer came. */
  readonly attempts: number;
  close(): Promise<void>;
}

/**
 * The seed's client handshake: send `connect` with our public key up to `attempts` times, waiting
 * `delayMs` after each, until the server at the target address answers `connected`. Datagrams
 * from any other address, and answers that do not parse, are ignored.
 */
export async function connect(options: ConnectOptions = {}): Promise<ClientChannel> {
  const target = await resolveHost(options.host ?? DEFAULT_CONNECT_HOST);
  const port = options.port ?? DEFAULT_PORT;
  const attempts = options.attempts ?? NEGOTIATION_REPEAT;
  const delayMs = options.delayMs ?? NEGOTIATION_DELAY;
  const docrypt = options.docrypt ?? new DoCrypt();
  const encryptor = new CommEncryptor({ backend: options.backend });
  const token = Buffer.from(docrypt.fencrypt(encodeHandshake(CMD_CONNECT, encryptor.publicKey), { form: options.form }), 'ascii');
  const socket = createSocket({ type: target.family === 6 ? 'udp6' : 'udp4' });
  const close = (): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

  let sent = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        options.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err); else resolve();
      };
      const onAbort = (): void => finish(new BittrrtError('ERR_ABORTED', 'connect aborted'));
      const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
        if (rinfo.address !== target.address || rinfo.port !== port) return;
        let plaintext: Buffer;
        try {
          plaintext = docrypt.fdecrypt(msg).plaintext;
        } catch {
          return;
        }
        const parsed = parseHandshake(plaintext, CMD_CONNECTED);
        if (!parsed.ok) return;
        try {
          encryptor.deriveSharedSecret(parsed.message.pubkey);
        } catch {
          return; // a low-order key from "the server" is an attack, not an answer
        }
        finish();
      };
      const sendNext = (): void => {
        if (sent >= attempts) {
          finish(new HandshakeTimeoutError(formatAddress(target.address, port), attempts));
          return;
        }
        sent++;
        socket.send(token, port, target.address);
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
    await close();
    throw err;
  }
  return {
    encryptor,
    remote: { address: target.address, port },
    socket,
    attempts: sent,
    close: async () => {
      encryptor.destroy();
      await close();
    },
  };
}
