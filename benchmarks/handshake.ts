import { CMD_CONNECT, CMD_CONNECTED, PROTOCOL_VERSION } from '../lib/constants.js';
import type { CryptoBackend } from '../lib/crypto/backend.js';
import { DoCrypt } from '../lib/crypto/docrypt.js';
import { X25519KeyPair } from '../lib/crypto/x25519-key-pair.js';
import { answerInitiation, type Answer, type AnswerKeys } from '../lib/net/handshake/answer.js';
import { complete } from '../lib/net/handshake/key-agreement.js';
import { parseHandshake } from '../lib/protocol/handshake.js';
import { encodeInitiation, readInitiation, readResponse, type Initiation } from '../lib/protocol/handshake-v2.js';
import { check, type BackendCase } from './harness.js';

/** Any receiver indices: the client's in its `connect`, the one the server reserves for its answer. */
const CLIENT_INDEX = 1;
const SERVER_INDEX = 2;

/**
 * The CPU work of one fresh version-2 `connect` on the server, through the functions the server
 * calls (lib/net/handshake/README.md, steps 2 to 4): the token's Fernet MAC and decryption,
 * the JSON and its version-2 fields (HandshakeResponder.handle, on the socket thread), then
 * answerInitiation, what a handshake thread does: an ephemeral key pair, three X25519s, the key
 * schedule and the `connected` token. Not measured: the socket, cookies and rate limits, the
 * session table. The sessions section measures the whole server, these included, over loopback.
 */
function answerConnect(datagram: Buffer, keys: AnswerKeys): Answer {
  const decrypted = keys.docrypt.fdecrypt(datagram);
  const parsed = parseHandshake(decrypted.plaintext, CMD_CONNECT);
  const init = parsed.ok ? readInitiation(parsed.message) : null;
  if (init === null) throw new Error('the server would not answer this connect');
  return answerInitiation(keys, { init, responderIndex: SERVER_INDEX, form: decrypted.form });
}

export const serverHandshakeCase: BackendCase = {
  kind: 'backend',
  id: 'handshake.server',
  label: 'server handshake v2: connect → connected',
  prepare(backend: CryptoBackend) {
    const docrypt = new DoCrypt();
    const keys: AnswerKeys = { backend, identity: new X25519KeyPair({ backend }), docrypt };
    const client = new X25519KeyPair({ backend });
    const clientIdentity = new X25519KeyPair({ backend });
    const init: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: client.publicKey, index: CLIENT_INDEX, clientStatic: clientIdentity.publicKey };
    const datagram = Buffer.from(docrypt.fencrypt(encodeInitiation(init)), 'ascii');

    // Finish the handshake on the client side once, to prove the measured work is the real thing.
    const answer = answerConnect(datagram, keys);
    const parsed = parseHandshake(docrypt.fdecrypt(answer.reply).plaintext, CMD_CONNECTED);
    const response = parsed.ok ? readResponse(parsed.message) : null;
    check(response !== null, 'the client reads a version-2 connected');
    const clientKeys = complete(init, client, response, clientIdentity);
    check(clientKeys !== null, 'the server proves its identity to the client');
    check(Buffer.from(clientKeys.send).equals(Buffer.from(answer.keys.receive)), 'client and server agree on the session keys');

    return () => answerConnect(datagram, keys);
  },
};
