import { expect } from 'chai';
import { connect } from '../../lib/net/client.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { Session } from '../../lib/net/session.js';
import { BandwidthPolicy, formatBandwidthLimits, parseBandwidthLimits, type BandwidthLimits } from '../../lib/transfer/bandwidth.js';
import { TransferEndpoint } from '../../lib/transfer/endpoint.js';
import { TransferError } from '../../lib/transfer/transfer-error.js';
import { eventually, PATIENCE } from '../helpers/udp.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';

describe('transfer/bandwidth policy: which bandwidth tests a server runs (real sessions on loopback)', function () {
  this.timeout(60_000 * PATIENCE);
  const { servers, sessions } = closedAfterEach();

  async function serve(limits: BandwidthLimits | 'off'): Promise<{ port: number; policy: BandwidthPolicy; server: ReturnType<typeof createServer> }> {
    const policy = new BandwidthPolicy(limits);
    // Dual-stack, so clients on 127.0.0.1 and on ::1 are two hosts.
    const server = createServer({ files: { bandwidthPolicy: policy } });
    servers.push(server);
    const { port } = await server.listen(0, '::');
    return { port, policy, server };
  }

  async function client(host: string, port: number): Promise<TransferEndpoint> {
    const session = await connect({ host, port, allowSeed: false });
    sessions.push(session);
    return new TransferEndpoint(session);
  }

  const refusal = (test: Promise<unknown>): Promise<string | null> => test.then(() => null, (e: Error) => e.message);

  it('off: every test is refused, both ways, with the reason', async () => {
    const { port } = await serve('off');
    const endpoint = await client('127.0.0.1', port);
    expect(await refusal(endpoint.bandwidth('down', 1))).to.equal('the peer refused: this server runs no bandwidth tests');
    expect(await refusal(endpoint.bandwidth('up', 1))).to.equal('the peer refused: this server runs no bandwidth tests');
    // The peer's own words come apart from the message, for a caller that says them its way.
    const err = await endpoint.bandwidth('up', 1).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(TransferError);
    expect((err as TransferError).origin).to.equal('peer');
    expect((err as TransferError).peerWords).to.deep.equal({ verb: 'refused', reason: 'this server runs no bandwidth tests' });
  });

  it('a reverse test whose client closes its session the moment it has answered ends as finished on the server, not failed', async () => {
    const { port, server } = await serve({ inAll: 4, perHost: 4, maxSeconds: 5 });
    const ended = new Promise<string>((resolve) => {
      server.on('transfer', (event) => {
        if (event.kind === 'finished' || event.kind === 'failed') resolve(event.kind === 'failed' ? `failed: ${event.reason}` : 'finished');
      });
    });
    const session = await connect({ host: '127.0.0.1', port, allowSeed: false });
    sessions.push(session);
    const result = await new TransferEndpoint(session).bandwidth('down', 1);
    expect(result.size).to.be.greaterThan(0);
    // The answer and the close leave together: the server reads them in one batch.
    session.close();
    expect(await ended).to.equal('finished');
  });

  it('limited: one at once per host, so many in all, none longer than allowed; a place is given back when a test ends', async () => {
    const { port, policy } = await serve({ inAll: 1, perHost: 1, maxSeconds: 3 });
    const a1 = await client('127.0.0.1', port);
    const a2 = await client('127.0.0.1', port);
    const b = await client('::1', port);
    expect(await refusal(a1.bandwidth('down', 4))).to.equal('the peer refused: this server runs bandwidth tests of at most 3 s');
    // A test is running: another session of the same host, and then another host, are refused.
    const running = a1.bandwidth('down', 3);
    expect(await eventually(() => policy.running === 1, 5_000)).to.equal(true);
    expect(await refusal(a2.bandwidth('up', 1))).to.match(/at most 1 bandwidth test\(s\) at once per client host/);
    expect(await refusal(b.bandwidth('down', 1))).to.match(/at most 1 bandwidth test\(s\) at once, and all are taken/);
    const result = await running;
    expect(result.size).to.be.greaterThan(0);
    expect(await eventually(() => policy.running === 0, 5_000)).to.equal(true);
    // Its place is free again.
    expect((await b.bandwidth('up', 1)).size).to.be.greaterThan(0);
    expect(policy.running).to.equal(0);
  });

  it('parses the config key and flag value: off, or IN_ALL,PER_HOST,SECONDS', () => {
    expect(parseBandwidthLimits('off')).to.equal('off');
    expect(parseBandwidthLimits('4,1,60')).to.deep.equal({ inAll: 4, perHost: 1, maxSeconds: 60 });
    for (const bad of ['', 'on', '0,0,60', '1,2,60', '4,1,0', '4,1,3601', '4,1', '4, 1, 60', '-1,1,1']) {
      expect(parseBandwidthLimits(bad), bad).to.equal(undefined);
    }
    expect(formatBandwidthLimits(new BandwidthPolicy().limits)).to.equal('4,1,60');
  });
});
