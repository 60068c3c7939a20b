import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../lib/net/client.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { Session } from '../../lib/net/session.js';
import type { TransferMessage } from '../../lib/protocol/transfer.js';
import { TransferEndpoint } from '../../lib/transfer/endpoint.js';
import { DiskQuota } from '../../lib/transfer/quota.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';
import { answerWith, failure, hostileServer, RawClient } from './raw-client.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';

/** A size no disk holds: what a peer may announce (the codec takes up to 2^53-1). */
const HUGE = Number.MAX_SAFE_INTEGER;

describe('transfer/limits: announced sizes are checked against --max-size, the free space and the client quota before anything is written', function () {
  this.timeout(60_000 * PATIENCE);
  const { servers, sessions } = closedAfterEach();

  async function serve(files: { maxSize?: number; diskQuota?: DiskQuota } = {}): Promise<{ port: number; inbox: string }> {
    const inbox = tempDir('limits-inbox');
    const server = createServer({ files: { dir: inbox, ...files } });
    servers.push(server);
    // Dual-stack, so clients on 127.0.0.1 and on ::1 are two hosts (two owners).
    const { port } = await server.listen(0, '::');
    return { port, inbox };
  }

  async function session(host: string, port: number): Promise<Session> {
    const opened = await connect({ host, port, allowSeed: false });
    sessions.push(opened);
    return opened;
  }

  const offer = (name: string, size: number, overwrite = false): TransferMessage => ({ type: 'offer', name, size, resume: false, overwrite });
  const reason = (answer: TransferMessage): string => (answer.type === 'reject' ? answer.reason : `not refused: ${JSON.stringify(answer)}`);

  function file(size: number): string {
    const path = join(tempDir('src'), `f${size}.bin`);
    writeFileSync(path, randomBytes(size));
    return path;
  }

  it('a server refuses an offer larger than its maxSize, saying the limit, and creates no part file', async () => {
    const { port, inbox } = await serve({ maxSize: 1000 });
    const raw = new RawClient(await session('127.0.0.1', port));
    expect(reason(await raw.request(1, offer('big.bin', 1001)))).to.equal('big.bin is 1001 B, larger than what this server takes: 1000 B');
    expect(readdirSync(inbox)).to.deep.equal([]);
    expect((await raw.request(3, offer('ok.bin', 1000))).type).to.equal('accept');
  });

  it('a server refuses an offer its disk cannot hold (2^53-1 bytes) before writing anything, instead of meeting ENOSPC', async () => {
    const { port, inbox } = await serve({ diskQuota: new DiskQuota(0) });
    const raw = new RawClient(await session('127.0.0.1', port));
    expect(reason(await raw.request(1, offer('huge.bin', HUGE)))).to.match(/^not enough free space on the receiving side: 8\.0 PiB needed, \d+(\.\d)? (B|KiB|MiB|GiB|TiB) free$/);
    expect(readdirSync(inbox)).to.deep.equal([]);
  });

  it('a client over its quota is refused, another client is not; replacing one\'s own file counts it once', async () => {
    const { port, inbox } = await serve({ diskQuota: new DiskQuota(100_000) });
    const a = new TransferEndpoint(await session('127.0.0.1', port));
    await a.upload(file(60_000), { as: 'a.bin' });
    expect(await failure(a.upload(file(60_000), { as: 'b.bin' }))).to.match(/the peer refused: this upload would take you over your quota on this server \(97\.7 KiB; 58\.6 KiB used\)/);
    expect(existsSync(join(inbox, 'b.bin.part'))).to.equal(false);
    await a.upload(file(90_000), { as: 'a.bin', overwrite: true });
    const b = new TransferEndpoint(await session('::1', port));
    await b.upload(file(60_000), { as: 'c.bin' });
    expect(readdirSync(inbox).sort()).to.deep.equal(['a.bin', 'c.bin']);
  });

  it('the quota counts bytes running uploads have yet to write against the free space, until they end', () => {
    const quota = new DiskQuota(0);
    const first = quota.claim('x', 'host a', 600, 600, 1000);
    expect(first).to.have.property('release');
    expect(quota.claim('y', 'host b', 600, 600, 1000)).to.match(/not enough free space.*600 B needed, 400 B free/);
    (first as { release(): void }).release();
    expect(quota.pending).to.equal(0);
    expect(quota.claim('y', 'host b', 600, 600, 1000)).to.have.property('release');
  });

  it('a client refuses a download larger than its maxSize, or than its free space, before writing anything, and tells the server', async () => {
    const rig = await hostileServer({ maxSize: 1000 });
    servers.push(rig.server);
    sessions.push(rig.session);
    const out = join(tempDir('down'), 'd.bin');
    const tooBig = failure(rig.endpoint.download('d.bin', { out }));
    await answerWith(rig.raw, 1, 'get', { type: 'accept', offset: 0, size: 1001, prefix: '' });
    expect(await tooBig).to.equal('d.bin is 1001 B, larger than the limit (--max-size): 1000 B');
    expect(await eventually(() => rig.raw.answers.get(1)?.type === 'abort', 5_000), 'an abort').to.equal(true);
    const unlimited = new TransferEndpoint(rig.session, { answerPeer: false });
    const noRoom = failure(unlimited.download('d.bin', { out }));
    // A new endpoint numbers its transfers from 1 again.
    await answerWith(rig.raw, 1, 'get', { type: 'accept', offset: 0, size: HUGE, prefix: '' });
    expect(await noRoom).to.match(/^not enough free space on the receiving side: .*; free some space or choose another --out$/);
    expect(existsSync(`${out}.part`)).to.equal(false);
  });
});
