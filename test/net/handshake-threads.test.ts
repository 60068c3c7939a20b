import { expect } from 'chai';
import type { Socket } from 'node:dgram';
import { CMD_CONNECTED, MAX_QUEUED_HANDSHAKES, PROTOCOL_VERSION } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';
import { connect } from '../../lib/net/client.js';
import { HandshakeThreads, type ThreadOutcome } from '../../lib/net/handshake/threads.js';
import { createServer, type BittrrtServer } from '../../lib/net/server.js';
import type { Session } from '../../lib/net/session.js';
import { complete } from '../../lib/net/handshake/key-agreement.js';
import { encodeInitiation, readResponse, type Initiation } from '../../lib/protocol/handshake-v2.js';
import { parseHandshake } from '../../lib/protocol/handshake.js';
import { closeSocket, eventually, nextDatagram, noReplyOnceProcessed, openLoopbackSocket, sendTo } from '../helpers/udp.js';

const docrypt = new DoCrypt();

function v2Connect(ephemeral: CommEncryptor, index = 7): { init: Initiation; datagram: Buffer } {
  const init: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: ephemeral.publicKey, index };
  return { init, datagram: Buffer.from(docrypt.fencrypt(encodeInitiation(init)), 'ascii') };
}

describe('handshake threads', () => {
  describe('a server with two handshake threads', () => {
    let server: BittrrtServer;
    let port: number;
    let peer: Socket;
    let other: Socket;

    beforeEach(async () => {
      // Every client here is on one host (loopback): lift the per-host handshake rate.
      server = createServer({ handshakeThreads: 2, rateLimits: { perSourceRate: 1000, perSourceBurst: 1000 } });
      port = (await server.listen(0, '127.0.0.1')).port;
      peer = await openLoopbackSocket();
      other = await openLoopbackSocket();
    });
    afterEach(async () => {
      await closeSocket(peer);
      await closeSocket(other);
      await server.close();
    });

    it('completes 40 concurrent library handshakes, and every session works', async () => {
      const sessions = await Promise.all(Array.from({ length: 40 }, () => connect({ host: '127.0.0.1', port })));
      try {
        for (const session of sessions) expect(session.version).to.equal(2);
        const rtts = await Promise.all(sessions.map((session) => session.ping(10_000)));
        expect(rtts.every((rtt) => rtt >= 0)).to.equal(true);
        expect(server.counters.handshakes).to.equal(40);
        expect(await eventually(() => server.sessionCount === 40, 2000)).to.equal(true);
      } finally {
        for (const session of sessions) session.close();
      }
      expect(await eventually(() => server.sessionCount === 0, 2000), 'closed sessions are freed').to.equal(true);
    });

    it('answers a connect sent twice at once exactly once, with keys the client can check', async () => {
      const ephemeral = new CommEncryptor();
      const { init, datagram } = v2Connect(ephemeral);
      // Both copies arrive before the thread answers the first: the second must not start a second handshake.
      peer.send(datagram, port, '127.0.0.1');
      peer.send(datagram, port, '127.0.0.1');
      const reply = await nextDatagram(peer, 10_000);
      expect(reply, 'a connected answer').to.not.equal(null);
      expect(await noReplyOnceProcessed(peer, () => server.counters.retransmittedConnects === 1), 'no second answer').to.equal(true);
      expect(server.counters.packetsOut).to.equal(1);
      const parsed = parseHandshake(docrypt.fdecrypt(reply!.msg).plaintext, CMD_CONNECTED);
      expect(parsed.ok).to.equal(true);
      if (!parsed.ok) return;
      const response = readResponse(parsed.message);
      expect(response?.serverStatic).to.deep.equal(server.identity.publicKey);
      expect(complete(init, ephemeral, response!), 'the confirmation verifies').to.not.equal(null);
      expect(server.counters.handshakes).to.equal(1);
      expect(server.counters.retransmittedConnects).to.equal(1);
      // Once answered, a retransmission gets the same answer again.
      await sendTo(peer, datagram, port);
      const again = await nextDatagram(peer, 10_000);
      expect(again?.msg.equals(reply!.msg)).to.equal(true);
      expect(server.counters.handshakes).to.equal(1);
    });

    it('drops a copy of a connect in a thread that comes from another address', async () => {
      const { datagram } = v2Connect(new CommEncryptor());
      peer.send(datagram, port, '127.0.0.1');
      other.send(datagram, port, '127.0.0.1');
      expect(await nextDatagram(peer, 10_000), 'the first sender is answered').to.not.equal(null);
      expect(await noReplyOnceProcessed(other, () => server.counters.dropsOf('replay') === 1), 'the copy is not').to.equal(true);
      expect(server.counters.packetsOut).to.equal(1);
    });

    it('drops a low-order key the thread refuses, without an answer', async () => {
      const init: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: new Uint8Array(32), index: 1 };
      await sendTo(peer, Buffer.from(docrypt.fencrypt(encodeInitiation(init)), 'ascii'), port);
      expect(await noReplyOnceProcessed(peer, () => server.counters.dropsOf('low-order') === 1), 'no answer').to.equal(true);
      expect(server.counters.packetsOut).to.equal(0);
      expect(server.sessionCount).to.equal(0);
    });

    it('closes while a handshake is in a thread without answering it or failing', async () => {
      server.receive(v2Connect(new CommEncryptor()).datagram, { address: '127.0.0.1', port: peer.address().port });
      // One turn of the event loop hands the request to a thread; close() then runs before its answer can be read.
      await new Promise((resolve) => setImmediate(resolve));
      await server.close();
      // close() waits for the threads to end: no answer can come later, and any attempt would have been counted.
      expect(server.counters.packetsOut).to.equal(0);
      expect(server.sessionCount).to.equal(0);
      expect(server.counters.handshakes).to.equal(0);
    });
  });

  it('a server on the pure-JS backend hands its threads the same backend', async () => {
    const backend = loadNobleBackend();
    const server = createServer({ backend, handshakeThreads: 1 });
    const { port } = await server.listen(0, '127.0.0.1');
    let session: Session | undefined;
    try {
      session = await connect({ host: '127.0.0.1', port, backend });
      expect(await session.ping(10_000)).to.be.at.least(0);
    } finally {
      session?.close();
      await server.close();
    }
  });

  it('a thread that cannot start fails its requests and reports it; none are lost silently', async () => {
    const identity = new CommEncryptor();
    const failures: Error[] = [];
    // A Fernet key of the wrong size makes the thread throw while it loads.
    const threads = new HandshakeThreads({
      threads: 1, backend: 'native', identity, networkKeys: { fernetKey: new Uint8Array(5), psk: new Uint8Array(32) }, onFailure: (err) => failures.push(err),
    });
    try {
      const { init } = v2Connect(new CommEncryptor());
      const outcome = await new Promise<ThreadOutcome>((resolve) => threads.submit({ init, responderIndex: 1, form: 'seed' }, resolve));
      expect(outcome).to.equal('failed');
      expect(failures.length).to.be.at.least(1);
      expect(threads.usable).to.equal(false);
    } finally {
      await threads.close();
    }
  });

  it(`refuses requests beyond ${MAX_QUEUED_HANDSHAKES} waiting at once, so a flood cannot queue work without bound`, async () => {
    const threads = new HandshakeThreads({ threads: 1, backend: 'native', identity: new CommEncryptor(), onFailure: () => undefined });
    try {
      const { init } = v2Connect(new CommEncryptor());
      let accepted = 0;
      for (let i = 0; i < MAX_QUEUED_HANDSHAKES; i++) if (threads.submit({ init, responderIndex: i, form: 'seed' }, () => undefined)) accepted++;
      expect(accepted).to.equal(MAX_QUEUED_HANDSHAKES);
      expect(threads.submit({ init, responderIndex: 0, form: 'seed' }, () => undefined)).to.equal(false);
    } finally {
      await threads.close();
    }
  });

  it('a request the thread cannot answer ends as failed; the thread keeps working', async () => {
    const backend = loadSodiumBackend();
    const identity = new CommEncryptor({ backend });
    const threads = new HandshakeThreads({ threads: 1, backend: 'native', identity, onFailure: () => undefined });
    try {
      const bad: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: new Uint8Array(31), index: 1 };
      const first = await new Promise<ThreadOutcome>((resolve) => threads.submit({ init: bad, responderIndex: 1, form: 'seed' }, resolve));
      expect(first).to.equal('failed');
      const ephemeral = new CommEncryptor({ backend });
      const { init } = v2Connect(ephemeral);
      const second = await new Promise<ThreadOutcome>((resolve) => threads.submit({ init, responderIndex: 9, form: 'salted' }, resolve));
      expect(typeof second).to.equal('object');
      if (typeof second === 'string') return;
      const decrypted = docrypt.fdecrypt(second.reply);
      expect(decrypted.form).to.equal('salted');
      const parsed = parseHandshake(decrypted.plaintext, CMD_CONNECTED);
      const response = parsed.ok ? readResponse(parsed.message) : null;
      expect(response?.index).to.equal(9);
      const clientKeys = complete(init, ephemeral, response!);
      expect(clientKeys, 'the client verifies the thread\'s confirmation').to.not.equal(null);
      expect(Buffer.from(second.keys.send).equals(Buffer.from(clientKeys!.receive)), 'server send = client receive').to.equal(true);
      expect(Buffer.from(second.keys.receive).equals(Buffer.from(clientKeys!.send)), 'server receive = client send').to.equal(true);
      expect(threads.usable).to.equal(true);
    } finally {
      await threads.close();
    }
  });
});
