import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BACKGROUND_SYNC_BYTES, PART_HASHES_REMEMBERED, PREFIX_HASHES_REMEMBERED, READ_BLOCK_BYTES } from '../../lib/constants.js';
import type { HashControl } from '../../lib/transfer/hashing.js';
import { describeFsError, FileSink, FileSource, TransferFileError } from '../../lib/transfer/files.js';
import { tempDir } from '../helpers/tmp.js';

/** File behaviour files.test.ts left open, found by mutation testing (npm run mutate). */

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const failure = (p: Promise<unknown>): Promise<Error | null> => p.then(() => null, (e: Error) => e);

/** A HashControl that counts the bytes reported and stops once `stopAfter` bytes are reported. */
function counter(stopAfter = Infinity): HashControl & { bytes: number; calls: number } {
  return {
    bytes: 0,
    calls: 0,
    stopped() { return this.bytes >= stopAfter ? 'stopped by the test' : undefined; },
    hashed(n: number) { this.bytes += n; this.calls++; },
  };
}

/**
 * A FileSink over a stand-in file handle (the constructor is private to TypeScript only): lets a
 * test make writev(2) write less than asked, or the size on disk differ, as a full disk would.
 */
function sinkOver(handle: Partial<FileHandle>, label = 'x'): FileSink {
  const Sink = FileSink as unknown as new (path: string, partPath: string, partLabel: string, label: string, handle: Partial<FileHandle>) => FileSink;
  return new Sink(`/nonexistent/${label}`, `/nonexistent/${label}.part`, `${label}.part`, label, handle);
}

/** A stand-in handle that writes into `store`, at most `max` bytes a call (0: writes nothing). */
function shortWriter(store: Buffer[], max: number, onDisk?: () => number): Partial<FileHandle> {
  return {
    writev: (async (buffers: NodeJS.ArrayBufferView[], position?: number | null) => {
      const all = Buffer.concat(buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
      const n = Math.min(max, all.length);
      store.push(Buffer.from(`@${position}:`), all.subarray(0, n));
      return { bytesWritten: n, buffers };
    }) as FileHandle['writev'],
    sync: async () => undefined,
    stat: (async () => ({ size: onDisk?.() ?? 0 })) as unknown as FileHandle['stat'],
    close: async () => undefined,
  };
}

describe('transfer/files: errors, hash states and partial writes', () => {
  it('describeFsError names the file and the problem for each error code a user can act on, and never Node\'s message', () => {
    const e = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: something at /secret/full/path`), { code });
    expect(describeFsError(e('ENOENT'), 'f')).to.equal('f: no such file');
    expect(describeFsError(e('EACCES'), 'f')).to.equal('f: permission denied');
    expect(describeFsError(e('EPERM'), 'f')).to.equal('f: permission denied');
    expect(describeFsError(e('ENOSPC'), 'f')).to.equal('f: no space left on the device');
    expect(describeFsError(e('EDQUOT'), 'f')).to.equal('f: disk quota exceeded');
    expect(describeFsError(e('EISDIR'), 'f')).to.equal('f: is a directory');
    expect(describeFsError(e('ELOOP'), 'f')).to.equal('f: is a symbolic link (refused)');
    expect(describeFsError(e('EEXIST'), 'f')).to.equal('f: already exists');
    expect(describeFsError(e('EROFS'), 'f')).to.equal('f: read-only file system');
    expect(describeFsError(e('ENAMETOOLONG'), 'f')).to.equal('f: name too long');
    // Any other code: the code alone (Node's message names the full path).
    expect(describeFsError(e('EIO'), 'f')).to.equal('f: EIO');
    // No code: the message; our own error: its message as it is.
    expect(describeFsError(new Error('plain'), 'f')).to.equal('f: plain');
    expect(describeFsError(new TransferFileError('told as it is'), 'f')).to.equal('told as it is');
    expect(new TransferFileError('m').code).to.equal('ERR_TRANSFER_FILE');
  });

  it('a fresh receive refuses a directory or a symbolic link where the part file goes, and leaves them', async () => {
    const dir = tempDir('sink');
    mkdirSync(join(dir, 'd.part'));
    const target = join(tempDir('elsewhere'), 't');
    writeFileSync(target, 'x');
    symlinkSync(target, join(dir, 's.part'));
    expect((await failure(FileSink.open(join(dir, 'd'), false, 'd')))?.message).to.equal('d.part: is a directory');
    expect((await failure(FileSink.open(join(dir, 'd'), true, 'd')))?.message).to.equal('d.part: is a directory');
    expect((await failure(FileSink.open(join(dir, 's'), false, 's')))?.message).to.equal('s.part: is a symbolic link (refused)');
    expect(statSync(join(dir, 'd.part')).isDirectory()).to.equal(true);
    expect(readFileSync(join(dir, 's.part'), 'utf8')).to.equal('x');
  });

  it('a part file whose directory cannot be looked up fails with the reason, as an error of ours', async () => {
    const dir = tempDir('sink');
    writeFileSync(join(dir, 'plain'), 'a file, not a directory');
    for (const resume of [false, true]) {
      const err = await failure(FileSink.open(join(dir, 'plain', 'n'), resume, 'n'));
      expect(err, `resume ${resume}`).to.be.instanceOf(TransferFileError);
      expect(err!.message).to.equal('n.part: ENOTDIR');
    }
  });

  it('resuming refuses a part file its group can write, and one others can write; read access alone is fine', async () => {
    const dir = tempDir('sink');
    const part = join(dir, 'w.part');
    writeFileSync(part, 'abc');
    for (const mode of [0o620, 0o602]) {
      chmodSync(part, mode);
      const err = await failure(FileSink.open(join(dir, 'w'), true, 'w'));
      expect(err?.message, mode.toString(8)).to.equal('w.part: its group or others can write it; remove it, or run chmod go-w on it to resume');
      expect(statSync(part).mode & 0o777).to.equal(mode);
    }
    chmodSync(part, 0o604);
    const sink = await FileSink.open(join(dir, 'w'), true, 'w');
    expect(sink.length).to.equal(3);
    expect(statSync(part).mode & 0o777).to.equal(0o600);
    await sink.close();
  });

  it('resuming a part file already 0600 leaves it untouched (no chmod, so its ctime, which dates a remembered hash, stays)', async () => {
    const dir = tempDir('sink');
    const part = join(dir, 'c.part');
    writeFileSync(part, 'abc', { mode: 0o600 });
    const before = statSync(part, { bigint: true }).ctimeNs;
    // Wait (by events, not a budget) until the file system's clock has moved past that ctime, so a
    // chmod now would give the file a later one.
    const probe = join(dir, 'probe');
    for (let i = 0; ; i++) {
      writeFileSync(probe, String(i));
      chmodSync(probe, i % 2 === 0 ? 0o600 : 0o640);
      if (statSync(probe, { bigint: true }).ctimeNs > before) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const sink = await FileSink.open(join(dir, 'c'), true, 'c');
    await sink.close();
    expect(statSync(part, { bigint: true }).ctimeNs).to.equal(before);
    // Positive control: a part at 0640 is chmodded, and its ctime moves.
    chmodSync(part, 0o640);
    const changed = statSync(part, { bigint: true }).ctimeNs;
    for (let i = 0; ; i++) {
      writeFileSync(probe, String(i));
      chmodSync(probe, i % 2 === 0 ? 0o600 : 0o640);
      if (statSync(probe, { bigint: true }).ctimeNs > changed) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const again = await FileSink.open(join(dir, 'c'), true, 'c');
    await again.close();
    expect(statSync(part, { bigint: true }).ctimeNs > changed).to.equal(true);
  });

  it('a resume reads what the part file holds in blocks, telling the control each block, and stops when the control says', async () => {
    const dir = tempDir('sink');
    const data = randomBytes(2 * READ_BLOCK_BYTES + 7);
    writeFileSync(join(dir, 'b.part'), data, { mode: 0o600 });
    const all = counter();
    const sink = await FileSink.open(join(dir, 'b'), true, 'b', all);
    expect(sink.length).to.equal(data.length);
    expect(sink.prefixDigest()).to.equal(sha256(data));
    expect(all.bytes).to.equal(data.length);
    expect(all.calls).to.equal(3);
    await sink.finish(sha256(data), false);

    writeFileSync(join(dir, 'c.part'), data, { mode: 0o600 });
    const stopping = counter(1);
    const err = await failure(FileSink.open(join(dir, 'c'), true, 'c', stopping));
    expect(err).to.be.instanceOf(TransferFileError);
    expect(err!.message).to.equal('stopped by the test');
    expect(stopping.bytes, 'one block, then the stop').to.equal(READ_BLOCK_BYTES);
    // Stopped before the first block: nothing read.
    const at0 = counter(0);
    expect((await failure(FileSink.open(join(dir, 'c'), true, 'c', at0)))?.message).to.equal('stopped by the test');
    expect(at0.bytes).to.equal(0);
  });

  it('a part file closed after a receive resumes from its remembered hash without reading it again, unless it changed since', async () => {
    const dir = tempDir('sink');
    const first = await FileSink.open(join(dir, 'r'), false, 'r');
    const data = randomBytes(300_000);
    await first.write([data.subarray(0, 200_000)]);
    await first.close();
    await first.close(); // a second close changes nothing

    // A control that is already stopped: any hashing would throw, so this resume hashed nothing.
    const unread = counter(0);
    const resumed = await FileSink.open(join(dir, 'r'), true, 'r', unread);
    expect(unread.bytes, 'the remembered state was used').to.equal(0);
    expect(resumed.length).to.equal(200_000);
    expect(resumed.prefixDigest()).to.equal(sha256(data.subarray(0, 200_000)));
    await resumed.write([data.subarray(200_000)]);
    await resumed.close();

    // Appended to by someone since (size, mtime and ctime change): read again, and the hash is of the file as it is.
    writeFileSync(join(dir, 'r.part'), 'more', { flag: 'a' });
    const reread = counter();
    const again = await FileSink.open(join(dir, 'r'), true, 'r', reread);
    const now = Buffer.concat([data, Buffer.from('more')]);
    expect(reread.bytes).to.equal(now.length);
    expect(again.length).to.equal(now.length);
    expect(again.prefixDigest()).to.equal(sha256(now));
    // Resumed once, the state is gone: a second sink on the same part (this one still open) reads it all.
    const twice = counter();
    const other = await FileSink.open(join(dir, 'r'), true, 'r', twice);
    expect(twice.bytes).to.equal(now.length);
    await other.close();
    await again.finish(sha256(now), false);
    expect(readFileSync(join(dir, 'r')).equals(now)).to.equal(true);
  });

  it('a state remembered for a longer file than the part now holds is not used (the part was cut short since)', async () => {
    const dir = tempDir('sink');
    const first = await FileSink.open(join(dir, 't'), false, 't');
    await first.write([Buffer.from('0123456789')]);
    await first.close();
    truncateSync(join(dir, 't.part'), 4);
    const control = counter();
    const sink = await FileSink.open(join(dir, 't'), true, 't', control);
    expect(sink.length).to.equal(4);
    expect(control.bytes).to.equal(4);
    expect(sink.prefixDigest()).to.equal(sha256('0123'));
    await sink.close();
  });

  it('a part file emptied since its state was remembered resumes from nothing', async () => {
    const dir = tempDir('sink');
    const first = await FileSink.open(join(dir, 'e'), false, 'e');
    await first.write([Buffer.from('abc')]);
    await first.close();
    truncateSync(join(dir, 'e.part'), 0);
    const sink = await FileSink.open(join(dir, 'e'), true, 'e');
    expect(sink.length).to.equal(0);
    expect(sink.prefixDigest()).to.equal('');
    await sink.write([Buffer.from('xyz')]);
    await sink.finish(sha256('xyz'), false);
    expect(readFileSync(join(dir, 'e'), 'utf8')).to.equal('xyz');
  });

  it(`remembers the hash states of the last ${PART_HASHES_REMEMBERED} part files closed, forgetting the oldest`, async () => {
    const dir = tempDir('many');
    const count = PART_HASHES_REMEMBERED + 1;
    for (let i = 0; i < count; i++) {
      const sink = await FileSink.open(join(dir, `p${i}`), false, `p${i}`);
      await sink.write([Buffer.from(`part ${i}`)]);
      await sink.close();
    }
    const oldest = counter();
    const newest = counter();
    const second = counter();
    const sinks = [
      await FileSink.open(join(dir, 'p0'), true, 'p0', oldest),
      await FileSink.open(join(dir, `p${count - 1}`), true, 'p', newest),
      await FileSink.open(join(dir, 'p1'), true, 'p1', second),
    ];
    expect(oldest.bytes, 'the oldest state was forgotten').to.equal('part 0'.length);
    expect(newest.bytes).to.equal(0);
    expect(second.bytes, 'only one was forgotten').to.equal(0);
    for (const sink of sinks) await sink.close();
  });

  it('a finished receive leaves no remembered state: a later part of the same name is read from disk', async () => {
    const dir = tempDir('sink');
    const sink = await FileSink.open(join(dir, 'f'), false, 'f');
    await sink.write([Buffer.from('first')]);
    await sink.finish(sha256('first'), false);
    writeFileSync(join(dir, 'f.part'), 'first', { mode: 0o600 });
    const control = counter();
    const again = await FileSink.open(join(dir, 'f'), true, 'f', control);
    expect(control.bytes).to.equal(5);
    await again.close();
  });

  it('restart empties the part file and starts the hash again', async () => {
    const dir = tempDir('sink');
    writeFileSync(join(dir, 'z.part'), 'stale prefix', { mode: 0o600 });
    const sink = await FileSink.open(join(dir, 'z'), true, 'z');
    expect(sink.length).to.equal(12);
    await sink.restart();
    expect(sink.length).to.equal(0);
    expect(sink.prefixDigest()).to.equal('');
    expect(statSync(join(dir, 'z.part')).size).to.equal(0);
    await sink.write([Buffer.from('fresh')]);
    expect(sink.prefixDigest()).to.equal(sha256('fresh'));
    await sink.finish(sha256('fresh'), false);
    expect(readFileSync(join(dir, 'z'), 'utf8')).to.equal('fresh');
  });

  it('finish refuses a part file that holds fewer bytes than were written, keeping it', async () => {
    const dir = tempDir('sink');
    const sink = await FileSink.open(join(dir, 'q'), false, 'q');
    await sink.write([Buffer.from('0123456789')]);
    truncateSync(join(dir, 'q.part'), 6);
    const err = await failure(sink.finish(sha256('0123456789'), false));
    expect(err).to.be.instanceOf(TransferFileError);
    expect(err!.message).to.equal('q.part holds 6 bytes, not the 10 written; kept it (resume or remove it)');
    expect(statSync(join(dir, 'q.part')).size).to.equal(6);
    // The state remembered at that close is of 10 bytes, the file holds 6 (and has not changed
    // since): a resume must count and hash the 6 on disk, not take the remembered 10.
    const resumed = await FileSink.open(join(dir, 'q'), true, 'q');
    expect(resumed.length).to.equal(6);
    expect(resumed.prefixDigest()).to.equal(sha256('012345'));
    await resumed.close();
  });

  it('finish with overwrite that cannot rename says why and that the data is complete in the part file', async () => {
    const dir = tempDir('sink');
    mkdirSync(join(dir, 'o'));
    writeFileSync(join(dir, 'o', 'inside'), 'keeps the directory non-empty');
    const sink = await FileSink.open(join(dir, 'o'), false, 'o');
    await sink.write([Buffer.from('data')]);
    const err = await failure(sink.finish(sha256('data'), true));
    expect(err).to.be.instanceOf(TransferFileError);
    expect(err!.message).to.match(/^o: (is a directory|EISDIR|ENOTEMPTY); the data is complete in o\.part$/);
    expect(readFileSync(join(dir, 'o.part'), 'utf8')).to.equal('data');
  });

  it('write keeps writing what writev(2) left, from where it stopped, until every byte is out', async () => {
    const store: Buffer[] = [];
    const sink = sinkOver(shortWriter(store, 3));
    await sink.write([Buffer.from('ab'), Buffer.from('cdef'), Buffer.from('g')]);
    expect(Buffer.concat(store).toString()).to.equal('@0:abc@3:def@6:g');
    expect(sink.length).to.equal(7);
    expect(sink.prefixDigest()).to.equal(sha256('abcdefg'));
    store.length = 0;
    await sink.write([Buffer.from('hij'), Buffer.from('k')]);
    expect(Buffer.concat(store).toString()).to.equal('@7:hij@10:k');
    expect(sink.length).to.equal(11);
  });

  it('flushes the part file in the background every BACKGROUND_SYNC_BYTES written, one flush at a time, and finish and close wait for one in flight', async () => {
    const events: string[] = [];
    let release: () => void = () => undefined;
    const handle: Partial<FileHandle> = {
      ...shortWriter([], Infinity, () => sink.length),
      datasync: () => {
        events.push('datasync');
        return new Promise<void>((resolve) => { release = () => { events.push('synced'); resolve(); }; });
      },
      sync: async () => { events.push('sync'); },
      close: async () => { events.push('close'); },
    };
    const sink = sinkOver(handle);
    const block = Buffer.alloc(BACKGROUND_SYNC_BYTES / 4);
    for (let i = 0; i < 3; i++) await sink.write([block]);
    expect(events).to.deep.equal([]);
    await sink.write([block]);
    expect(events).to.deep.equal(['datasync']);
    // Another threshold's worth while the first flush runs starts no second one.
    for (let i = 0; i < 4; i++) await sink.write([block]);
    expect(events).to.deep.equal(['datasync']);
    const finished = sink.finish(sha256(Buffer.concat(Array.from({ length: 8 }, () => block))), true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).to.deep.equal(['datasync']);
    release();
    // The rename of a path that does not exist fails; what matters is the order before it.
    await failure(finished);
    expect(events).to.deep.equal(['datasync', 'synced', 'sync', 'close']);
  });

  it('a background flush that fails fails nothing: the final sync decides', async () => {
    const dir = tempDir('bgsync');
    const sink = await FileSink.open(join(dir, 'f'), false);
    const calls: string[] = [];
    const handle = (sink as unknown as { handle: FileHandle }).handle;
    handle.datasync = () => { calls.push('datasync'); return Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })); };
    const data = randomBytes(BACKGROUND_SYNC_BYTES + 1);
    await sink.write([data]);
    await sink.finish(sha256(data), false);
    expect(calls).to.deep.equal(['datasync']);
    expect(readFileSync(join(dir, 'f')).equals(data)).to.equal(true);
  });

  it('a write that writes nothing fails as a full disk, naming the part file, and counts nothing', async () => {
    const sink = sinkOver(shortWriter([], 0), 'full');
    const err = await failure(sink.write([Buffer.from('abc')]));
    expect(err).to.be.instanceOf(TransferFileError);
    expect(err!.message).to.equal('full.part: no space left on the device');
    expect(sink.length).to.equal(0);
  });

  it('a source\'s prefix of length 0 is \'\' and reads nothing; a prefix past the end is \'\'', async () => {
    const dir = tempDir('src');
    writeFileSync(join(dir, 's'), 'short');
    const source = await FileSource.open(join(dir, 's'), true);
    const control = counter();
    expect(await source.prefixDigest(0, control)).to.equal('');
    expect(control.calls).to.equal(0);
    expect(source.digest()).to.equal(sha256(''));
    await source.close();
    const past = await FileSource.open(join(dir, 's'), true);
    expect(await past.prefixDigest(6)).to.equal('');
    await past.close();
    // The short answer was not remembered as the hash of 6 bytes.
    const again = await FileSource.open(join(dir, 's'), true);
    expect(await again.prefixDigest(6)).to.equal('');
    await again.close();
  });

  it('a source hashes a prefix block by block under its control, stops when told, and remembers a whole prefix for the same file', async () => {
    const dir = tempDir('src');
    const data = randomBytes(2 * READ_BLOCK_BYTES + 100);
    writeFileSync(join(dir, 'big'), data);
    const length = 2 * READ_BLOCK_BYTES + 10;

    const stopping = counter(1);
    const stopped = await FileSource.open(join(dir, 'big'), true);
    const err = await failure(stopped.prefixDigest(length, stopping));
    expect(err).to.be.instanceOf(TransferFileError);
    expect(err!.message).to.equal('stopped by the test');
    expect(stopping.bytes).to.equal(READ_BLOCK_BYTES);
    await stopped.close();

    // A control that says stop once the whole prefix is hashed: the work is done, the digest stands.
    const control = counter(length);
    const first = await FileSource.open(join(dir, 'big'), true);
    expect(await first.prefixDigest(length, control)).to.equal(sha256(data.subarray(0, length)));
    expect(control.bytes).to.equal(length);
    expect(control.calls).to.equal(3);
    await first.close();

    // The same file again: the remembered state, nothing read; the rest follows on from it.
    const unread = counter();
    const second = await FileSource.open(join(dir, 'big'), true);
    expect(await second.prefixDigest(length, unread)).to.equal(sha256(data.subarray(0, length)));
    expect(unread.calls).to.equal(0);
    const rest = await second.read(length, data.length - length);
    expect(rest.equals(data.subarray(length))).to.equal(true);
    expect(second.digest()).to.equal(sha256(data));
    await second.close();

    // Changed since: read again, and the digest is of the file as it is now.
    const changed = Buffer.from(data);
    changed[5] = changed[5]! ^ 1;
    writeFileSync(join(dir, 'big'), changed);
    const reread = counter();
    const third = await FileSource.open(join(dir, 'big'), true);
    expect(await third.prefixDigest(length, reread)).to.equal(sha256(changed.subarray(0, length)));
    expect(reread.bytes).to.equal(length);
    await third.close();
  });

  it(`remembers the prefix states of the last ${PREFIX_HASHES_REMEMBERED} prefixes hashed, forgetting the oldest`, async () => {
    const dir = tempDir('src');
    writeFileSync(join(dir, 'f'), randomBytes(PREFIX_HASHES_REMEMBERED + 2));
    const hash = async (length: number, control?: HashControl): Promise<void> => {
      const source = await FileSource.open(join(dir, 'f'), true);
      await source.prefixDigest(length, control);
      await source.close();
    };
    for (let length = 1; length <= PREFIX_HASHES_REMEMBERED + 1; length++) await hash(length);
    const oldest = counter();
    const newest = counter();
    const second = counter();
    await hash(PREFIX_HASHES_REMEMBERED + 1, newest);
    await hash(2, second);
    await hash(1, oldest);
    expect(newest.calls).to.equal(0);
    expect(second.calls, 'only one was forgotten').to.equal(0);
    expect(oldest.bytes, 'the oldest was forgotten').to.equal(1);
  });

  it('a hash mismatch closes the part file and remembers its state: the resume that follows reads nothing', async () => {
    const dir = tempDir('sink');
    const sink = await FileSink.open(join(dir, 'm'), false, 'm');
    await sink.write([Buffer.from('received')]);
    expect((await failure(sink.finish(sha256('other'), false)))?.message).to.match(/^SHA-256 mismatch/);
    // Closed: the sink can write no more.
    expect((await failure(sink.write([Buffer.from('more')])))?.message).to.equal('m.part: EBADF');
    const control = counter(0);
    const resumed = await FileSink.open(join(dir, 'm'), true, 'm', control);
    expect(resumed.length).to.equal(8);
    expect(resumed.prefixDigest()).to.equal(sha256('received'));
    await resumed.close();
  });

  it('a closed sink, and a closed source, can do nothing more with the file', async () => {
    const dir = tempDir('closed');
    const sink = await FileSink.open(join(dir, 'c'), false, 'c');
    await sink.close();
    expect((await failure(sink.write([Buffer.from('x')])))?.message).to.equal('c.part: EBADF');
    writeFileSync(join(dir, 's'), 'abc');
    const source = await FileSource.open(join(dir, 's'), true);
    await source.close();
    expect((await failure(source.read(0, 3)))?.message).to.match(/EBADF|closed/);
  });

  it('a source may have other hard links (only part files must not), and a read past the end returns what there is', async () => {
    const dir = tempDir('src');
    writeFileSync(join(dir, 'a'), 'hello');
    linkSync(join(dir, 'a'), join(dir, 'b'));
    const source = await FileSource.open(join(dir, 'a'), true, 'a');
    expect(source.size).to.equal(5);
    const all = await source.read(0, 10);
    expect(all.toString()).to.equal('hello');
    expect(source.digest()).to.equal(sha256('hello'));
    await source.close();
  });

  it('a fresh receive whose old part of ours cannot be removed says why, and does not write into it (as root: an immutable file)', async function () {
    const dir = tempDir('sink');
    const part = join(dir, 'i.part');
    writeFileSync(part, 'old', { mode: 0o600 });
    try {
      execFileSync('chattr', ['+i', part], { stdio: 'ignore' });
    } catch {
      this.skip(); // not root, or no chattr, or a file system without the attribute
    }
    try {
      const err = await failure(FileSink.open(join(dir, 'i'), false, 'i'));
      expect(err).to.be.instanceOf(TransferFileError);
      expect(err!.message).to.equal('i.part: permission denied');
    } finally {
      execFileSync('chattr', ['-i', part]);
    }
    expect(readFileSync(part, 'utf8')).to.equal('old');
  });
});
