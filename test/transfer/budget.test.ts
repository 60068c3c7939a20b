import { expect } from 'chai';
import { RECEIVE_WINDOW_BYTES } from '../../lib/constants.js';
import { connect } from '../../lib/net/client.js';
import type { SecureSession } from '../../lib/net/secure-session.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { Session } from '../../lib/net/session.js';
import { TransferFlags, type TransferMessage } from '../../lib/protocol/transfer.js';
import { ReceiveBudget } from '../../lib/transfer/budget.js';
import type { TransferEvent } from '../../lib/transfer/endpoint.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';
import { PAYLOAD, RawClient } from './raw-client.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';

const MiB = 1024 * 1024;

describe('transfer/budget: received data held in memory is bounded over all transfers and per host', function () {
  this.timeout(90_000 * PATIENCE);
  const { servers, sessions } = closedAfterEach();

  async function serve(budget: ReceiveBudget, stallMs?: number): Promise<{ server: BittrrtServer; port: number; events: TransferEvent[] }> {
    const events: TransferEvent[] = [];
    // Dual-stack, so a client on 127.0.0.1 and one on ::1 are two hosts.
    const server = createServer({ files: { dir: tempDir('budget-inbox'), receiveBudget: budget, stallMs } });
    server.on('transfer', (event) => events.push(event));
    servers.push(server);
    const { port } = await server.listen(0, '::');
    return { server, port, events };
  }

  async function client(host: string, port: number): Promise<RawClient> {
    const session = await connect({ host, port, allowSeed: false });
    sessions.push(session);
    return new RawClient(session);
  }

  const offer = (name: string, size: number): TransferMessage => ({ type: 'offer', name, size, resume: false, overwrite: false });

  it('reserves a window per receiving transfer: over the host share or the total it is refused with a reason, and out-of-order floods stay within both', async () => {
    const budget = new ReceiveBudget(16 * MiB, 12 * MiB);
    const { server } = await serve(budget);
    const a1 = await client('127.0.0.1', server.address().port);
    const a2 = await client('127.0.0.1', server.address().port);
    const b = await client('::1', server.address().port);

    // Host A: a full window, then (from another session) a second one is over its share; a smaller file fits.
    expect((await a1.request(1, offer('a1.bin', 64 * MiB))).type).to.equal('accept');
    const refusedA = await a2.request(1, offer('a2.bin', 64 * MiB));
    expect(refusedA).to.deep.include({ type: 'reject' });
    expect((refusedA as { reason: string }).reason).to.match(/already has 8 MiB of 12 MiB/);
    expect((await a2.request(3, offer('a3.bin', 3 * MiB))).type).to.equal('accept');
    expect(budget.reservedBy('127.0.0.1')).to.equal(11 * MiB);
    // Host B has a share of its own, but the total is nearly spent.
    const refusedB = await b.request(1, offer('b1.bin', 64 * MiB));
    expect((refusedB as { reason: string }).reason).to.match(/holding all the received data it allows \(16 MiB\)/);
    expect((await b.request(3, offer('b2.bin', 4 * MiB))).type).to.equal('accept');
    expect(budget.reserved).to.equal(15 * MiB);

    // Every accepted transfer gets out-of-order data up to its window and well beyond it.
    const dropsBefore = server.counters.dropsOf('bad-transfer');
    await a1.holdOutOfOrder(1, 2 * RECEIVE_WINDOW_BYTES);
    await a2.holdOutOfOrder(3, 6 * MiB);
    await b.holdOutOfOrder(3, 8 * MiB);
    // What the receivers hold, measured, reaches much of what was granted (the attack works as far
    // as it may; datagrams the kernel dropped on the way make it less than all) and never more.
    let most = 0;
    await eventually(() => {
      most = Math.max(most, budget.held());
      return most > budget.reserved / 2;
    }, 20_000);
    expect(most).to.be.greaterThan(budget.reserved / 2);
    expect(most).to.be.at.most(budget.reserved);
    expect(budget.reserved).to.be.at.most(budget.total);
    // The data beyond each window was refused and counted.
    expect(server.counters.dropsOf('bad-transfer') - dropsBefore).to.be.greaterThan(1000);
    await a1.session.ping(5_000);
  });

  it('gives the reservation back when a transfer ends, so the next one gets a full window', async () => {
    const budget = new ReceiveBudget(RECEIVE_WINDOW_BYTES);
    const { server, events } = await serve(budget);
    const a = await client('127.0.0.1', server.address().port);
    expect((await a.request(1, offer('x.bin', 64 * MiB))).type).to.equal('accept');
    expect((await a.request(3, offer('y.bin', 64 * MiB))).type).to.equal('reject');
    a.tell(1, { type: 'abort', reason: 'enough' });
    expect(await eventually(() => events.some((e) => e.kind === 'failed'), 5_000)).to.equal(true);
    expect(await eventually(() => budget.reserved === 0, 5_000)).to.equal(true);
    expect((await a.request(5, offer('y.bin', 64 * MiB))).type).to.equal('accept');
    expect(budget.reserved).to.equal(RECEIVE_WINDOW_BYTES);
  });

  it('a peer that only repeats a segment it already sent is not making progress: its transfer times out', async () => {
    const { server, events } = await serve(new ReceiveBudget(), 800);
    const a = await client('127.0.0.1', server.address().port);
    expect((await a.request(1, offer('dup.bin', 10 * MiB))).type).to.equal('accept');
    const segment = Buffer.alloc(PAYLOAD, 1);
    const secure = a.session as SecureSession;
    let packet = 0;
    // The first segment is new; every later copy is a duplicate, sent far more often than the stall time.
    const repeat = setInterval(() => secure.sendUnlossy({ flags: TransferFlags.DATA, channel: 1, sequence: packet++, offset: 0 }, segment), 50);
    try {
      expect(await eventually(() => events.some((e) => e.kind === 'failed'), 10_000)).to.equal(true);
    } finally {
      clearInterval(repeat);
    }
    expect((events.find((e) => e.kind === 'failed') as { reason: string }).reason).to.match(/sent nothing for 0.8 s/);
    expect(packet).to.be.greaterThan(10);
  });
});
