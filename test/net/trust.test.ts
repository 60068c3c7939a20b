import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Socket } from 'node:dgram';
import { CMD_CONNECT, CMD_CONNECTED, TOKEN_FIRST_BYTE } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { InvalidInputError } from '../../lib/errors.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { encodeHandshake, parseHandshake } from '../../lib/protocol/handshake.js';
import { toBase64Url } from '../../lib/encoding.js';
import { connect, HandshakeTimeoutError, type ConnectOptions } from '../../lib/net/client.js';
import { BittrrtServer, createServer, type ServerOptions } from '../../lib/net/server.js';
import type { Session } from '../../lib/net/session.js';
import { HostKeyMismatchError, KnownHosts, trustOnFirstUse } from '../../lib/trust/known-hosts.js';
import { DowngradeProxy } from '../helpers/mitm.js';
import { closeSocket, eventually, openLoopbackSocket, PATIENCE } from '../helpers/udp.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * A peer that speaks only the original protocol, as the Python bittrrt does: it answers `connect`
 * with the seed's `connected` and echoes every message back on the one version-1 key.
 */
async function originalPeer(): Promise<{ socket: Socket; port: number }> {
  const socket = await openLoopbackSocket();
  const docrypt = new DoCrypt();
  const keys = new CommEncryptor();
  socket.on('message', (msg, rinfo) => {
    try {
      // A version-1 nonce may begin with a token's first byte too: whatever is not a token is data.
      const parsed = msg[0] === TOKEN_FIRST_BYTE ? parseHandshake(docrypt.fdecrypt(msg).plaintext, CMD_CONNECT) : null;
      if (parsed?.ok) {
        keys.deriveSharedSecret(parsed.message.pubkey);
        socket.send(docrypt.fencrypt(encodeHandshake(CMD_CONNECTED, keys.publicKey)), rinfo.port, rinfo.address);
        return;
      }
    } catch {
      // not a token
    }
    try {
      socket.send(keys.encrypt(keys.decrypt(msg)), rinfo.port, rinfo.address);
    } catch {
      // neither a token nor data under our key
    }
  });
  return { socket, port: socket.address().port };
}

/**
 * For a handshake the server never answers: the outcome (no answer) does not depend on how long
 * the client waits, so it may give up quickly. Counts the server keeps are awaited, not assumed.
 */
const QUICK: Partial<ConnectOptions> = { attempts: 8, delayMs: 25 };
/**
 * For a handshake the server answers and the client then refuses: the reason reaches the error
 * only if an answer arrives before the client gives up, so the client waits generously (the
 * server's handshake threads may still be starting on a loaded machine). A refusal the client
 * decides at once (a changed host key) ends as soon as the answer arrives.
 */
const ANSWERED: Partial<ConnectOptions> = { attempts: 100, delayMs: 100 };

describe('authenticated handshakes', function () {
  this.timeout(30_000 * PATIENCE);
  const servers: BittrrtServer[] = [];
  const sessions: Session[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  async function serve(options: ServerOptions = {}): Promise<{ server: BittrrtServer; port: number }> {
    const server = createServer(options);
    servers.push(server);
    return { server, port: (await server.listen(0, '127.0.0.1')).port };
  }
  async function open(options: ConnectOptions): Promise<Session> {
    const session = await connect({ host: '127.0.0.1', ...options });
    sessions.push(session);
    return session;
  }
  /** A handshake expected to fail; `budget` says whether the server answers first (see above). */
  async function failure(options: ConnectOptions, budget: Partial<ConnectOptions> = QUICK): Promise<Error> {
    return connect({ host: '127.0.0.1', ...budget, ...options }).then(
      (s) => { s.close(); throw new Error('the handshake was expected to fail'); },
      (err: Error) => err,
    );
  }
  /** Sends `text` and resolves with what the server-side session received. */
  async function roundTrip(server: BittrrtServer, session: Session, text: string): Promise<string> {
    const peer = await new Promise<Session>((resolve) => {
      const existing = [...server.sessions()].find((s) => s.confirmed || s.version === 1);
      if (existing) resolve(existing); else server.once('session', resolve);
    });
    const got = new Promise<string>((resolve) => peer.once('message', (p) => resolve(p.toString())));
    session.send(Buffer.from(text));
    return got;
  }

  afterEach(async () => {
    for (const s of sessions.splice(0)) s.close();
    for (const server of servers.splice(0)) await server.close();
    for (const c of cleanups.splice(0)) await c();
  });

  describe('network key', () => {
    it('a client with the key completes the handshake and exchanges data', async () => {
      const key = randomBytes(32);
      const { server, port } = await serve({ networkKey: key });
      const session = await open({ port, networkKey: key });
      expect(session.version).to.equal(2);
      expect(await roundTrip(server, session, 'keyed')).to.equal('keyed');
    });

    it('a client without the key, or with another, gets no answer at all', async () => {
      const { server, port } = await serve({ networkKey: randomBytes(32) });
      expect(await failure({ port })).to.be.instanceOf(HandshakeTimeoutError);
      expect(await failure({ port, networkKey: randomBytes(32) })).to.be.instanceOf(HandshakeTimeoutError);
      // The client sends exactly its attempts however long they take; each reaches the server and is dropped.
      expect(await eventually(() => server.counters.dropsOf('bad-token') === 2 * QUICK.attempts!, 5_000), 'every connect dropped').to.equal(true);
      expect(server.counters.packetsOut).to.equal(0);
    });

    it('a client that speaks only the original is refused', async () => {
      const key = randomBytes(32);
      const { server, port } = await serve({ networkKey: key });
      await failure({ port, networkKey: key, protocolVersion: 1 });
      expect(await eventually(() => server.counters.dropsOf('seed-refused') === QUICK.attempts, 5_000), 'every connect refused').to.equal(true);
      expect(server.counters.packetsOut).to.equal(0);
    });
  });

  describe('server identity', () => {
    it('a client pinning the right key connects', async () => {
      const identity = new CommEncryptor();
      const { port } = await serve({ identity });
      const session = await open({ port, serverKey: identity.publicKey });
      expect(session.version).to.equal(2);
    });

    it('a client pinning another key refuses the server', async () => {
      const { port } = await serve();
      const err = await failure({ port, serverKey: new CommEncryptor().publicKey }, ANSWERED);
      expect(err).to.be.instanceOf(HandshakeTimeoutError);
      expect(err.message).to.include('does not match the pinned key');
    });

    it('trust on first use: records the key, accepts it again, refuses a changed one naming file and line', async () => {
      const dir = tempDir('kh');
      const knownHosts = new KnownHosts(join(dir, 'known_hosts'));
      const identity = new CommEncryptor();
      const first = await serve({ identity });
      const recorded: string[] = [];
      const onNewHost = (host: string): void => { recorded.push(host); };
      (await open({ port: first.port, verifyServer: trustOnFirstUse(knownHosts, onNewHost) })).close();
      expect(recorded).to.deep.equal([`127.0.0.1:${first.port}`]);
      expect(knownHosts.check(`127.0.0.1:${first.port}`, identity.publicKey)).to.deep.equal({ status: 'known' });
      (await open({ port: first.port, verifyServer: trustOnFirstUse(knownHosts, onNewHost) })).close();
      expect(recorded, 'no second notice for a known host').to.have.length(1);

      // Same address, another identity: a man in the middle, or a reinstalled server.
      const port = first.port;
      await first.server.close();
      servers.splice(servers.indexOf(first.server), 1);
      const impostor = createServer();
      servers.push(impostor);
      await impostor.listen(port, '127.0.0.1');
      const err = await failure({ port, verifyServer: trustOnFirstUse(knownHosts) }, ANSWERED);
      expect(err).to.be.instanceOf(HostKeyMismatchError);
      expect(err.message).to.include(`${knownHosts.path}:1`).and.include('delete line 1');
    });

    it('a verifyServer function sees the proven key and decides: accept, ignore (with a reason) or fail', async () => {
      const identity = new CommEncryptor();
      const { port } = await serve({ identity });
      const seen: string[] = [];
      const session = await open({ port, verifyServer: (host, key) => {
        seen.push(`${host} ${toBase64Url(key)}`);
        return { kind: 'accept' };
      } });
      session.close();
      expect(seen).to.deep.equal([`127.0.0.1:${port} ${toBase64Url(identity.publicKey)}`]);
      const ignored = await failure({ port, verifyServer: () => ({ kind: 'ignore', reason: 'not on my list' }) }, ANSWERED);
      expect(ignored).to.be.instanceOf(HandshakeTimeoutError).with.property('rejected', 'not on my list');
      const refusal = new InvalidInputError('no thanks');
      expect(await failure({ port, verifyServer: () => ({ kind: 'fail', error: refusal }) }, ANSWERED)).to.equal(refusal);
    });

    it('a client that knows the host never accepts the original protocol from it', async () => {
      const dir = tempDir('kh');
      const knownHosts = new KnownHosts(join(dir, 'known_hosts'));
      const { port } = await serve();
      (await open({ port, verifyServer: trustOnFirstUse(knownHosts) })).close();
      const proxy = await DowngradeProxy.start(port);
      cleanups.push(() => proxy.close());
      knownHosts.record(`127.0.0.1:${proxy.port}`, new CommEncryptor().publicKey);
      const err = await failure({ port: proxy.port, verifyServer: trustOnFirstUse(knownHosts), allowSeed: true }, ANSWERED);
      expect(err.message, 'not even when opted in').to.include('original, unauthenticated protocol');
    });
  });

  describe('authorized clients', () => {
    it('admits a listed client and refuses an unlisted one or one without an identity', async () => {
      const alice = new CommEncryptor();
      const mallory = new CommEncryptor();
      const { server, port } = await serve({ authorizedKeys: new Set([toBase64Url(alice.publicKey)]) });
      const session = await open({ port, identity: alice });
      expect(await roundTrip(server, session, 'from alice')).to.equal('from alice');
      await failure({ port, identity: mallory });
      await failure({ port, allowSeed: false });
      expect(await eventually(() => server.counters.dropsOf('unauthorized') === 2 * QUICK.attempts!, 5_000), 'every connect refused').to.equal(true);
    });

    it('a listed public key without its secret never gets a confirmed session', async () => {
      const alice = new CommEncryptor();
      const { server, port } = await serve({ authorizedKeys: new Set([toBase64Url(alice.publicKey)]) });
      let announced = 0;
      server.on('session', () => announced++);
      // Mallory claims Alice's public key but holds another secret: her keys cannot match.
      const pretender = Object.assign(new CommEncryptor(), {});
      Object.defineProperty(pretender, 'publicKey', { value: alice.publicKey });
      const err = await failure({ port, identity: pretender }, ANSWERED);
      expect(err.message).to.include('could not prove its identity');
      expect(await eventually(() => server.sessionCount === 1, 5_000)).to.equal(true);
      expect(announced).to.equal(0);
    });
  });

  describe('downgrade and man in the middle', () => {
    it('is refused by a default client: no version-1 session, nothing read, nothing recorded, and the error says how to opt in', async () => {
      const dir = tempDir('kh');
      const knownHosts = new KnownHosts(join(dir, 'known_hosts'));
      const { port } = await serve();
      const proxy = await DowngradeProxy.start(port);
      cleanups.push(() => proxy.close());
      for (const options of [{}, { verifyServer: trustOnFirstUse(knownHosts) }]) {
        const err = await failure({ port: proxy.port, ...options}, ANSWERED);
        expect(err).to.be.instanceOf(HandshakeTimeoutError);
        expect((err as HandshakeTimeoutError).seedRefusedByDefault).to.equal(true);
        expect(err.message).to.include('original, unauthenticated protocol').and.include('allowSeed: true');
      }
      expect(proxy.rewritten, 'the attacker did strip version 2').to.be.above(0);
      expect(proxy.stolen).to.deep.equal([]);
      expect(knownHosts.find(`127.0.0.1:${proxy.port}`)).to.equal(undefined);
    });

    it('an opted-in client (allowSeed) still talks to an original peer, and then the attacker reads the traffic (the risk the README states)', async () => {
      const peer = await originalPeer();
      cleanups.push(() => closeSocket(peer.socket));
      const direct = await open({ port: peer.port, allowSeed: true });
      expect(direct.version).to.equal(1);
      const echoed = new Promise<string>((resolve) => direct.once('message', (p) => resolve(p.toString())));
      direct.send(Buffer.from('hello, original'));
      expect(await echoed).to.equal('hello, original');

      const { server, port } = await serve();
      const proxy = await DowngradeProxy.start(port);
      cleanups.push(() => proxy.close());
      const session = await open({ port: proxy.port, allowSeed: true });
      expect(session.version, 'downgraded to the original protocol').to.equal(1);
      expect(await roundTrip(server, session, 'attack at dawn')).to.equal('attack at dawn');
      expect(proxy.rewritten).to.be.above(0);
      expect(proxy.stolen).to.include('attack at dawn');
    });

    it('fails against a pinned server key', async () => {
      const identity = new CommEncryptor();
      const { port } = await serve({ identity });
      const proxy = await DowngradeProxy.start(port);
      cleanups.push(() => proxy.close());
      for (const allowSeed of [false, true]) {
        const err = await failure({ port: proxy.port, serverKey: identity.publicKey, allowSeed }, ANSWERED);
        expect(err.message).to.include('original, unauthenticated protocol');
        expect((err as HandshakeTimeoutError).seedRefusedByDefault, 'an opt-in does not lift a pin').to.equal(false);
      }
      expect(proxy.stolen).to.deep.equal([]);
    });

    it('fails against a network key: the attacker cannot even read the handshake', async () => {
      const key = randomBytes(32);
      const { server, port } = await serve({ networkKey: key });
      const proxy = await DowngradeProxy.start(port);
      cleanups.push(() => proxy.close());
      const session = await open({ port: proxy.port, networkKey: key });
      expect(session.version).to.equal(2);
      expect(await roundTrip(server, session, 'still private')).to.equal('still private');
      expect(proxy.rewritten).to.equal(0);
      expect(proxy.stolen).to.deep.equal([]);
    });

    it('fails against an authorized-clients server: the downgraded handshake is refused', async () => {
      const alice = new CommEncryptor();
      const { server, port } = await serve({ authorizedKeys: new Set([toBase64Url(alice.publicKey)]) });
      const proxy = await DowngradeProxy.start(port);
      cleanups.push(() => proxy.close());
      await failure({ port: proxy.port, identity: alice });
      expect(await eventually(() => server.counters.dropsOf('seed-refused') > 0, 5_000), 'the stripped connect is refused').to.equal(true);
      expect(server.sessionCount).to.equal(0);
      expect(proxy.stolen).to.deep.equal([]);
    });

    it('a stolen server identity passes a pin (the risk) but not without the network key', async () => {
      const stolen = new CommEncryptor();
      const key = randomBytes(32);
      const thief = await serve({ identity: stolen });
      const session = await open({ port: thief.port, serverKey: stolen.publicKey });
      expect(session.version, 'the thief passes for the server').to.equal(2);
      const keyedThief = await serve({ identity: stolen });
      const err = await failure({ port: keyedThief.port, serverKey: stolen.publicKey, networkKey: key });
      expect(err, 'without the network key the stolen identity is not enough').to.be.instanceOf(HandshakeTimeoutError);
    });

    it('an impostor server with its own identity is refused by a pinning client', async () => {
      const real = new CommEncryptor();
      await serve({ identity: real });
      const impostor = await serve(); // relays nothing: it only needs to answer handshakes
      const err = await failure({ port: impostor.port, serverKey: real.publicKey }, ANSWERED);
      expect(err.message).to.include('does not match the pinned key');
      expect(impostor.server.counters.handshakes, 'the impostor answered: the client refused what it said').to.be.above(0);
      expect([...impostor.server.sessions()].some((s) => s.confirmed), 'no session with the impostor was confirmed').to.equal(false);
    });
  });
});
