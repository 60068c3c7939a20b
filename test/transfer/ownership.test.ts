import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { connect } from '../../lib/net/client.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { Session } from '../../lib/net/session.js';
import type { TransferMessage } from '../../lib/protocol/transfer.js';
import { TransferEndpoint, type TransferEvent } from '../../lib/transfer/endpoint.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';
import { PAYLOAD, RawClient } from './raw-client.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';

describe('transfer/ownership: clients of one upload directory cannot reach each other\'s files (real sessions on loopback)', function () {
  this.timeout(60_000 * PATIENCE);
  const { servers, sessions } = closedAfterEach();

  async function serve(allowOverwrite?: boolean, allowDownload = true): Promise<{ port: number; inbox: string; events: TransferEvent[] }> {
    const inbox = tempDir('owned-inbox');
    const events: TransferEvent[] = [];
    const server = createServer({ files: { dir: inbox, allowDownload, allowOverwrite } });
    server.on('transfer', (event) => events.push(event));
    servers.push(server);
    // Dual-stack, so clients on 127.0.0.1 and on ::1 are two hosts.
    const { port } = await server.listen(0, '::');
    return { port, inbox, events };
  }

  async function session(host: string, port: number, identity?: CommEncryptor): Promise<Session> {
    const opened = await connect({ host, port, allowSeed: false, identity });
    sessions.push(opened);
    return opened;
  }

  const offer = (name: string, size: number, resume: boolean, overwrite = false): TransferMessage => ({ type: 'offer', name, size, resume, overwrite });
  const reason = (answer: TransferMessage): string => (answer.type === 'reject' ? answer.reason : `not refused: ${JSON.stringify(answer)}`);

  it('another host cannot learn a part file\'s length, empty it or replace it; its owner resumes it from a new session', async () => {
    const { port, inbox, events } = await serve();
    const data = randomBytes(40 * PAYLOAD);
    const owner = new RawClient(await session('127.0.0.1', port));
    expect((await owner.request(1, offer('owned.bin', data.length, false))).type).to.equal('accept');
    owner.sendInOrder(1, data, 10);
    const part = join(inbox, 'owned.bin.part');
    expect(await eventually(() => existsSync(part) && statSync(part).size === 10 * PAYLOAD, 5_000)).to.equal(true);
    owner.tell(1, { type: 'abort', reason: 'interrupted' });
    expect(await eventually(() => events.some((e) => e.kind === 'failed'), 5_000)).to.equal(true);

    const other = new RawClient(await session('::1', port));
    for (const [id, attempt] of [[1, offer('owned.bin', data.length, true)], [3, offer('owned.bin', data.length, false)], [5, offer('owned.bin', data.length, true, true)]] as const) {
      const answer = await other.request(id, attempt);
      expect(reason(answer), JSON.stringify(attempt)).to.equal('owned.bin is a partial upload of another client; choose another name');
      expect(JSON.stringify(answer)).to.not.include(String(10 * PAYLOAD));
    }
    expect(readFileSync(part).equals(data.subarray(0, 10 * PAYLOAD)), 'the part file is untouched').to.equal(true);

    // The owner's host, from a new session (a new port), resumes where it stopped.
    const again = new TransferEndpoint(await session('127.0.0.1', port));
    const path = join(tempDir('owned-src'), 'owned.bin');
    writeFileSync(path, data);
    const result = await again.upload(path, { resume: true });
    expect(result.offset).to.equal(10 * PAYLOAD);
    expect(readFileSync(join(inbox, 'owned.bin')).equals(data)).to.equal(true);
    // Finished, the file is its maker's: the other host sees an ordinary existing file.
    expect(reason(await other.request(7, offer('owned.bin', 5, false)))).to.equal('owned.bin already exists on the server (use --overwrite)');
  });

  it('a file sent again unchanged moves nothing: its maker has it compared (size and SHA-256), a changed one is refused naming it; a stranger without downloads is not told whether it is the same', async () => {
    const { port, inbox, events } = await serve(undefined, false);
    const data = randomBytes(3 * PAYLOAD);
    const path = join(tempDir('same-src'), 'same.bin');
    writeFileSync(path, data);
    const maker = new TransferEndpoint(await session('127.0.0.1', port));
    expect((await maker.upload(path)).unchanged).to.equal(undefined);
    const again = await maker.upload(path);
    expect(again).to.deep.include({ name: 'same.bin', size: data.length, offset: data.length, unchanged: 1, sha256: createHash('sha256').update(data).digest('hex') });
    expect(again.stats.packets, 'no data sent').to.equal(0);
    expect(await eventually(() => events.some((e) => e.kind === 'finished' && e.result.unchanged === 1), 5_000)).to.equal(true);

    // The same size, other bytes: refused as existing, naming the file and the flag; the held file is untouched.
    writeFileSync(path, randomBytes(data.length));
    expect(await maker.upload(path).then(() => null, (e: Error) => e.message))
      .to.equal('the peer refused: same.bin already exists on the server and differs from the file sent (use --overwrite)');
    expect(readFileSync(join(inbox, 'same.bin')).equals(data)).to.equal(true);
    // Asked not to compare, the maker gets the plain refusal.
    expect(await maker.upload(path, { skipUnchanged: false }).then(() => null, (e: Error) => e.message))
      .to.equal('the peer refused: same.bin already exists on the server (use --overwrite)');

    // Another host did not make it, and could not download it: no comparison, whatever it asks.
    const stranger = new RawClient(await session('::1', port));
    const asked: TransferMessage = { type: 'offer', name: 'same.bin', size: data.length, resume: false, overwrite: false, ifChanged: true };
    expect(reason(await stranger.request(1, asked))).to.equal('same.bin already exists on the server (use --overwrite)');
  });

  it('a server with downloads compares for anyone (the file could be read anyway), and only on the uploader\'s proof: a wrong hash is refused', async () => {
    const { port, inbox } = await serve();
    const data = randomBytes(2 * PAYLOAD);
    writeFileSync(join(inbox, 'open.bin'), data);
    const client = new RawClient(await session('::1', port));
    const asked: TransferMessage = { type: 'offer', name: 'open.bin', size: data.length, resume: false, overwrite: false, ifChanged: true };
    expect(await client.request(1, asked)).to.deep.equal({ type: 'accept', offset: data.length, size: data.length, prefix: '', held: true });
    const stats = { packets: 0, retransmits: 0, srtt: null, minRtt: null };
    const wrong = await client.request(1, { type: 'done', size: data.length, sha256: 'ab'.repeat(32), stats });
    expect(wrong).to.deep.equal({ type: 'result', ok: false, reason: 'open.bin already exists on the server and differs from the file sent (use --overwrite)' });
    // A different size is not compared at all.
    expect(reason(await client.request(3, { ...asked, size: data.length + 1 } as TransferMessage))).to.equal('open.bin already exists on the server (use --overwrite)');
  });

  it('a client identity owns its part files: another identity on the same host is refused, the owner resumes', async () => {
    const { port, inbox, events } = await serve();
    const alice = new CommEncryptor();
    const bob = new CommEncryptor();
    const data = randomBytes(40 * PAYLOAD);
    const first = new RawClient(await session('127.0.0.1', port, alice));
    expect((await first.request(1, offer('alice.bin', data.length, false))).type).to.equal('accept');
    first.sendInOrder(1, data, 10);
    const part = join(inbox, 'alice.bin.part');
    expect(await eventually(() => existsSync(part) && statSync(part).size === 10 * PAYLOAD, 5_000)).to.equal(true);
    first.tell(1, { type: 'abort', reason: 'interrupted' });
    // The server has ended that receive (as in the test above): until then the name is busy, which
    // is another refusal, and on a loaded machine the next offer could overtake the abort.
    expect(await eventually(() => events.some((e) => e.kind === 'failed'), 5_000)).to.equal(true);

    // Same host, another identity (and an anonymous client): neither may resume or replace it.
    for (const who of [bob, undefined]) {
      const other = new RawClient(await session('127.0.0.1', port, who));
      const answer = await other.request(1, offer('alice.bin', data.length, true));
      expect(reason(answer)).to.equal('alice.bin is a partial upload of another client; choose another name');
    }
    expect(readFileSync(part).equals(data.subarray(0, 10 * PAYLOAD))).to.equal(true);

    // Alice, from another host (::1) and a new session, resumes it.
    const again = new TransferEndpoint(await session('::1', port, alice));
    const path = join(tempDir('owned-src'), 'alice.bin');
    writeFileSync(path, data);
    const result = await again.upload(path, { resume: true });
    expect(result.offset).to.equal(10 * PAYLOAD);
    expect(readFileSync(join(inbox, 'alice.bin')).equals(data)).to.equal(true);
  });

  it('a server that refuses overwrites keeps existing files, saying why', async () => {
    const { port, inbox } = await serve(false);
    const original = randomBytes(1000);
    writeFileSync(join(inbox, 'kept.bin'), original);
    const client = new RawClient(await session('127.0.0.1', port));
    expect(reason(await client.request(1, offer('kept.bin', 5, false, true)))).to.equal('this server does not replace existing files (refused --overwrite)');
    expect(readFileSync(join(inbox, 'kept.bin')).equals(original)).to.equal(true);
    expect(readdirSync(inbox)).to.deep.equal(['kept.bin']);
  });

  it('names with lone surrogates are refused; names are stored in NFC, so two spellings of one name are one busy name', async () => {
    const { port, inbox } = await serve();
    const client = new RawClient(await session('127.0.0.1', port));
    for (const [id, name] of [[1, 'a\ud800'], [3, 'a\udbff'], [5, '\udc00x']] as const) {
      expect(reason(await client.request(id, offer(name, 5, false)))).to.match(/not well-formed Unicode/);
    }
    const decomposed = 'cafe\u0301.txt';
    const composed = 'caf\u00e9.txt';
    expect((await client.request(7, offer(decomposed, 10 * PAYLOAD, false))).type).to.equal('accept');
    expect(reason(await client.request(9, offer(composed, 10 * PAYLOAD, false)))).to.equal(`${composed} is being received from another transfer (an interrupted one ends after 30 s without data: then try again)`);
    expect(readdirSync(inbox)).to.deep.equal([`${composed}.part`]);
  });
});
