import { expect } from 'chai';
import type { Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { CMD_CONNECT, CMD_CONNECTED, CONNECT_MAX_AGE_SECONDS, FERNET_MAX_CLOCK_SKEW, MAX_HANDSHAKE_DATAGRAM, PROTOCOL_VERSION } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { deriveNetworkKeys } from '../../lib/crypto/network-key.js';
import { toBase64Url } from '../../lib/encoding.js';
import { connect, ConnectionRefusedError, HandshakeTimeoutError } from '../../lib/net/client.js';
import { BittrrtServer, createServer, type ServerOptions } from '../../lib/net/server.js';
import { encodeInitiation } from '../../lib/protocol/handshake-v2.js';
import { encodeHandshake, parseHandshake } from '../../lib/protocol/handshake.js';
import { closeSocket, eventually, nextDatagram, noReplyOnceProcessed, openLoopbackSocket, pollUntil, sendTo } from '../helpers/udp.js';

/** What the original's client sends: Python's json.dumps spacing, seed or salted form. */
function originalConnect(docrypt: DoCrypt, encryptor: CommEncryptor, form: 'seed' | 'salted' = 'seed'): Buffer {
  const json = `{"cmd": "connect", "pubkey": "${toBase64Url(encryptor.publicKey)}"}`;
  return Buffer.from(docrypt.fencrypt(json, { form }), 'ascii');
}

describe('seed handshake over loopback UDP', () => {
  let server: BittrrtServer;
  let port: number;
  let peer: Socket;
  const docrypt = new DoCrypt();

  beforeEach(async () => {
    server = createServer();
    port = (await server.listen(0, '127.0.0.1')).port;
    peer = await openLoopbackSocket();
  });
  afterEach(async () => {
    await closeSocket(peer);
    await server.close();
  });

  it('answers an original client and both sides derive the same key', async () => {
    const client = new CommEncryptor();
    await sendTo(peer, originalConnect(docrypt, client), port);
    const reply = await nextDatagram(peer, 10_000);
    expect(reply, 'a connected reply').to.not.equal(null);
    const decrypted = docrypt.fdecrypt(reply!.msg);
    expect(decrypted.form).to.equal('seed');
    const parsed = parseHandshake(decrypted.plaintext, CMD_CONNECTED);
    expect(parsed.ok).to.equal(true);
    if (!parsed.ok) return;
    expect(parsed.message.fields).to.not.have.property('v');
    client.deriveSharedSecret(parsed.message.pubkey);
    const [session] = [...server.sessions()];
    expect(session?.version).to.equal(1);
    const received = new Promise<Buffer>((resolve) => session!.once('message', (payload) => resolve(payload)));
    await sendTo(peer, client.encrypt(Buffer.from('over the channel')), port);
    expect((await received).toString()).to.equal('over the channel');
    session!.send(Buffer.from('and back'));
    const back = await nextDatagram(peer, 10_000);
    expect(client.decrypt(back!.msg).toString()).to.equal('and back');
    expect(server.counters.handshakes).to.equal(1);
  });

  it('answers a salted (later-version) client in the salted form', async () => {
    const client = new CommEncryptor();
    await sendTo(peer, originalConnect(docrypt, client, 'salted'), port);
    const reply = await nextDatagram(peer, 10_000);
    expect(reply).to.not.equal(null);
    expect(docrypt.fdecrypt(reply!.msg).form).to.equal('salted');
  });

  it('gives a retransmitted connect the same answer without a second key pair', async () => {
    const client = new CommEncryptor();
    const token = originalConnect(docrypt, client);
    await sendTo(peer, token, port);
    const first = await nextDatagram(peer, 10_000);
    await sendTo(peer, token, port);
    const second = await nextDatagram(peer, 10_000);
    expect(first).to.not.equal(null);
    expect(second).to.not.equal(null);
    expect(second!.msg.equals(first!.msg)).to.equal(true);
    expect(server.counters.handshakes).to.equal(1);
    expect(server.counters.retransmittedConnects).to.equal(1);
    expect(server.sessionCount).to.equal(1);
  });

  /** A version-1 handshake from `peer`: the client's key now holds the channel key. */
  async function seedHandshake(client: CommEncryptor): Promise<void> {
    await sendTo(peer, originalConnect(docrypt, client), port);
    const reply = await nextDatagram(peer, 10_000);
    const parsed = parseHandshake(docrypt.fdecrypt(reply!.msg).plaintext, CMD_CONNECTED);
    if (!parsed.ok) throw new Error('not a connected answer');
    client.deriveSharedSecret(parsed.message.pubkey);
  }

  it("a forged connect from a version-1 session's address does not end it; a new key takes over only once it sends data", async () => {
    const client = new CommEncryptor();
    await seedHandshake(client);
    const [working] = [...server.sessions()];
    const messages: string[] = [];
    working!.on('message', (payload) => messages.push(payload.toString()));

    // An off-path spoofer: a connect of its own key, with the client's source address and port.
    const victim = { address: '127.0.0.1', port: peer.address().port };
    server.receive(originalConnect(docrypt, new CommEncryptor()), victim);
    expect(await nextDatagram(peer, 10_000), 'the forged connect is answered, to the client').to.not.equal(null);
    expect(server.sessionCount, 'the forged session waits beside the working one').to.equal(2);
    await sendTo(peer, client.encrypt(Buffer.from('still mine')), port);
    expect(await eventually(() => messages.length === 1, 5000)).to.equal(true);
    expect(messages).to.deep.equal(['still mine']);
    expect(working!.closed).to.equal(false);

    // The client itself reconnects from the same port with a new key: its first datagram proves it.
    const reconnected = new CommEncryptor();
    await seedHandshake(reconnected);
    const newcomer = [...server.sessions()].find((s) => s !== working);
    const arrived = new Promise<Buffer>((resolve) => newcomer!.once('message', resolve));
    await sendTo(peer, client.encrypt(Buffer.from('old key, still working')), port);
    expect(await eventually(() => messages.length === 2, 5000)).to.equal(true);
    await sendTo(peer, reconnected.encrypt(Buffer.from('new key')), port);
    expect((await arrived).toString()).to.equal('new key');
    expect(working!.closed, 'replaced once the new session authenticated a datagram').to.equal(true);
    expect(server.sessionCount, 'the forged candidate was displaced by the newer one').to.equal(1);
    expect(server.counters.dropsOf('unknown-session')).to.equal(0);
  });

  it('in a full table, a version-1 session that displaces its source\'s candidate takes its slot, not another session\'s', async () => {
    await server.close();
    server = createServer({ maxSessions: 3 });
    port = (await server.listen(0, '127.0.0.1')).port;
    const client = new CommEncryptor();
    await seedHandshake(client);
    const [working] = [...server.sessions()];
    const other = await openLoopbackSocket();
    try {
      await sendTo(other, originalConnect(docrypt, new CommEncryptor()), port);
      expect(await nextDatagram(other, 10_000), 'another source, silent since').to.not.equal(null);
    } finally {
      await closeSocket(other);
    }
    const bystander = [...server.sessions()].find((s) => s !== working)!;
    const victim = { address: '127.0.0.1', port: peer.address().port };
    server.receive(originalConnect(docrypt, new CommEncryptor()), victim);
    const candidate = [...server.sessions()].find((s) => s !== working && s !== bystander)!;
    expect(server.sessionCount, 'the table is full').to.equal(3);
    server.receive(originalConnect(docrypt, new CommEncryptor()), victim);
    expect(server.sessionCount).to.equal(3);
    expect(candidate.closed, 'the displaced candidate made the room').to.equal(true);
    expect(bystander.closed, 'the oldest silent session was not evicted').to.equal(false);
    expect(working!.closed).to.equal(false);
  });

  it('the library client completes a handshake with the server', async () => {
    const session = await connect({ host: '127.0.0.1', port });
    try {
      expect(session.version).to.equal(2);
      const [serverSide] = [...server.sessions()];
      const received = new Promise<Buffer>((resolve) => session.once('message', (payload) => resolve(payload)));
      serverSide!.send(Buffer.from('hello client'));
      expect((await received).toString()).to.equal('hello client');
    } finally {
      session.close();
    }
  });

  describe('hostile datagrams are dropped without a reply', () => {
    const otherKey = new DoCrypt({ key: Buffer.alloc(32, 7) });
    const pubkey = toBase64Url(new CommEncryptor().publicKey);
    const cases: Array<[string, () => Buffer, string]> = [
      ['non-UTF-8 bytes', () => Buffer.from([0xff, 0xfe, 0x80, 0x00, 0xc3]), 'unknown-session'],
      ['non-UTF-8 bytes after a token-like first byte', () => Buffer.from([0x67, 0xfe, 0x80, 0x00]), 'bad-token'],
      ['bad base64', () => Buffer.from('gAAAAA!!not base64!!'), 'bad-token'],
      ['a token made with another Fernet key', () => Buffer.from(otherKey.fencrypt(encodeHandshake(CMD_CONNECT, Buffer.alloc(32, 9)))), 'bad-token'],
      ['a token with a flipped MAC byte', () => {
        const raw = Buffer.from(docrypt.fencrypt(encodeHandshake(CMD_CONNECT, Buffer.alloc(32, 9))), 'base64url');
        raw[raw.length - 1]! ^= 1;
        return Buffer.from(toBase64Url(raw));
      }, 'bad-token'],
      ['encrypted non-UTF-8', () => Buffer.from(docrypt.fencrypt(Buffer.from([0x7b, 0xff, 0xfe]))), 'bad-utf8'],
      ['encrypted non-JSON', () => Buffer.from(docrypt.fencrypt('{not json')), 'bad-json'],
      ['JSON without cmd', () => Buffer.from(docrypt.fencrypt(`{"pubkey": "${pubkey}"}`)), 'bad-cmd'],
      ['JSON with a wrong cmd', () => Buffer.from(docrypt.fencrypt(`{"cmd": "connected", "pubkey": "${pubkey}"}`)), 'bad-cmd'],
      ['a pubkey that is not base64', () => Buffer.from(docrypt.fencrypt('{"cmd": "connect", "pubkey": "***"}')), 'bad-pubkey'],
      ['a pubkey of 31 bytes', () => Buffer.from(docrypt.fencrypt(encodeHandshake(CMD_CONNECT, Buffer.alloc(31, 9)))), 'bad-pubkey'],
      ['a low-order pubkey', () => Buffer.from(docrypt.fencrypt(encodeHandshake(CMD_CONNECT, Buffer.alloc(32, 0)))), 'low-order'],
      ['an oversized token-like datagram', () => Buffer.alloc(MAX_HANDSHAKE_DATAGRAM + 1, 0x67), 'oversized'],
      ['a data packet for no session', () => Buffer.alloc(100, 0x11), 'unknown-session'],
    ];
    for (const [name, make, reason] of cases) {
      it(name, async () => {
        await sendTo(peer, make(), port);
        expect(await noReplyOnceProcessed(peer, () => server.counters.packetsIn === 1), 'no reply').to.equal(true);
        expect(server.counters.drops.get(reason as never)).to.equal(1);
        expect(server.counters.packetsOut).to.equal(0);
        expect(server.sessionCount).to.equal(0);
      });
    }
  });

  it('survives a burst of 10,000 junk datagrams and still completes a handshake', async () => {
    const junk = [Buffer.alloc(0), Buffer.from('gAAAAABjunk'), Buffer.alloc(1400, 0xaa), Buffer.from(docrypt.fencrypt('[]'))];
    const replies: Buffer[] = [];
    peer.on('message', (msg) => replies.push(msg));
    for (let i = 0; i < 10_000; i++) {
      await sendTo(peer, junk[i % junk.length]!, port);
      // Sender and server share this thread: let the server drain its socket now and then (pacing, not a check).
      if (i % 100 === 99) await pollUntil(() => server.counters.packetsIn >= i - 100, 500);
    }
    // Loopback may drop some under load. A last datagram of a kind the burst does not contain marks its
    // end: once the server has dropped it, it has handled everything before it that arrived (one socket, in order).
    const marker = Buffer.alloc(MAX_HANDSHAKE_DATAGRAM + 1, 0x67);
    for (let tries = 0; server.counters.dropsOf('oversized') === 0; tries++) {
      expect(tries, 'the end marker reached the server').to.be.below(100);
      await sendTo(peer, marker, port);
      await pollUntil(() => server.counters.dropsOf('oversized') > 0, 200);
    }
    // Whatever arrived was dropped, none of it answered.
    expect(server.counters.packetsIn, 'a real burst reached the server').to.be.above(1_000);
    expect(server.counters.dropped).to.equal(server.counters.packetsIn);
    expect(server.counters.packetsOut).to.equal(0);
    expect(replies).to.deep.equal([]);
    const session = await connect({ host: '127.0.0.1', port });
    session.close();
    expect(server.counters.handshakes).to.equal(1);
  });
});

describe('client against an original-protocol server', () => {
  it('accepts a Python-style salted connected reply and derives the same key', async () => {
    const fake = await openLoopbackSocket();
    const docrypt = new DoCrypt();
    const serverSide = new CommEncryptor();
    fake.on('message', (msg, rinfo) => {
      const { plaintext } = docrypt.fdecrypt(msg);
      const parsed = parseHandshake(plaintext, CMD_CONNECT);
      if (!parsed.ok) return;
      serverSide.deriveSharedSecret(parsed.message.pubkey);
      // The original's reply: json.dumps spacing, an extra field it would ignore, later-version salt.
      const json = `{"cmd": "connected", "pubkey": "${toBase64Url(serverSide.publicKey)}", "note": "x"}`;
      fake.send(docrypt.fencrypt(json, { form: 'salted' }), rinfo.port, rinfo.address);
    });
    try {
      const session = await connect({ host: '127.0.0.1', port: fake.address().port, allowSeed: true });
      expect(session.version).to.equal(1);
      fake.removeAllListeners('message');
      const arrived = nextDatagram(fake, 10_000);
      session.send(Buffer.from('ping'));
      expect(serverSide.decrypt((await arrived)!.msg).toString()).to.equal('ping');
      session.close();
    } finally {
      await closeSocket(fake);
    }
  });

  it('ignores answers from an address it did not contact, then times out', async () => {
    const silent = await openLoopbackSocket();
    const intruder = await openLoopbackSocket();
    const docrypt = new DoCrypt();
    const attacker = new CommEncryptor();
    silent.on('message', (_msg, rinfo) => {
      // Someone else answers the client's port with a well-formed reply.
      intruder.send(docrypt.fencrypt(encodeHandshake(CMD_CONNECTED, attacker.publicKey)), rinfo.port, rinfo.address);
    });
    try {
      const err = await connect({ host: '127.0.0.1', port: silent.address().port, attempts: 5, delayMs: 20 })
        .then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(HandshakeTimeoutError);
      expect((err as HandshakeTimeoutError).attempts).to.equal(5);
    } finally {
      await closeSocket(silent);
      await closeSocket(intruder);
    }
  });

  it('fails with ConnectionRefusedError on the host\'s port-unreachable, before its attempts run out', async () => {
    const closed = await openLoopbackSocket();
    const { port } = closed.address();
    await closeSocket(closed);
    // Many attempts a long way apart: only the refusal can end this before the test's timeout.
    const err = await connect({ host: '127.0.0.1', port, attempts: 1000, delayMs: 1000 }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(ConnectionRefusedError);
    expect(err).to.have.property('code', 'ERR_CONNECTION_REFUSED');
    expect((err as ConnectionRefusedError).address).to.equal(`127.0.0.1:${port}`);
    expect((err as ConnectionRefusedError).attempt).to.be.below(1000);
  });
});

describe('captured connects under a network key', () => {
  const networkKey = randomBytes(32);
  const keyed = new DoCrypt({ key: deriveNetworkKeys(networkKey).fernetKey });
  let server: BittrrtServer;
  let port: number;
  let peer: Socket;

  /** A padded version-2 `connect` under the network key, stamped `ageSeconds` ago (negative: ahead). */
  function keyedConnect(ageSeconds = 0): Buffer {
    const init = { version: PROTOCOL_VERSION, ephemeralPublic: new CommEncryptor().publicKey, index: 9 };
    return Buffer.from(keyed.fencrypt(encodeInitiation(init), { now: Math.floor(Date.now() / 1000) - ageSeconds }), 'ascii');
  }
  async function start(options: ServerOptions = {}): Promise<void> {
    server = createServer({ networkKey, handshakeThreads: 0, ...options });
    port = (await server.listen(0, '127.0.0.1')).port;
  }
  beforeEach(async () => {
    peer = await openLoopbackSocket();
  });
  afterEach(async () => {
    await closeSocket(peer);
    await server.close();
  });

  it('refuses a connect older than the accepted age, or too far ahead, without an answer; ordinary clock skew passes', async () => {
    await start();
    await sendTo(peer, keyedConnect(CONNECT_MAX_AGE_SECONDS + 600), port);
    await sendTo(peer, keyedConnect(-(FERNET_MAX_CLOCK_SKEW + 600)), port);
    expect(await eventually(() => server.counters.dropsOf('stale-connect') === 2, 5000)).to.equal(true);
    expect(server.counters.packetsOut, 'no answer').to.equal(0);
    expect(server.counters.handshakes).to.equal(0);

    // A client clock 50 s behind, or 50 s ahead, is answered.
    await sendTo(peer, keyedConnect(50), port);
    expect(await nextDatagram(peer, 10_000), 'a lagging clock is answered').to.not.equal(null);
    await sendTo(peer, keyedConnect(-50), port);
    expect(await nextDatagram(peer, 10_000), 'a leading clock is answered').to.not.equal(null);
    expect(server.counters.handshakes).to.equal(2);
  });

  it('refuses a replay within the accepted age once its answer is forgotten: no second X25519', async () => {
    // Short timings, so the half-open session (and with it the remembered answer) goes quickly.
    await start({ timings: { heartbeatRate: 50, staleHeartbeats: 2 } });
    const captured = keyedConnect();
    await sendTo(peer, captured, port);
    expect(await nextDatagram(peer, 10_000), 'the original is answered').to.not.equal(null);
    expect(await eventually(() => server.sessionCount === 0, 5000), 'the half-open session timed out').to.equal(true);

    const replayer = await openLoopbackSocket();
    try {
      await sendTo(peer, captured, port);
      await sendTo(replayer, captured, port);
      expect(await eventually(() => server.counters.dropsOf('replay') === 2, 5000)).to.equal(true);
    } finally {
      await closeSocket(replayer);
    }
    expect(server.counters.handshakes, 'one X25519 exchange, for the original').to.equal(1);
    expect(server.counters.packetsOut, 'one answer').to.equal(1);
  });

  it('reads connects only under the derived Fernet key: a token under the raw network key is refused', async () => {
    await start();
    const init = { version: PROTOCOL_VERSION, ephemeralPublic: new CommEncryptor().publicKey, index: 9 };
    await sendTo(peer, new DoCrypt({ key: networkKey }).fencrypt(encodeInitiation(init)), port);
    expect(await eventually(() => server.counters.dropsOf('bad-token') === 1, 5000)).to.equal(true);
    expect(server.counters.packetsOut).to.equal(0);
  });

  it('without a network key, an old connect (an original peer with a wrong clock) is still answered', async () => {
    server = createServer({ handshakeThreads: 0 });
    port = (await server.listen(0, '127.0.0.1')).port;
    const json = `{"cmd": "connect", "pubkey": "${toBase64Url(new CommEncryptor().publicKey)}"}`;
    await sendTo(peer, new DoCrypt().fencrypt(json, { now: Math.floor(Date.now() / 1000) - 86_400 }), port);
    expect(await nextDatagram(peer, 10_000)).to.not.equal(null);
  });
});
