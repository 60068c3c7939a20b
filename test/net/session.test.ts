import { expect } from 'chai';
import { TOKEN_FIRST_BYTE } from '../../lib/constants.js';
import { connect } from '../../lib/net/client.js';
import { BittrrtServer, createServer } from '../../lib/net/server.js';
import type { CloseReason, PeerAddress, Session } from '../../lib/net/session.js';
import type { SessionTimings } from '../../lib/net/timings.js';
import { Relay } from '../helpers/relay.js';
import { closeSocket, eventually, openLoopbackSocket, PATIENCE } from '../helpers/udp.js';

/**
 * Heartbeats every 100 ms, so what depends on them happens quickly; a session goes stale only after
 * 5 s of silence, so a loaded machine (timers late by hundreds of milliseconds) does not end one
 * by accident. The tests of the stale limit itself set their own.
 */
const FAST: Partial<SessionTimings> = { heartbeatRate: 100, staleHeartbeats: 50 };
/** A short stale limit, for the tests that wait for it: 5 heartbeats of 100 ms. */
const STALE_SOON: Partial<SessionTimings> = { heartbeatRate: 100, staleHeartbeats: 5 };

function nextMessage(session: Session, ms = 2000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      session.off('message', onMessage);
      resolve(null);
    }, ms);
    const onMessage = (payload: Buffer): void => {
      clearTimeout(timer);
      resolve(payload);
    };
    session.once('message', onMessage);
  });
}

function closed(session: Session): Promise<CloseReason> {
  return new Promise((resolve) => session.once('close', resolve));
}

/** Resolves with the server-side session of the next handshake. */
function nextServerSession(server: BittrrtServer): Promise<Session> {
  return new Promise((resolve) => server.once('session', resolve));
}

describe('version-2 sessions over loopback UDP', function () {
  this.timeout(30_000 * PATIENCE);
  let server: BittrrtServer;
  let port: number;
  const cleanups: Array<() => Promise<void> | void> = [];

  async function startServer(options: Parameters<typeof createServer>[0] = {}): Promise<void> {
    server = createServer({ timings: FAST, ...options });
    port = (await server.listen(0, '127.0.0.1')).port;
  }
  async function client(options: Parameters<typeof connect>[0] = {}): Promise<Session> {
    const session = await connect({ host: '127.0.0.1', port, timings: FAST, ...options });
    cleanups.push(() => session.close());
    return session;
  }
  /** A server, a relay in front of it, and a client through the relay with its server-side session. */
  async function throughRelay(): Promise<{ relay: Relay; session: Session; peer: Session }> {
    await startServer();
    const relay = await Relay.start(port);
    cleanups.push(() => relay.close());
    const serverSide = nextServerSession(server);
    const session = await client({ port: relay.port });
    return { relay, session, peer: await serverSide };
  }

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await server?.close();
  });

  it('exchanges messages both ways on channels, and measures RTT with ping()', async () => {
    await startServer();
    const serverSide = nextServerSession(server);
    const session = await client();
    const peer = await serverSide;
    expect(session.version).to.equal(2);
    const toServer = new Promise<[Buffer, number]>((resolve) => peer.once('message', (p, c) => resolve([p, c])));
    session.send(Buffer.from('up'), 7);
    const [payload, channel] = await toServer;
    expect(payload.toString()).to.equal('up');
    expect(channel).to.equal(7);
    const down = nextMessage(session);
    peer.send(Buffer.from('down'));
    expect((await down)?.toString()).to.equal('down');
    const rtt = await session.ping(10_000);
    expect(rtt).to.be.a('number').and.be.above(0);
    expect(session.rtt.samples).to.be.at.least(1);
    // The server measures its own RTT from its heartbeats too.
    expect(await eventually(() => peer.rtt.samples > 0, 2000), 'server-side RTT').to.equal(true);
  });

  it('a client that offers only version 1 gets the seed channel on both sides', async () => {
    await startServer();
    const serverSide = nextServerSession(server);
    const session = await client({ protocolVersion: 1 });
    const peer = await serverSide;
    expect(session.version).to.equal(1);
    expect(peer.version).to.equal(1);
    const up = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    session.send(Buffer.from('seed up'));
    expect((await up).toString()).to.equal('seed up');
    const down = nextMessage(session);
    peer.send(Buffer.from('seed down'));
    expect((await down)?.toString()).to.equal('seed down');
  });

  it('rejects a replayed packet from the same and from another source address', async () => {
    const { relay, session, peer } = await throughRelay();
    let delivered = 0;
    peer.on('message', () => delivered++);
    session.send(Buffer.from('pay me once'));
    expect(await eventually(() => delivered === 1, 2000)).to.equal(true);
    const captured = relay.toServer.filter((d) => d[0] !== TOKEN_FIRST_BYTE).at(-1)!;
    relay.injectToServer(captured);
    const stranger = await openLoopbackSocket();
    cleanups.push(() => closeSocket(stranger));
    stranger.send(captured, port, '127.0.0.1');
    expect(await eventually(() => server.counters.dropsOf('replay') === 2, 2000), 'both replays dropped').to.equal(true);
    expect(delivered).to.equal(1);
    expect(peer.remote.port, 'a replay does not move the session').to.equal(relay.upstreamPort);
  });

  it('rejects a packet reflected back to its sender', async () => {
    const { relay, session } = await throughRelay();
    let delivered = 0;
    session.on('message', () => delivered++);
    session.send(Buffer.from('reflect me'));
    expect(await eventually(() => relay.toServer.length >= 2, 2000)).to.equal(true);
    const sentByClient = relay.toServer.filter((d) => d[0] !== TOKEN_FIRST_BYTE).at(-1)!;
    const before = session.counters.dropped;
    relay.injectToClient(sentByClient);
    expect(await eventually(() => session.counters.dropped === before + 1, 2000), 'reflection dropped').to.equal(true);
    expect(delivered).to.equal(0);
  });

  it('keeps the session when the client address changes (NAT rebinding)', async () => {
    const { relay, session, peer } = await throughRelay();
    const oldPort = relay.upstreamPort;
    await relay.rebind();
    const up = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    const roamed = new Promise<PeerAddress>((resolve) => peer.once('roam', resolve));
    session.send(Buffer.from('from a new port'));
    expect((await up).toString()).to.equal('from a new port');
    // The new address answers the server's path challenge before any traffic goes there.
    expect((await roamed).port).to.equal(relay.upstreamPort).and.not.equal(oldPort);
    expect(peer.remote.port).to.equal(relay.upstreamPort);
    expect(server.counters.pathChallenges).to.equal(1);
    const down = nextMessage(session);
    peer.send(Buffer.from('found you'));
    expect((await down)?.toString()).to.equal('found you');
    expect(server.sessionCount).to.equal(1);
  });

  it('rotates keys every second under continuous traffic both ways without losing a packet', async function () {
    this.timeout(20_000 * PATIENCE);
    const timings = { ...FAST, rekeyAfterMs: 1000 };
    await startServer({ timings });
    const serverSide = nextServerSession(server);
    const session = await client({ timings });
    const peer = await serverSide;
    const up = new Set<number>();
    const down = new Set<number>();
    peer.on('message', (p) => up.add(p.readUInt32BE(0)));
    session.on('message', (p) => down.add(p.readUInt32BE(0)));
    let clientRekeys = 0;
    session.on('rekey', () => clientRekeys++);
    const total = 700;
    for (let i = 0; i < total; i++) {
      const payload = Buffer.alloc(64);
      payload.writeUInt32BE(i);
      session.send(payload);
      peer.send(payload);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await eventually(() => up.size === total && down.size === total, 5000),
      `all delivered (up ${up.size}, down ${down.size} of ${total})`).to.equal(true);
    expect(clientRekeys, 'rotations during the run').to.be.at.least(3);
    expect(server.counters.rekeys).to.be.at.least(3);
    expect(server.counters.dropsOf('bad-auth') + server.counters.dropsOf('replay')).to.equal(0);
  });

  it('the server frees a session at once when the client closes it', async () => {
    await startServer();
    const serverSide = nextServerSession(server);
    const session = await client();
    const peer = await serverSide;
    const reason = closed(peer);
    session.close();
    expect(await reason).to.equal('peer');
    expect(server.sessionCount).to.equal(0);
  });

  it('both sides time out a silent peer after the stale limit, not before', async () => {
    await startServer({ timings: STALE_SOON });
    const serverSide = nextServerSession(server);
    const relay = await Relay.start(port);
    cleanups.push(() => relay.close());
    const session = await client({ port: relay.port, timings: STALE_SOON });
    const peer = await serverSide;
    await relay.close(); // the path goes dark, nobody says goodbye
    /** When a session closed, and how long it had then been silent. */
    const silentWhenClosed = (s: Session): Promise<[CloseReason, number]> => closed(s).then((reason) => [reason, Date.now() - s.lastReceived]);
    const [[serverReason, serverSilent], [clientReason, clientSilent]] = await Promise.all([silentWhenClosed(peer), silentWhenClosed(session)]);
    expect(serverReason).to.equal('timeout');
    expect(clientReason).to.equal('timeout');
    // However late the timers ran, neither side gave up on a peer silent for less than the limit.
    const limit = STALE_SOON.heartbeatRate! * STALE_SOON.staleHeartbeats!;
    expect(serverSilent, 'server: silent for').to.be.at.least(limit);
    expect(clientSilent, 'client: silent for').to.be.at.least(limit);
    expect(server.sessionCount).to.equal(0);
  });

  it('closing the server tells every client', async () => {
    await startServer();
    const sessions = await Promise.all([client(), client(), client()]);
    // Only sessions whose client has proven itself are told; wait for the first heartbeats.
    expect(await eventually(() => [...server.sessions()].every((s) => s.confirmed) && server.sessionCount === 3, 2000)).to.equal(true);
    const reasons = Promise.all(sessions.map(closed));
    await server.close();
    expect(await reasons).to.deep.equal(['peer', 'peer', 'peer']);
  });

  it('a full table refuses newcomers while its sessions work, and evicts one that went silent', async () => {
    // Heartbeats every second: a working session is never two intervals silent, even on a loaded machine.
    const timings = { heartbeatRate: 1000, staleHeartbeats: 5 };
    await startServer({ maxSessions: 2, timings });
    const relay = await Relay.start(port);
    cleanups.push(() => relay.close());
    const silent = await client({ port: relay.port, timings });
    const working = await client({ timings });
    expect(await eventually(() => [...server.sessions()].every((s) => s.confirmed) && server.sessionCount === 2, 2000)).to.equal(true);
    const refused = await connect({ host: '127.0.0.1', port, timings, attempts: 3, delayMs: 30 }).then(() => null, (e: Error) => e);
    expect(refused, 'no room while both sessions work').to.be.instanceOf(Error);
    expect(server.counters.dropsOf('session-limit')).to.be.above(0);

    await relay.close(); // the first client goes silent; after two heartbeat intervals it may go
    const evicted = closed(silent);
    // The newcomer retries until the silent session may be evicted (no sleep: its retransmissions wait for that).
    await client({ timings, attempts: 300, delayMs: 100 });
    expect(server.sessionCount).to.equal(2);
    expect(working.closed).to.equal(false);
    // The silent client hears nothing (its path is gone) and times out on its own.
    expect(await evicted).to.equal('timeout');
  });

  it('holds 1,000 concurrent sessions, each exchanging messages, and frees them all', async function () {
    this.timeout(60_000 * PATIENCE);
    // Every client here is on one host (loopback): lift the per-host handshake rate.
    await startServer({ timings: { heartbeatRate: 5000 }, rateLimits: { perSourceRate: 1000, perSourceBurst: 1000 } });
    server.on('session', (s) => s.on('message', (payload) => s.send(payload))); // echo
    const count = 1000;
    const sessions: Session[] = [];
    for (let batch = 0; batch < count; batch += 100) {
      sessions.push(...await Promise.all(Array.from({ length: 100 }, () => connect({ host: '127.0.0.1', port }))));
    }
    expect(server.sessionCount).to.equal(count);
    const echoes = await Promise.all(sessions.map((s, i) => {
      const reply = nextMessage(s, 10_000);
      s.send(Buffer.from(`client ${i}`));
      return reply;
    }));
    echoes.forEach((echo, i) => expect(echo?.toString()).to.equal(`client ${i}`));
    for (const s of sessions) s.close();
    expect(await eventually(() => server.sessionCount === 0, 5000), `all freed (${server.sessionCount} left)`).to.equal(true);
    expect(server.counters.handshakes).to.equal(count);
  });
});
