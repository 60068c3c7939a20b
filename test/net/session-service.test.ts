import { expect } from 'chai';
import { connect } from '../../lib/net/client.js';
import type { SecureSession, SessionService } from '../../lib/net/secure-session.js';
import { createServer } from '../../lib/net/server.js';
import type { CloseReason, FrameHandler, Session } from '../../lib/net/session.js';
import { Flag } from '../../lib/protocol/frame.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';
import { eventually } from '../helpers/udp.js';

/** A layer above the sessions that records what reaches it. */
class RecordingService implements SessionService {
  readonly made: SecureSession[] = [];
  readonly frames: Array<{ channel: number; sequence: number; offset: number; body: string }> = [];
  readonly closes: CloseReason[] = [];
  handlerFor(session: SecureSession): FrameHandler {
    this.made.push(session);
    return {
      receiveFrame: (_flags, channel, sequence, offset, body) => this.frames.push({ channel, sequence, offset, body: body.toString() }),
      sessionClosed: (reason) => this.closes.push(reason),
    };
  }
}

describe('net: a server\'s SessionService gets each session\'s frames of the layer above, and its close', function () {
  this.timeout(20_000);
  const open = closedAfterEach();

  async function client(service?: SessionService): Promise<{ session: SecureSession; peer: Session }> {
    const server = createServer({ handshakeThreads: 0, service });
    open.servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const peer = new Promise<Session>((resolve) => server.once('session', resolve));
    const session = (await connect({ host: '127.0.0.1', port })) as SecureSession;
    open.sessions.push(session);
    return { session, peer: await peer };
  }

  it('makes the handler at the first frame (idle sessions have none), then routes every frame and the close to it', async () => {
    const service = new RecordingService();
    const { session, peer } = await client(service);
    expect(service.made).to.have.length(0);
    session.sendUnlossy({ flags: Flag.UNLOSSY | Flag.DATA, channel: 7, sequence: 3, offset: 4096 }, Buffer.from('one'));
    session.sendUnlossy({ flags: Flag.UNLOSSY | Flag.ACK, channel: 7, sequence: 4, offset: 0 }, Buffer.from('two'));
    expect(await eventually(() => service.frames.length === 2, 5000)).to.equal(true);
    expect(service.made).to.deep.equal([peer]);
    expect(service.frames).to.deep.equal([
      { channel: 7, sequence: 3, offset: 4096, body: 'one' },
      { channel: 7, sequence: 4, offset: 0, body: 'two' },
    ]);
    const closed = new Promise((resolve) => peer.once('close', resolve));
    session.close();
    await closed;
    expect(service.closes).to.deep.equal(['peer']);
  });

  it('without a service the frames are dropped as bad-frame, and the session goes on', async () => {
    const { session, peer } = await client();
    const server = open.servers[0]!;
    session.sendUnlossy({ flags: Flag.UNLOSSY | Flag.DATA, channel: 1, sequence: 0, offset: 0 }, Buffer.from('x'));
    expect(await eventually(() => server.counters.drops.get('bad-frame') === 1, 5000)).to.equal(true);
    expect(peer.closed).to.equal(false);
    expect(await session.ping()).to.be.a('number');
  });
});
