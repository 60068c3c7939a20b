import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DEFAULT_MAX_DATAGRAM, NEGOTIATION_REPEAT, RECEIVE_WINDOW_BYTES, SHORT_TRANSFER_OVERHEAD } from '../../lib/constants.js';
import { connect } from '../../lib/net/client.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { SecureSession } from '../../lib/net/secure-session.js';
import type { Session } from '../../lib/net/session.js';
import { decodeMessage, encodeMessage, TransferFlags, type TransferMessage } from '../../lib/protocol/transfer.js';
import { TransferEndpoint, TransferError, type TransferEvent } from '../../lib/transfer/endpoint.js';
import { describeFsError, FileSink, FileSource, TransferFileError } from '../../lib/transfer/files.js';
import { StreamReceiver, type DataVerdict } from '../../lib/transfer/receiver.js';
import { ImpairmentProxy, type ImpairmentOptions } from '../helpers/impair.js';
import { closedAfterEach } from '../helpers/closed-after-each.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';

/** File bytes in one datagram: two bittrrt peers send file data in short data frames. */
const PAYLOAD = DEFAULT_MAX_DATAGRAM - SHORT_TRANSFER_OVERHEAD;
/** V8's full collection, which node exposes only under --expose-gc: turned on here, for this test file. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Rig {
  server: BittrrtServer;
  proxy: ImpairmentProxy;
  session: Session;
  endpoint: TransferEndpoint;
  inbox: string;
  events: TransferEvent[];
}

  /** Sends a raw control message, as a hostile or buggy client could, and returns the answer. */
async function rawRequest(session: Session, id: number, message: unknown): Promise<TransferMessage | null> {
    const secure = session as SecureSession;
    const previous = secure.frameHandler;
    let answer: TransferMessage | null = null;
    secure.frameHandler = {
      receiveFrame: (flags, channel, _sequence, _offset, body) => {
        if (flags === TransferFlags.CONTROL && channel === id) answer = decodeMessage(body);
      },
    };
    secure.sendUnlossy({ flags: TransferFlags.CONTROL, channel: id, sequence: 0, offset: 0 }, Buffer.from(JSON.stringify(message)));
    await eventually(() => answer !== null, 2_000);
    secure.frameHandler = previous;
    return answer;
  }

describe('transfer/endpoint (library, real sockets through an impairment proxy)', function () {
  this.timeout(60_000 * PATIENCE);
  // Each piece is listed as soon as it exists, so a rig that fails half-made is still closed.
  const { servers, sessions } = closedAfterEach();
  const proxies: ImpairmentProxy[] = [];
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  async function rig(impairment: Omit<ImpairmentOptions, 'seed'> = {},
    files: { dir?: string | null; allowDownload?: boolean; stallMs?: number } = {}): Promise<Rig> {
    const inbox = tempDir('inbox');
    const events: TransferEvent[] = [];
    const server = createServer({
      files: { dir: files.dir === null ? undefined : (files.dir ?? inbox), allowDownload: files.allowDownload ?? true, stallMs: files.stallMs },
    });
    server.on('transfer', (event) => events.push(event));
    servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const proxy = await ImpairmentProxy.start(port, { seed: 0x5eed, ...impairment });
    proxies.push(proxy);
    // The library's 5 s handshake budget, times the suite's patience: the server may answer late on a loaded machine.
    const session = await connect({ port: proxy.port, allowSeed: false, attempts: NEGOTIATION_REPEAT * PATIENCE });
    sessions.push(session);
    return { server, proxy, session, endpoint: new TransferEndpoint(session, { stallMs: files.stallMs }), inbox, events };
  }

  function file(size: number, dir = tempDir('out')): { path: string; data: Buffer } {
    const data = randomBytes(size);
    const path = join(dir, `f${size}.bin`);
    writeFileSync(path, data);
    return { path, data };
  }

  it('uploads files of 0, 1, one datagram less one, one datagram and one more byte, byte-identical', async () => {
    const { endpoint, inbox } = await rig();
    for (const size of [0, 1, PAYLOAD - 1, PAYLOAD, PAYLOAD + 1]) {
      const { path, data } = file(size);
      const result = await endpoint.upload(path);
      expect(result.size).to.equal(size);
      expect(result.sha256).to.equal(sha256(data));
      expect(readFileSync(join(inbox, `f${size}.bin`)).equals(data), `size ${size}`).to.equal(true);
      expect(existsSync(join(inbox, `f${size}.bin.part`))).to.equal(false);
    }
  });

  it('moves 64 MiB with no impairment, byte-identical, with flat memory: the receiver holds at most its window, the heap does not grow with the file', async () => {
    const { endpoint, inbox, proxy } = await rig();
    const size = 64 * 1024 * 1024;
    const { path, data } = file(size);
    // Every receiver in this process (the server's) is watched: the most it held after any datagram.
    const onData = StreamReceiver.prototype.onData;
    let held = 0;
    let frames = 0;
    StreamReceiver.prototype.onData = function (this: StreamReceiver, packet: number, offset: number, body: Buffer): DataVerdict {
      const verdict = onData.call(this, packet, offset, body);
      frames++;
      held = Math.max(held, this.held);
      return verdict;
    };
    // Live memory, after a full collection (garbage left for the collector says nothing about what the transfer keeps).
    const memory = (): number => {
      collectGarbage();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const before = memory();
    /** Growth over `before` at each sixteenth of the file. */
    const samples: Array<{ done: number; growth: number }> = [];
    let result;
    try {
      result = await endpoint.upload(path, {
        as: 'big.bin',
        onProgress: (done) => {
          if (done < (samples.length * size) / 16) return;
          samples.push({ done, growth: memory() - before });
        },
      });
    } finally {
      StreamReceiver.prototype.onData = onData;
    }
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
    const most = (list: typeof samples): number => Math.max(...list.map((sample) => sample.growth));
    // After the first eighth: by then both windows and the read-ahead are full, as they stay.
    const firstHalf = samples.filter((sample) => sample.done >= size / 8 && sample.done < size / 2);
    const secondHalf = samples.filter((sample) => sample.done >= size / 2);
    console.log(`      receiver held at most ${mib(held)} MiB over ${frames} datagrams; live heap and buffers grew at most `
      + `${mib(most(firstHalf))} MiB in the first half, ${mib(most(secondHalf))} MiB in the second`);
    expect(frames, 'the receiver was watched').to.be.at.least(Math.ceil(size / PAYLOAD));
    expect(held, 'bytes held by the receiver').to.be.at.most(RECEIVE_WINDOW_BYTES);
    expect(firstHalf.length, 'samples in the first half').to.be.at.least(3);
    expect(secondHalf.length, 'samples in the second half').to.be.at.least(4);
    // Both ends are in this process, each with its window and read-ahead: a fixed amount, nothing near the file's size.
    expect(most(samples), 'growth of live heap and buffers').to.be.below(size / 2);
    // Flat: the second 32 MiB add no more than what both ends may hold at any moment (the sender's
    // read-ahead of a window and a block, the receiver's window: 17 MiB, caught at different
    // fullness by the samples); memory growing with the file would add about 32 MiB.
    expect(most(secondHalf) - most(firstHalf), 'growth from the first half to the second').to.be.below(24 * 2 ** 20);
    expect(readFileSync(join(inbox, 'big.bin')).equals(data)).to.equal(true);
    expect(result.stats.packets).to.be.at.least(Math.ceil(data.length / PAYLOAD));
    expect(proxy.toServer.dropped).to.equal(0);
  });

  it('moves 16 MiB through 5% loss, 2% duplication and reordering, byte-identical', async () => {
    const { endpoint, inbox, proxy } = await rig({ drop: 0.05, duplicate: 0.02, reorder: 0.02 });
    const { path, data } = file(16 * 1024 * 1024);
    const result = await endpoint.upload(path, { as: 'lossy.bin' });
    expect(readFileSync(join(inbox, 'lossy.bin')).equals(data)).to.equal(true);
    expect(proxy.toServer.dropped + proxy.toClient.dropped).to.be.greaterThan(100);
    expect(proxy.toServer.duplicated).to.be.greaterThan(10);
    expect(result.stats.retransmits).to.be.greaterThan(0);
  });

  it('downloads through loss, to a chosen path', async () => {
    const { endpoint, inbox } = await rig({ drop: 0.03, reorder: 0.02 });
    const data = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(inbox, 'served.bin'), data);
    const out = join(tempDir('down'), 'copy.bin');
    const result = await endpoint.download('served.bin', { out });
    expect(result.direction).to.equal('receive');
    expect(readFileSync(out).equals(data)).to.equal(true);
    expect(existsSync(`${out}.part`)).to.equal(false);
  });

  it('an interrupted upload resumes from the part file and verifies', async () => {
    const { endpoint, inbox, events } = await rig({ delayMs: 1 });
    const { path, data } = file(12 * 1024 * 1024);
    let seen = 0;
    const upload = endpoint.upload(path, {
      as: 'resumed.bin',
      onProgress: (done) => {
        seen = done;
        if (done > 2 * 1024 * 1024) endpoint.cancel('test interruption');
      },
    });
    const err = await upload.then(() => null, (e: Error) => e);
    expect(err).to.be.instanceOf(TransferError);
    expect(err!.message).to.match(/test interruption/);
    // The server learns of the interruption from our abort, then closes its part file.
    expect(await eventually(() => events.some((e) => e.kind === 'failed'), 2_000)).to.equal(true);
    const part = join(inbox, 'resumed.bin.part');
    expect(existsSync(join(inbox, 'resumed.bin'))).to.equal(false);
    const kept = readFileSync(part);
    expect(kept.equals(data.subarray(0, kept.length)), 'the part file holds exactly a prefix').to.equal(true);
    expect(seen).to.be.greaterThan(2 * 1024 * 1024);

    const result = await endpoint.upload(path, { as: 'resumed.bin', resume: true });
    expect(result.offset).to.equal(kept.length);
    expect(result.restarted).to.equal(false);
    expect(readFileSync(join(inbox, 'resumed.bin')).equals(data)).to.equal(true);
    expect(existsSync(part)).to.equal(false);
  });

  it('a corrupted part file is caught by the hash and the transfer starts over', async () => {
    const { endpoint, inbox } = await rig();
    const { path, data } = file(2 * 1024 * 1024);
    const part = join(inbox, 'c.bin.part');
    const corrupt = Buffer.from(data.subarray(0, 1024 * 1024));
    corrupt[1000] = corrupt[1000]! ^ 0xff;
    writeFileSync(part, corrupt);
    const result = await endpoint.upload(path, { as: 'c.bin', resume: true });
    expect(result.offset).to.equal(0);
    expect(result.restarted).to.equal(true);
    expect(readFileSync(join(inbox, 'c.bin')).equals(data)).to.equal(true);
  });

  it('a part file longer than the file is discarded, and a resume of a complete part just verifies', async () => {
    const { endpoint, inbox } = await rig();
    const { path, data } = file(100_000);
    writeFileSync(join(inbox, 'long.bin.part'), Buffer.concat([data, Buffer.from('extra')]));
    expect((await endpoint.upload(path, { as: 'long.bin', resume: true })).offset).to.equal(0);
    writeFileSync(join(inbox, 'whole.bin.part'), data);
    const whole = await endpoint.upload(path, { as: 'whole.bin', resume: true });
    expect(whole.offset).to.equal(data.length);
    expect(whole.stats.packets).to.equal(0);
    expect(readFileSync(join(inbox, 'whole.bin')).equals(data)).to.equal(true);
  });

  it('an interrupted download resumes too', async () => {
    const { endpoint, inbox } = await rig({ delayMs: 1 });
    const data = randomBytes(10 * 1024 * 1024);
    writeFileSync(join(inbox, 'd.bin'), data);
    const out = join(tempDir('down'), 'd.bin');
    const first = endpoint.download('d.bin', {
      out,
      onProgress: (done) => {
        if (done > 1024 * 1024) endpoint.cancel('stop');
      },
    });
    expect(await first.then(() => null, (e: Error) => e)).to.be.instanceOf(TransferError);
    const kept = readFileSync(`${out}.part`).length;
    expect(kept).to.be.greaterThan(0);
    const result = await endpoint.download('d.bin', { out, resume: true });
    expect(result.offset).to.equal(kept);
    expect(readFileSync(out).equals(data)).to.equal(true);
  });

  it('files into and out of a tree: relative paths land inside the directory and are fetched from it, empty directories are made, and every hostile path is refused', async () => {
    const { endpoint, session, inbox } = await rig();
    const data = randomBytes(5000);
    const src = join(tempDir('tree-src'), 'f.bin');
    writeFileSync(src, data);
    await endpoint.upload(src, { as: 'top/sub/f.bin' });
    expect(readFileSync(join(inbox, 'top', 'sub', 'f.bin')).equals(data)).to.equal(true);
    await endpoint.makeDirectory('top/empty/deeper');
    expect(statSync(join(inbox, 'top', 'empty', 'deeper')).isDirectory()).to.equal(true);

    // A link planted in the directory is never followed: the offer through it is refused, nothing lands outside.
    const outside = tempDir('outside');
    symlinkSync(outside, join(inbox, 'escape'));
    const hostile = [
      '../x', '/etc/x', 'a//b', 'a/./b', 'a/../../b', 'a/', '/', 'a/b\\c', 'a\u0000b/c', 'a/\u202eb', 'a/x.part/b',
      `${'d/'.repeat(32)}f`, `a/${'n'.repeat(251)}`, 'escape/f', 'top/sub/f.bin/g',
    ];
    let id = 101;
    for (const name of hostile) {
      const offer = await rawRequest(session, id += 2, { type: 'offer', name, size: 1, resume: false, overwrite: false });
      expect(offer?.type, `offer ${JSON.stringify(name)}: ${JSON.stringify(offer)}`).to.equal('reject');
      const mkdir = await rawRequest(session, id += 2, { type: 'mkdir', name });
      expect(mkdir?.type, `mkdir ${JSON.stringify(name)}: ${JSON.stringify(mkdir)}`).to.equal('reject');
    }
    expect(readdirSync(outside)).to.deep.equal([]);
    expect(readdirSync(inbox).sort()).to.deep.equal(['escape', 'top']);
    // A download reaches a file of the tree by its path, through real directories only; every hostile path is refused.
    const copy = join(tempDir('tree-copy'), 'f.bin');
    await endpoint.download('top/sub/f.bin', { out: copy });
    expect(readFileSync(copy).equals(data)).to.equal(true);
    for (const name of hostile) {
      const get = await rawRequest(session, id += 2, { type: 'get', name, offset: 0 });
      expect(get?.type, `get ${JSON.stringify(name)}: ${JSON.stringify(get)}`).to.equal('reject');
    }
  });

  it('a resumed download never tells its part file\'s hash: the server proves its prefix and waits for the decision', async () => {
    const { session, inbox } = await rig();
    const data = randomBytes(300_000);
    writeFileSync(join(inbox, 'proved.bin'), data);
    const accept = await rawRequest(session, 41, { type: 'get', name: 'proved.bin', offset: 100_000 });
    // The served file's time and permission bits ride along, for the downloader to keep.
    const { mtimeMs, mode } = statSync(join(inbox, 'proved.bin'));
    const metadata = { mtime: Math.floor(mtimeMs), mode: mode & 0o777 };
    expect(accept).to.deep.equal({ type: 'accept', offset: 100_000, size: data.length, prefix: sha256(data.subarray(0, 100_000)), ...metadata, short: true });
    // Nothing flows until the downloader decides; the decision is answered with where data starts.
    const secure = session as SecureSession;
    let dataFrames = 0;
    secure.frameHandler = { receiveFrame: (flags) => { if (flags === TransferFlags.DATA) dataFrames++; } };
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(dataFrames).to.equal(0);
    expect(await rawRequest(session, 41, { type: 'continue', offset: 100_000 })).to.deep.equal({ type: 'resumed', offset: 100_000 });
    // A get without a part file is answered with no proof, and its data starts at once.
    expect(await rawRequest(session, 43, { type: 'get', name: 'proved.bin', offset: 0 })).to.deep.equal({ type: 'accept', offset: 0, size: data.length, prefix: '', ...metadata, short: true });
  });

  it('a download whose part file differs from the server\'s file starts over, decided by the downloader', async () => {
    const { endpoint, inbox } = await rig();
    const data = randomBytes(2 * 1024 * 1024);
    writeFileSync(join(inbox, 'e.bin'), data);
    const out = join(tempDir('down'), 'e.bin');
    const corrupt = Buffer.from(data.subarray(0, 1024 * 1024));
    corrupt[10] = corrupt[10]! ^ 0xff;
    writeFileSync(`${out}.part`, corrupt);
    const result = await endpoint.download('e.bin', { out, resume: true });
    expect(result.offset).to.equal(0);
    expect(result.restarted).to.equal(true);
    expect(readFileSync(out).equals(data)).to.equal(true);
  });

  describe('refusals (the session survives each)', () => {
    it('path traversal and bad names are refused by the server, and nothing is written anywhere around the directory, part files included', async () => {
      // The jail is three levels down, so every traversal below lands somewhere this test watches.
      const root = tempDir('jail');
      const inbox = join(root, 'a', 'b', 'inbox');
      mkdirSync(inbox, { recursive: true });
      const tree = (): string[] => readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
      const before = tree();
      const { session } = await rig({}, { dir: inbox });
      let id = 101;
      // `a/b` names a file in a tree (accepted: 'files into a tree…'); every path that leaves, or hides, a level is not.
      const names = ['../escape', '../../escape', '../../../escape', join(root, 'abs'), 'a//b', 'a/./b', 'a/../b', '..', '.', 'x\0y', 'new\nline', 'sneaky.part',
        'back\\slash', '../inbox/../escape'];
      for (const name of names) {
        const answer = await rawRequest(session, id += 2, { type: 'offer', name, size: 5, resume: false, overwrite: true });
        expect(answer?.type, name).to.equal('reject');
        expect((answer as { reason: string }).reason).to.match(/refused name/);
      }
      const get = await rawRequest(session, id += 2, { type: 'get', name: '../../etc/passwd', offset: 0 });
      expect(get?.type).to.equal('reject');
      expect(tree(), 'no file or part file appeared in or around the directory').to.deep.equal(before);
      expect(readdirSync(inbox)).to.deep.equal([]);
      expect(session.closed).to.equal(false);
      await session.ping(10_000);
    });

    it('the client refuses bad names before asking', async () => {
      const { endpoint } = await rig();
      const { path } = file(10);
      for (const as of ['../x', 'a//b', '/abs', '']) {
        expect(await endpoint.upload(path, { as }).then(() => null, (e: Error) => e.message)).to.match(/cannot send as/);
      }
      expect(await endpoint.download('../x').then(() => null, (e: Error) => e.message)).to.match(/cannot get/);
    });

    it('a server without a directory refuses files, but allows a bandwidth test', async () => {
      const { endpoint, session } = await rig({}, { dir: null });
      const { path } = file(10);
      expect(await endpoint.upload(path).then(() => null, (e: Error) => e.message)).to.match(/accepts no files/);
      expect(await endpoint.download('x').then(() => null, (e: Error) => e.message)).to.match(/accepts no files/);
      const bw = await endpoint.bandwidth('up', 1);
      expect(bw.size).to.be.greaterThan(0);
      expect(session.closed).to.equal(false);
    });

    it('downloads are refused without allowDownload; symbolic links out of the directory are never followed', async () => {
      const secret = join(tempDir('secret'), 'secret.txt');
      writeFileSync(secret, 'top secret');
      const closed = await rig({}, { allowDownload: false });
      expect(await closed.endpoint.download('x', { out: join(tempDir('o'), 'x') }).then(() => null, (e: Error) => e.message)).to.match(/serves no downloads/);
      const open = await rig({}, { allowDownload: true });
      symlinkSync(secret, join(open.inbox, 'link.txt'));
      const out = join(tempDir('o'), 'link.txt');
      expect(await open.endpoint.download('link.txt', { out }).then(() => null, (e: Error) => e.message)).to.match(/symbolic link/);
      expect(existsSync(out)).to.equal(false);
    });

    it('an existing file is kept unless overwrite is asked', async () => {
      const { endpoint, inbox } = await rig();
      writeFileSync(join(inbox, 'keep.bin'), 'original');
      const { path, data } = file(5000);
      expect(await endpoint.upload(path, { as: 'keep.bin' }).then(() => null, (e: Error) => e.message)).to.match(/already exists/);
      expect(readFileSync(join(inbox, 'keep.bin'), 'utf8')).to.equal('original');
      await endpoint.upload(path, { as: 'keep.bin', overwrite: true });
      expect(readFileSync(join(inbox, 'keep.bin')).equals(data)).to.equal(true);
    });

    it('a receiver that cannot write reports why on both sides', async () => {
      const { endpoint, inbox, events } = await rig();
      mkdirSync(join(inbox, 'blocked.bin.part')); // the part file cannot be created
      const { path } = file(1000);
      expect(await endpoint.upload(path, { as: 'blocked.bin' }).then(() => null, (e: Error) => e.message)).to.match(/blocked\.bin\.part: is a directory/);
      expect(events.some((e) => e.kind === 'failed')).to.equal(false); // refused before it started
      const ok = file(1000);
      await endpoint.upload(ok.path);
    });

    it(process.getuid?.() === 0
      ? 'a download never goes into a part file another user planted in a shared --out directory (as root: a file chowned to uid 4242 stands for another user\'s)'
      : 'a download into a shared --out directory: another user\'s part file cannot be made here (not root), so only our own 0666 part, which is replaced by a new 0600 one, is checked',
    async () => {
      const { endpoint, inbox } = await rig();
      const data = randomBytes(50_000);
      writeFileSync(join(inbox, 'report.pdf'), data);
      const shared = tempDir('shared-out');
      chmodSync(shared, 0o1777);
      const out = join(shared, 'report.pdf');
      writeFileSync(`${out}.part`, 'planted');
      chmodSync(`${out}.part`, 0o666);
      if (process.getuid?.() === 0) {
        chownSync(`${out}.part`, 4242, 4242);
        for (const resume of [false, true]) {
          const reason = await endpoint.download('report.pdf', { out, resume }).then(() => 'downloaded', (e: Error) => e.message);
          expect(reason, `resume ${resume}`).to.match(/report\.pdf\.part: belongs to another user \(uid 4242\)/);
        }
        expect(readFileSync(`${out}.part`, 'utf8')).to.equal('planted');
        expect(existsSync(out)).to.equal(false);
        chownSync(`${out}.part`, process.getuid(), process.getuid());
      }
      // Our own part file, once writable by others, is not continued, and a fresh download does not reuse it.
      expect(await endpoint.download('report.pdf', { out, resume: true }).then(() => 'downloaded', (e: Error) => e.message)).to.match(/group or others can write it/);
      chmodSync(join(inbox, 'report.pdf'), 0o640);
      await endpoint.download('report.pdf', { out });
      expect(readFileSync(out).equals(data)).to.equal(true);
      // The served file's bits (the download keeps them), not the planted part's 0666.
      expect(statSync(out).mode & 0o777).to.equal(0o640 & ~process.umask());
    });

    it('a disk that fills up mid-transfer fails the upload on both sides with the reason; the session goes on', async () => {
      const { endpoint, inbox, events } = await rig();
      const { path } = file(8 * 1024 * 1024);
      // The real FileSink, until 1 MiB is written: then the disk is full (ENOSPC, as write(2) reports it).
      const write = FileSink.prototype.write;
      let written = 0;
      FileSink.prototype.write = async function (this: FileSink, chunks: Buffer[]): Promise<void> {
        written += chunks.reduce((n, c) => n + c.length, 0);
        if (written > 1024 * 1024) throw new TransferFileError(describeFsError(Object.assign(new Error('full'), { code: 'ENOSPC' }), 'full.bin.part'));
        return write.call(this, chunks);
      };
      try {
        const err = await endpoint.upload(path, { as: 'full.bin' }).then(() => null, (e: Error) => e);
        expect(err?.message).to.equal('the peer aborted: full.bin.part: no space left on the device');
      } finally {
        FileSink.prototype.write = write;
      }
      expect(await eventually(() => events.some((e) => e.kind === 'failed'), 2_000)).to.equal(true);
      expect((events.find((e) => e.kind === 'failed') as { reason: string }).reason).to.match(/no space left/);
      expect(existsSync(join(inbox, 'full.bin'))).to.equal(false);
      const after = file(2048);
      await endpoint.upload(after.path);
    });

    it('an upload whose done message carries a wrong SHA-256 is refused on both sides; no file appears; a resume of the kept part verifies', async () => {
      const { endpoint, inbox, events } = await rig();
      const { path, data } = file(3 * PAYLOAD + 100);
      // The sender hashes what it sent and reports one hex digit off: what a lying or corrupting sender tells.
      const digest = FileSource.prototype.digest;
      FileSource.prototype.digest = function (this: FileSource): string {
        const real = digest.call(this);
        return (real[0] === '0' ? '1' : '0') + real.slice(1);
      };
      let err: Error | null;
      try {
        err = await endpoint.upload(path, { as: 'lied.bin' }).then(() => null, (e: Error) => e);
      } finally {
        FileSource.prototype.digest = digest;
      }
      expect(err?.message).to.match(/SHA-256 mismatch/);
      expect(await eventually(() => events.some((e) => e.kind === 'failed'), 5_000)).to.equal(true);
      expect((events.find((e) => e.kind === 'failed') as { reason: string }).reason).to.match(/SHA-256 mismatch/);
      expect(events.some((e) => e.kind === 'finished'), 'no finished transfer').to.equal(false);
      expect(existsSync(join(inbox, 'lied.bin')), 'no file in place').to.equal(false);
      expect(readFileSync(join(inbox, 'lied.bin.part')).equals(data), 'the received bytes are kept in the part file').to.equal(true);
      // Positive control: the honest digest, over the same bytes, puts the file in place.
      const result = await endpoint.upload(path, { as: 'lied.bin', resume: true });
      expect(result.offset).to.equal(data.length);
      expect(readFileSync(join(inbox, 'lied.bin')).equals(data)).to.equal(true);
    });

    it('a file that shrinks while it is sent fails on both sides; nothing half-written appears; the session goes on', async () => {
      const { endpoint, inbox, events } = await rig({ delayMs: 1 });
      const { path } = file(32 * 1024 * 1024);
      const err = await endpoint.upload(path, {
        as: 'shrinks.bin',
        onProgress: (done) => {
          if (done > 512 * 1024) truncateSync(path, 1024 * 1024);
        },
      }).then(() => null, (e: Error) => e);
      expect(err?.message).to.match(/source ended at byte/);
      expect(await eventually(() => events.some((e) => e.kind === 'failed'), 2_000)).to.equal(true);
      const failed = events.find((e) => e.kind === 'failed') as Extract<TransferEvent, { kind: 'failed' }>;
      expect(failed.reason).to.match(/peer aborted/);
      expect(existsSync(join(inbox, 'shrinks.bin'))).to.equal(false);
      const after = file(4096);
      await endpoint.upload(after.path);
      expect(readFileSync(join(inbox, 'f4096.bin')).equals(after.data)).to.equal(true);
    });

    it('a hostile peer cannot make the receiver accept data outside the window or a different size', async () => {
      const { session, server } = await rig();
      const before = server.counters.dropsOf('bad-transfer');
      const secure = session as SecureSession;
      secure.sendUnlossy({ flags: TransferFlags.DATA, channel: 777, sequence: 0, offset: 0 }, Buffer.alloc(10));
      secure.sendUnlossy({ flags: TransferFlags.ACK, channel: 777, sequence: 0, offset: 0 }, Buffer.alloc(3));
      secure.sendUnlossy({ flags: TransferFlags.CONTROL, channel: 777, sequence: 0, offset: 0 }, Buffer.from('not json'));
      secure.sendUnlossy({ flags: TransferFlags.CONTROL, channel: 778, sequence: 0, offset: 0 }, encodeMessage({ type: 'offer', name: 'even-id', size: 1, resume: false, overwrite: false }));
      expect(await eventually(() => server.counters.dropsOf('bad-transfer') - before === 4, 2_000)).to.equal(true);
      await session.ping(10_000);
    });
  });

  it('a link that goes dead mid-transfer fails on both sides after the stall time, and the upload resumes once it is back', async () => {
    const { endpoint, inbox, events, proxy } = await rig({}, { stallMs: 1_000 });
    const { path, data } = file(24 * 1024 * 1024);
    let paused = 0;
    const err = await endpoint.upload(path, {
      as: 'dead.bin',
      onProgress: (done) => {
        if (done > 2 * 1024 * 1024 && paused === 0) {
          paused = performance.now();
          proxy.pause();
        }
      },
    }).then(() => null, (e: Error) => e);
    expect(err?.message).to.match(/acknowledged nothing for 1 s/);
    // Not before the stall time (the last acknowledgement came just before the pause); late timers only make it later.
    expect(performance.now() - paused).to.be.at.least(900);
    expect(await eventually(() => events.some((e) => e.kind === 'failed'), 3_000)).to.equal(true);
    expect((events.find((e) => e.kind === 'failed') as { reason: string }).reason).to.match(/sent nothing for 1 s/);
    expect(existsSync(join(inbox, 'dead.bin'))).to.equal(false);
    proxy.resume();
    const result = await endpoint.upload(path, { as: 'dead.bin', resume: true });
    expect(result.offset).to.be.greaterThan(0);
    expect(readFileSync(join(inbox, 'dead.bin')).equals(data)).to.equal(true);
  });

  it('an endpoint told not to answer its peer refuses transfers the peer starts', async () => {
    const { server, session } = await rig();
    const [serverSession] = [...server.sessions()];
    const serverSide = new TransferEndpoint(serverSession!);
    new TransferEndpoint(session, { answerPeer: false });
    expect(await serverSide.bandwidth('up', 1).then(() => null, (e: Error) => e.message)).to.equal('the peer refused: this side does not take transfers it did not start');
  });

  it('resumes correctly over a slow link (round trip above the control retry time) when the part file differs', async () => {
    const { endpoint, inbox } = await rig({ delayMs: 130 });
    const { path, data } = file(300_000);
    writeFileSync(join(inbox, 'slow.bin.part'), randomBytes(100_000));
    const result = await endpoint.upload(path, { as: 'slow.bin', resume: true });
    expect(result.offset).to.equal(0);
    expect(readFileSync(join(inbox, 'slow.bin')).equals(data)).to.equal(true);
  });

  it('a resume sent after done cannot empty the part file under the hash check', async () => {
    const { session, inbox, events } = await rig();
    const data = randomBytes(200_000);
    writeFileSync(join(inbox, 'late.bin.part'), data);
    const secure = session as SecureSession;
    const control = (message: TransferMessage): void => {
      secure.sendUnlossy({ flags: TransferFlags.CONTROL, channel: 9, sequence: 0, offset: 0 }, encodeMessage(message));
    };
    control({ type: 'offer', name: 'late.bin', size: data.length, resume: true, overwrite: false });
    expect(await eventually(() => events.some((e) => e.kind === 'started'), 2_000)).to.equal(true);
    control({ type: 'done', size: data.length, sha256: sha256(data), stats: { packets: 0, retransmits: 0, srtt: null, minRtt: null } });
    control({ type: 'resume', offset: data.length, prefix: 'ab'.repeat(32) });
    expect(await eventually(() => events.some((e) => e.kind !== 'started'), 3_000)).to.equal(true);
    if (existsSync(join(inbox, 'late.bin'))) expect(readFileSync(join(inbox, 'late.bin')).equals(data)).to.equal(true);
    else expect(readFileSync(join(inbox, 'late.bin.part')).equals(data)).to.equal(true);
  });

  it('empty probe frames alone do not keep an upload (and the name it holds) alive', async () => {
    const { session, events } = await rig({}, { stallMs: 600 });
    const secure = session as SecureSession;
    const offer = { type: 'offer', name: 'held.bin', size: 5_000_000, resume: false, overwrite: false } as const;
    expect((await rawRequest(session, 11, offer))?.type).to.equal('accept');
    const probes = setInterval(() => secure.sendUnlossy({ flags: TransferFlags.DATA, channel: 11, sequence: 0, offset: 0 }, Buffer.alloc(0)), 100);
    try {
      expect(await eventually(() => events.some((e) => e.kind === 'failed'), 3_000)).to.equal(true);
    } finally {
      clearInterval(probes);
    }
    expect((events.find((e) => e.kind === 'failed') as { reason: string }).reason).to.match(/sent nothing/);
    // The name is let go as the failed upload's part file closes, just after the event: ask until it is free, within a generous deadline.
    let again: TransferMessage | null = null;
    for (let id = 13; id < 13 + 2 * 50 && again?.type !== 'accept'; id += 2) {
      again = await rawRequest(session, id, offer);
      if (again?.type !== 'accept') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(again?.type, 'the name is free again').to.equal('accept');
  });

  it('bandwidth tests run both ways for the time asked and report sender statistics', async () => {
    const { endpoint } = await rig();
    let progress = 0;
    const up = await endpoint.bandwidth('up', 1, { onProgress: (bytes) => { progress = bytes; } });
    // How much moves in a second depends on the machine; that data moved, and was counted consistently, does not.
    expect(up.size).to.be.at.least(PAYLOAD);
    expect(progress).to.be.at.most(up.size).and.greaterThan(0);
    expect(up.stats.packets).to.be.at.least(Math.floor(up.size / PAYLOAD));
    expect(up.seconds, 'runs for the second asked (a loaded machine only makes it longer)').to.be.at.least(1);
    const down = await endpoint.bandwidth('down', 1);
    expect(down.direction).to.equal('receive');
    expect(down.size).to.be.at.least(PAYLOAD);
    // Counted from the request, which reaches the peer before its second of sending starts.
    expect(down.seconds, 'the receiving side covers the peer\'s second').to.be.at.least(1);
    expect(down.stats.packets).to.be.at.least(Math.floor(down.size / PAYLOAD));
    expect(down.stats.srtt).to.be.a('number');
  });
});
