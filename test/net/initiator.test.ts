import { expect } from 'chai';
import { CMD_CONNECT, CMD_CONNECTED } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { InvalidInputError } from '../../lib/errors.js';
import { HandshakeInitiator, type InitiatorOptions } from '../../lib/net/handshake/initiator.js';
import { respond } from '../../lib/net/handshake/key-agreement.js';
import { encodeHandshake, parseHandshake } from '../../lib/protocol/handshake.js';
import { encodeCookieReply, encodeResponse, readInitiation } from '../../lib/protocol/handshake-v2.js';

const docrypt = new DoCrypt();

function initiator(options: Partial<InitiatorOptions> = {}): HandshakeInitiator {
  const ephemeral = new CommEncryptor();
  return new HandshakeInitiator({
    backend: ephemeral.backend, docrypt, index: 7, hostLabel: 'example.org:6711', authenticated: false, allowSeed: false, ...options,
  });
}

/** What a version-2 server answers to `token`, with its keys. */
function answer(token: Buffer, identity: CommEncryptor) {
  const parsed = parseHandshake(docrypt.fdecrypt(token).plaintext, CMD_CONNECT);
  if (!parsed.ok) throw new Error(parsed.reason);
  const init = readInitiation(parsed.message)!;
  const { keys, response } = respond(init, new CommEncryptor(), identity, 9);
  return { keys, datagram: Buffer.from(docrypt.fencrypt(encodeResponse(response)), 'ascii') };
}

describe("net/handshake/initiator: the client's half of the handshake, without a socket", () => {
  it('completes against a responder: both sides hold the same keys, the indexes and the server identity', () => {
    const identity = new CommEncryptor();
    const client = initiator();
    const server = answer(client.token(), identity);
    const step = client.receive(server.datagram);
    expect(step.kind).to.equal('done');
    const keys = (step as Extract<typeof step, { kind: 'done' }>).keys;
    if (keys.version !== 2) throw new Error('expected version 2');
    expect(keys.localIndex).to.equal(7);
    expect(keys.remoteIndex).to.equal(9);
    expect(keys.serverStatic.equals(identity.publicKey)).to.equal(true);
    expect(Buffer.from(keys.keys.send).equals(Buffer.from(server.keys.receive))).to.equal(true);
  });

  it('ignores a server that is not the pinned one, or that the verifier ignores, saying why; a verifier can fail it', () => {
    const identity = new CommEncryptor();
    const pinned = initiator({ serverKey: new CommEncryptor().publicKey, authenticated: true });
    expect(pinned.receive(answer(pinned.token(), identity).datagram)).to.deep.equal({ kind: 'ignore' });
    expect(pinned.rejected).to.equal('the server identity does not match the pinned key');
    const picky = initiator({ verifier: { verify: () => ({ kind: 'ignore', reason: 'not today' }) } });
    expect(picky.receive(answer(picky.token(), identity).datagram)).to.deep.equal({ kind: 'ignore' });
    expect(picky.rejected).to.equal('not today');
    const error = new InvalidInputError('no');
    const strict = initiator({ verifier: { verify: () => ({ kind: 'fail', error }) } });
    expect(strict.receive(answer(strict.token(), identity).datagram)).to.deep.equal({ kind: 'fail', error });
  });

  it('refuses a version-1 answer unless allowed, and knows when an opt-in would have taken it', () => {
    const seedAnswer = Buffer.from(docrypt.fencrypt(encodeHandshake(CMD_CONNECTED, new CommEncryptor().publicKey)), 'ascii');
    const byDefault = initiator();
    expect(byDefault.receive(seedAnswer).kind).to.equal('ignore');
    expect(byDefault.seedRefusedByDefault).to.equal(true);
    const authenticated = initiator({ authenticated: true });
    expect(authenticated.receive(seedAnswer).kind).to.equal('ignore');
    expect(authenticated.seedRefusedByDefault, 'no opt-in lifts authentication').to.equal(false);
    expect(initiator({ allowSeed: true }).receive(seedAnswer).kind).to.equal('done');
  });

  it('echoes a cookie: the next token carries it', () => {
    const client = initiator();
    const before = client.token();
    const cookie = Buffer.alloc(16, 3);
    expect(client.receive(Buffer.from(docrypt.fencrypt(encodeCookieReply(cookie)), 'ascii'))).to.deep.equal({ kind: 'send' });
    const parsed = parseHandshake(docrypt.fdecrypt(client.token()).plaintext, CMD_CONNECT);
    expect(parsed.ok && readInitiation(parsed.message)?.cookie).to.deep.equal(new Uint8Array(cookie));
    expect(client.token().equals(before)).to.equal(false);
  });
});
