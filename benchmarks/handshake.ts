import { CMD_CONNECT, CMD_CONNECTED, MAX_HANDSHAKE_DATAGRAM } from '../lib/constants.js';
import type { CryptoBackend } from '../lib/crypto/backend.js';
import { CommEncryptor } from '../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../lib/crypto/docrypt.js';
import { toBase64Url } from '../lib/encoding.js';
import { encodeHandshake, parseHandshake } from '../lib/protocol/handshake.js';
import { connectText } from './crypto.js';
import { check, type BackendCase } from './harness.js';

interface Answer {
  /** The session-map key BittrrtServer files the peer under. */
  readonly id: string;
  readonly encryptor: CommEncryptor;
  /** The `connected` datagram. */
  readonly reply: Buffer;
}

/**
 * Everything BittrrtServer.handleConnect computes for one fresh `connect` datagram, in the same
 * order, minus the socket send and the session map: size check, DoCrypt fdecrypt (Fernet MAC, then
 * AES), parseHandshake, a new ephemeral CommEncryptor (X25519 key pair), deriveSharedSecret
 * (X25519 + HKDF), encodeHandshake and fencrypt of the answer.
 */
function answerConnect(datagram: Buffer, docrypt: DoCrypt, backend: CryptoBackend): Answer {
  if (datagram.length > MAX_HANDSHAKE_DATAGRAM) throw new Error('oversized connect');
  const decrypted = docrypt.fdecrypt(datagram);
  const parsed = parseHandshake(decrypted.plaintext, CMD_CONNECT);
  if (!parsed.ok) throw new Error(`connect rejected: ${parsed.reason}`);
  const { pubkey } = parsed.message;
  const id = toBase64Url(pubkey);
  const encryptor = new CommEncryptor({ backend });
  encryptor.deriveSharedSecret(pubkey);
  const text = encodeHandshake(CMD_CONNECTED, encryptor.publicKey);
  const reply = Buffer.from(docrypt.fencrypt(text, { form: decrypted.form }), 'ascii');
  return { id, encryptor, reply };
}

export const serverHandshakeCase: BackendCase = {
  kind: 'backend',
  id: 'handshake.server',
  label: 'server handshake: connect → connected',
  prepare(backend) {
    const docrypt = new DoCrypt();
    const client = new CommEncryptor({ backend });
    const datagram = Buffer.from(docrypt.fencrypt(connectText(client.publicKey)), 'ascii');

    // Finish the handshake on the client side once, to prove the measured work is the real thing.
    const answer = answerConnect(datagram, docrypt, backend);
    const parsed = parseHandshake(docrypt.fdecrypt(answer.reply).plaintext, CMD_CONNECTED);
    check(parsed.ok, 'client accepts the connected reply');
    client.deriveSharedSecret(parsed.message.pubkey);
    const probe = Buffer.from('ping');
    check(client.decrypt(answer.encryptor.encrypt(probe)).equals(probe), 'client and server share the channel key');
    check(answer.id === toBase64Url(client.publicKey), 'server files the session under the client key');

    return () => answerConnect(datagram, docrypt, backend);
  },
};
