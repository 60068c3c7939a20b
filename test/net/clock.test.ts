import { expect } from 'chai';
import { connect } from '../../lib/net/client.js';
import { createServer, type BittrrtServer } from '../../lib/net/server.js';
import type { Session } from '../../lib/net/session.js';
import type { SessionTimings } from '../../lib/net/timings.js';
import { clock } from '../../lib/time.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';

const FAST: Partial<SessionTimings> = { heartbeatRate: 100, staleHeartbeats: 5 };

/** Resolves after `count` heartbeat round trips of `session` (each one tick or more of both ends). */
function heartbeats(session: Session, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onRtt = (): void => {
      if (++seen < count) return;
      session.off('rtt', onRtt);
      resolve();
    };
    session.on('rtt', onRtt);
  });
}

describe('sessions run on the monotonic clock', function () {
  this.timeout(20_000);
  const open = closedAfterEach();
  const realNow = Date.now;

  afterEach(() => {
    Date.now = realNow;
  });

  async function pair(): Promise<{ server: BittrrtServer; client: Session; peer: Session }> {
    const server = createServer({ timings: FAST, handshakeThreads: 0 });
    open.servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const serverSide = new Promise<Session>((resolve) => server.once('session', resolve));
    const client = await connect({ host: '127.0.0.1', port, timings: FAST });
    open.sessions.push(client);
    return { server, client, peer: await serverSide };
  }

  it('clock() never goes back and does not follow Date.now()', () => {
    const before = clock();
    Date.now = () => realNow() - 86_400_000;
    const after = clock();
    expect(after).to.be.at.least(before);
    expect(after - before).to.be.below(1000);
  });

  for (const [label, stepMs] of [['forward', 3_600_000], ['backward', -3_600_000]] as const) {
    it(`a wall-clock step ${label} by an hour neither times sessions out nor stops their heartbeats`, async () => {
      const { client, peer } = await pair();
      // Past the stale limit (5 × 100 ms) many times over, were the sessions timed by the wall clock.
      Date.now = () => realNow() + stepMs;
      await heartbeats(client, 10);
      expect(client.closed).to.equal(false);
      expect(peer.closed).to.equal(false);
      expect(peer.lastReceived).to.be.closeTo(clock(), 1000);
    });
  }
});
