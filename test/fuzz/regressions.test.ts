import { expect } from 'chai';
import type { Socket } from 'node:dgram';
import { CMD_CONNECT, CMD_CONNECTED } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { createServer, type BittrrtServer } from '../../lib/net/server.js';
import type { Session } from '../../lib/net/session.js';
import { encodeHandshake, parseHandshake } from '../../lib/protocol/handshake.js';
import { encodeInitiation } from '../../lib/protocol/handshake-v2.js';
import { closeSocket, eventually, nextDatagram, openLoopbackSocket, PATIENCE, sendTo } from '../helpers/udp.js';

/**
 * Bugs the fuzz targets (or the writing of their oracles) found, each as its smallest
 * reproduction. All are fixed in lib/ (the responder evicts only after a handshake checks out; the
 * server forgets a seed source only while it still maps to the closing session); these tests guard
 * against their return. The fuzz targets treat such behaviour as a plain failure.
 */

/** p - 1 (u = -1 on Curve25519), the small-order key of the fuzzer's first counterexample. */
const SMALL_ORDER_KEY = Buffer.from('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex');
const FROM = { address: '127.0.0.1', port: 9 };

describe('fuzz regressions', function () {
  this.timeout(10_000 * PATIENCE);
  const docrypt = new DoCrypt();

  describe('a connect refused as low-order does not evict a session when the table is full (server-receive-crowded)', () => {
    let server: BittrrtServer;
    let peer: Socket;
    /** The one session of the full table: a version-1 session that has sent nothing since, so the table would evict it for a newcomer. */
    let victim: Session;
    beforeEach(async () => {
      server = createServer({ maxSessions: 1, handshakeThreads: 0 });
      const { port } = await server.listen(0, '127.0.0.1');
      peer = await openLoopbackSocket();
      const reply = nextDatagram(peer, 10_000);
      await sendTo(peer, docrypt.fencrypt(encodeHandshake(CMD_CONNECT, new CommEncryptor().publicKey)), port);
      expect(await reply, 'connected').to.not.equal(null);
      expect(server.sessionCount).to.equal(1);
      victim = [...server.sessions()][0]!;
    });
    afterEach(async () => {
      await closeSocket(peer);
      await server.close();
    });

    function expectUntouched(token: Buffer): void {
      const out = server.counters.packetsOut;
      server.receive(token, FROM);
      // The table is full but has a session to give up: the connect gets as far as its X25519, which refuses it.
      expect(server.counters.dropsOf('low-order'), 'refused as low-order, after the room check').to.equal(1);
      expect(server.counters.dropped).to.equal(1);
      expect(victim.closed, 'the session a newcomer would displace was evicted').to.equal(false);
      expect(server.sessionCount).to.equal(1);
      expect(server.counters.packetsOut - out, 'datagrams sent for a refused connect').to.equal(0);
    }

    it('version-1 connect whose pubkey is of small order (minimal fuzz counterexample)', () => {
      // {"cmd": "connect", "pubkey": "7P___________________________________________38="}
      expectUntouched(Buffer.from(docrypt.fencrypt(encodeHandshake(CMD_CONNECT, SMALL_ORDER_KEY)), 'ascii'));
    });

    it('version-2 connect with a valid ephemeral key but a small-order client identity (cid)', () => {
      const json = encodeInitiation({ version: 2, ephemeralPublic: new CommEncryptor().publicKey, index: 1, clientStatic: SMALL_ORDER_KEY });
      expectUntouched(Buffer.from(docrypt.fencrypt(json), 'ascii'));
    });

    it('positive control: a good connect in the same full table does evict that session', () => {
      server.receive(Buffer.from(docrypt.fencrypt(encodeHandshake(CMD_CONNECT, new CommEncryptor().publicKey)), 'ascii'), FROM);
      expect(victim.closed).to.equal(true);
      expect(server.sessionCount).to.equal(1);
    });
  });

  describe('a version-1 session stays reachable when an older session from the same address closes (found writing the oracle)', () => {
    let server: BittrrtServer;
    let port: number;
    let peer: Socket;
    beforeEach(async () => {
      server = createServer();
      port = (await server.listen(0, '127.0.0.1')).port;
      peer = await openLoopbackSocket();
    });
    afterEach(async () => {
      await closeSocket(peer);
      await server.close();
    });

    /** An original-protocol handshake from `peer`; returns the client's channel and the server's session. */
    async function seedHandshake(): Promise<{ channel: CommEncryptor; session: Session }> {
      const before = new Set(server.sessions());
      const channel = new CommEncryptor();
      const reply = nextDatagram(peer, 10_000);
      await sendTo(peer, docrypt.fencrypt(encodeHandshake(CMD_CONNECT, channel.publicKey)), port);
      const got = await reply;
      expect(got, 'connected').to.not.equal(null);
      const parsed = parseHandshake(docrypt.fdecrypt(got!.msg).plaintext, CMD_CONNECTED);
      if (!parsed.ok) throw new Error('bad connected');
      channel.deriveSharedSecret(parsed.message.pubkey);
      const session = [...server.sessions()].find((s) => !before.has(s));
      expect(session, 'new server session').to.not.equal(undefined);
      return { channel, session: session! };
    }

    it('a client that reconnects from the same port keeps receiving after its old session times out', async () => {
      const first = await seedHandshake();
      const second = await seedHandshake(); // the client restarted with the same source port
      first.session.close(); // the old session goes, as a timeout or eviction would end it
      const received = new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 500);
        second.session.once('message', (payload) => {
          clearTimeout(timer);
          resolve(payload);
        });
      });
      await sendTo(peer, second.channel.encrypt(Buffer.from('still here')), port);
      expect((await received)?.toString(), 'message on the live session').to.equal('still here');
      expect(server.counters.dropsOf('unknown-session')).to.equal(0);
    });
  });
});
