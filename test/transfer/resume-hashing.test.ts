import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../lib/net/client.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { Session } from '../../lib/net/session.js';
import type { TransferMessage } from '../../lib/protocol/transfer.js';
import { FileSink } from '../../lib/transfer/files.js';
import { HashLimiter, processHashLimiter, type HashControl } from '../../lib/transfer/hashing.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';
import type { TransferEvent } from '../../lib/transfer/endpoint.js';
import { RawClient } from './raw-client.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';

/** 2 GiB: seconds of SHA-256 on any machine, so a hash that an abort failed to stop shows. Sparse: no disk used. */
const HUGE = 2 * 1024 * 1024 * 1024;

describe('transfer/resume hashing: one small message cannot make a server hash whole files unbounded (real sessions on loopback)', function () {
  this.timeout(60_000 * PATIENCE);
  const { servers, sessions } = closedAfterEach();
  // Registered after the closing one, so it runs once the sessions are gone.
  afterEach(async () => {
    await eventually(() => processHashLimiter.running === 0, 10_000);
  });

  async function rig(): Promise<{ raw: RawClient; inbox: string; events: TransferEvent[] }> {
    const inbox = tempDir('hash-inbox');
    const events: TransferEvent[] = [];
    const server = createServer({ files: { dir: inbox, allowDownload: true } });
    server.on('transfer', (event) => events.push(event));
    servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const session = await connect({ port, allowSeed: false });
    sessions.push(session);
    return { raw: new RawClient(session), inbox, events };
  }

  function sparse(path: string, size: number): void {
    writeFileSync(path, '');
    truncateSync(path, size);
  }

  const answer = async (raw: RawClient, id: number): Promise<TransferMessage> => {
    expect(await eventually(() => raw.answers.has(id), 20_000), `an answer to transfer ${id}`).to.equal(true);
    return raw.answers.get(id)!;
  };
  const reason = (message: TransferMessage): string => (message.type === 'reject' ? message.reason : `not refused: ${JSON.stringify(message)}`);

  it('an abort stops the hash a get with offset = the file\'s size starts, between blocks; the peer is told', async () => {
    const { raw, inbox } = await rig();
    sparse(join(inbox, 'huge.bin'), HUGE);
    const before = processHashLimiter.hashedBytes;
    raw.tell(3, { type: 'get', name: 'huge.bin', offset: HUGE });
    expect(await eventually(() => processHashLimiter.hashedBytes > before, 10_000), 'the hash began').to.equal(true);
    raw.tell(3, { type: 'abort', reason: 'changed my mind' });
    expect(reason(await answer(raw, 3))).to.match(/aborted: changed my mind/);
    expect(await eventually(() => processHashLimiter.running === 0, 10_000)).to.equal(true);
    expect(processHashLimiter.hashedBytes - before, 'bytes hashed').to.be.below(HUGE / 2);
  });

  it('an abort stops the hash of a part file an offer with resume starts; a second resume from the same host meanwhile is refused', async () => {
    const { raw, inbox } = await rig();
    sparse(join(inbox, 'big.bin.part'), HUGE);
    writeFileSync(join(inbox, 'small.bin'), 'x'.repeat(5000));
    const before = processHashLimiter.hashedBytes;
    raw.tell(5, { type: 'offer', name: 'big.bin', size: HUGE, resume: true, overwrite: false });
    expect(await eventually(() => processHashLimiter.hashedBytes > before, 10_000), 'the hash began').to.equal(true);
    expect(reason(await raw.request(7, { type: 'get', name: 'small.bin', offset: 100 }))).to.match(/already resuming a file/);
    raw.tell(5, { type: 'abort', reason: 'gone' });
    expect(reason(await answer(raw, 5))).to.match(/aborted: gone/);
    expect(await eventually(() => processHashLimiter.running === 0, 10_000)).to.equal(true);
    expect(processHashLimiter.hashedBytes - before, 'bytes hashed').to.be.below(HUGE / 2);
    // The limit is on hashes running, not on the client: its next resume is answered.
    const next = await raw.request(9, { type: 'get', name: 'small.bin', offset: 100 });
    expect(next.type).to.equal('accept');
    expect(next.type === 'accept' && next.prefix).to.match(/^[0-9a-f]{64}$/);
  });

  it('repeated offers to resume one part file hash it once: the server keeps its hash state', async () => {
    const { raw, inbox, events } = await rig();
    const size = 256 * 1024 * 1024;
    sparse(join(inbox, 'kept.bin.part'), size);
    const resume = { type: 'offer', name: 'kept.bin', size: size + 1, resume: true, overwrite: false } as const;
    const before = processHashLimiter.hashedBytes;
    const first = await answer(raw, (raw.tell(1, resume), 1));
    expect(first.type === 'accept' && first.offset).to.equal(size);
    expect(processHashLimiter.hashedBytes - before).to.equal(size);
    for (const [i, id] of [3, 5, 7].entries()) {
      raw.tell(id - 2, { type: 'abort', reason: 'again' });
      // The aborted upload has let go of the name.
      expect(await eventually(() => events.filter((e) => e.kind === 'failed').length === i + 1, 10_000)).to.equal(true);
      const again = await raw.request(id, resume);
      expect(again.type === 'accept' && again.offset, `offer ${id}`).to.equal(size);
    }
    expect(processHashLimiter.hashedBytes - before, 'bytes hashed in all').to.equal(size);
  });

  it('repeated gets that resume one file hash its prefix once; a file changed since is read again', async () => {
    const { raw, inbox } = await rig();
    const size = 64 * 1024 * 1024;
    const path = join(inbox, 'served.bin');
    sparse(path, size);
    const get = { type: 'get', name: 'served.bin', offset: size / 2 } as const;
    const before = processHashLimiter.hashedBytes;
    let prefix = '';
    for (const id of [1, 3, 5]) {
      const accepted = await raw.request(id, get);
      expect(accepted.type === 'accept' && accepted.offset, `get ${id}`).to.equal(size / 2);
      if (accepted.type === 'accept') prefix ||= accepted.prefix;
      expect(accepted.type === 'accept' && accepted.prefix).to.equal(prefix);
      raw.tell(id, { type: 'abort', reason: 'again' });
    }
    expect(processHashLimiter.hashedBytes - before, 'bytes hashed for three gets').to.equal(size / 2);
    // Any change to the file (here its times, through a write of the same size) voids the state.
    writeFileSync(path, Buffer.alloc(16), { flag: 'r+' });
    const changed = await raw.request(7, get);
    expect(changed.type === 'accept' && changed.prefix).to.equal(prefix);
    expect(processHashLimiter.hashedBytes - before, 'read again after the change').to.equal(size);
  });

  it('a part file changed since its hash state was kept is read again, and the digest is of what it holds now', async () => {
    const dir = tempDir('kept');
    const data = randomBytes(3 * 1024 * 1024);
    let hashed = 0;
    const control: HashControl = { stopped: () => undefined, hashed: (bytes) => { hashed += bytes; } };
    const sink = await FileSink.open(join(dir, 'f'), false);
    await sink.write([data]);
    await sink.close();
    const resumed = await FileSink.open(join(dir, 'f'), true, 'f', control);
    expect(hashed, 'unchanged: nothing read').to.equal(0);
    expect(resumed.prefixDigest()).to.equal(createHash('sha256').update(data).digest('hex'));
    await resumed.close();
    appendFileSync(join(dir, 'f.part'), 'x');
    const changed = await FileSink.open(join(dir, 'f'), true, 'f', control);
    expect(hashed, 'changed: read whole').to.equal(data.length + 1);
    expect(changed.prefixDigest()).to.equal(createHash('sha256').update(data).update('x').digest('hex'));
    await changed.close();
  });

  it('the limiter admits at most inAll hashes in all and perHost per host, and each release frees one', () => {
    const limiter = new HashLimiter(2, 1);
    const a = limiter.admit('a');
    expect(a).to.be.a('function');
    expect(limiter.admit('a')).to.match(/already resuming/);
    const b = limiter.admit('b');
    expect(b).to.be.a('function');
    expect(limiter.admit('c')).to.match(/busy checking other resumed files/);
    (a as () => void)();
    (a as () => void)();
    expect(limiter.running).to.equal(1);
    expect(limiter.admit('c')).to.be.a('function');
    expect(limiter.admit('a')).to.match(/busy/);
  });
});
