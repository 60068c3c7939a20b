import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../lib/net/client.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { Session } from '../../lib/net/session.js';
import { TransferEndpoint, type TransferEvent } from '../../lib/transfer/endpoint.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';
import { answerWith, failure, hostileServer, PAYLOAD, RawClient } from './raw-client.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';

/**
 * A peer must not keep the other side waiting forever (unattended scripts and cron jobs would
 * hang), nor make it continue a part file it did not ask to. The hostile side is a RawClient on
 * the server's session (a malicious server) or on the client's (a malicious client).
 */
describe('transfer/deadlines: a hostile peer cannot keep a transfer waiting forever (real sessions on loopback)', function () {
  this.timeout(60_000 * PATIENCE);
  const timers: NodeJS.Timeout[] = [];
  // Registered first, so the timers stop before the sessions and servers close.
  afterEach(() => {
    for (const timer of timers.splice(0)) clearInterval(timer);
  });
  const { servers, sessions } = closedAfterEach();

  const every = (ms: number, body: () => void): void => {
    timers.push(setInterval(body, ms));
  };

  async function hostile(stallMs: number): Promise<{ endpoint: TransferEndpoint; raw: RawClient }> {
    const rig = await hostileServer({ stallMs });
    servers.push(rig.server);
    sessions.push(rig.session);
    return rig;
  }

  // A receiver that answers `checking` for ever, far more often than the stall time (each answer
  // alone would restart it), after accepting an upload of `content` with `accept`.
  const checkingForever = (name: string, content: string, accept: { offset: number; size: number; held?: true }) => async (): Promise<void> => {
    const { endpoint, raw } = await hostile(1000);
    const path = join(tempDir('src'), name);
    writeFileSync(path, content);
    const outcome = failure(endpoint.upload(path));
    await answerWith(raw, 1, 'offer', { type: 'accept', prefix: '', ...accept });
    let checkings = 0;
    every(100, () => {
      raw.tell(1, { type: 'checking' });
      checkings++;
    });
    expect(await outcome).to.match(/still checking the file after 1 s/);
    expect(checkings, 'checking answers sent').to.be.greaterThan(10);
  };

  it('upload: a receiver that answers `checking` for ever is given up after the bounded wait for `result`',
    checkingForever('empty.bin', '', { offset: 0, size: 0 }));

  it('upload of a file the receiver says it holds (`held`): `checking` for ever is given up the same way',
    checkingForever('held.bin', 'held', { offset: 4, size: 4, held: true }));

  it('download: a sender that only repeats a segment already received fails after the stall time; the part file holds that segment once', async () => {
    const { endpoint, raw } = await hostile(800);
    const out = join(tempDir('down'), 'd.bin');
    const outcome = failure(endpoint.download('d.bin', { out }));
    await answerWith(raw, 1, 'get', { type: 'accept', offset: 0, size: 10 * PAYLOAD, prefix: '' });
    const segment = randomBytes(PAYLOAD);
    let sent = 0;
    every(50, () => raw.data(1, sent++, 0, segment));
    expect(await outcome).to.match(/sent nothing for 0.8 s/);
    expect(sent, 'copies sent').to.be.greaterThan(10);
    expect(readFileSync(`${out}.part`).equals(segment)).to.equal(true);
  });

  it('--bwdown: a server that keeps sending new data past the test\'s seconds is stopped by the client at seconds + stall time', async () => {
    const { endpoint, raw } = await hostile(500);
    const outcome = failure(endpoint.bandwidth('down', 1));
    await answerWith(raw, 1, 'bandwidth', { type: 'accept', offset: 0, size: 0, prefix: '' });
    const segment = randomBytes(PAYLOAD);
    let next = 0;
    // Always new bytes (progress), never `done`.
    every(20, () => {
      raw.data(1, next, next * PAYLOAD, segment);
      next++;
    });
    expect(await outcome).to.match(/ran past its time/);
  });

  it('upload: an accept with an offset the uploader did not ask for (no resume) is refused, and the receiver is told', async () => {
    const { endpoint, raw } = await hostile(5000);
    const path = join(tempDir('src'), 'plain.bin');
    writeFileSync(path, randomBytes(10_000));
    const outcome = failure(endpoint.upload(path));
    await answerWith(raw, 1, 'offer', { type: 'accept', offset: 4096, size: 10_000, prefix: '' });
    expect(await outcome).to.match(/did not ask for/);
    expect(await eventually(() => raw.answers.get(1)?.type === 'abort', 5_000), 'an abort').to.equal(true);
    expect(raw.answers.has(3), 'no resume question was asked').to.equal(false);
  });

  it('a client that only repeats one segment holds the name it uploads only until the stall time; then the name is free', async () => {
    const inbox = tempDir('dup-inbox');
    const events: TransferEvent[] = [];
    const server = createServer({ files: { dir: inbox, stallMs: 800 } });
    server.on('transfer', (event) => events.push(event));
    servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const session = await connect({ port, allowSeed: false });
    sessions.push(session);
    const raw = new RawClient(session);
    const offer = { type: 'offer', name: 'held.bin', size: 10 * PAYLOAD, resume: false, overwrite: false } as const;
    expect((await raw.request(1, offer)).type).to.equal('accept');
    expect((await raw.request(3, offer)).type, 'busy while it runs').to.equal('reject');
    const segment = randomBytes(PAYLOAD);
    let sent = 0;
    every(50, () => raw.data(1, sent++, 0, segment));
    expect(await eventually(() => events.some((e) => e.kind === 'failed'), 10_000)).to.equal(true);
    expect((events.find((e) => e.kind === 'failed') as { reason: string }).reason).to.match(/sent nothing for 0.8 s/);
    expect((await raw.request(5, offer)).type, 'the name is free again').to.equal('accept');
  });
});
