import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, linkSync, openSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FileSink, FileSource, sameDigest, TransferFileError } from '../../lib/transfer/files.js';
import { tempDir } from '../helpers/tmp.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Stands for another user: only root can give a file away, and the tests run as root where they can. */
const OTHER_UID = 4242;
const ROOT = process.getuid?.() === 0;

/** A sticky, world-writable directory (as /tmp) holding `name` made by "another user", mode 0666. */
function plantedPart(name: string): { dir: string; part: string } {
  const dir = tempDir('shared');
  chmodSync(dir, 0o1777);
  const part = join(dir, `${name}.part`);
  writeFileSync(part, 'planted');
  chmodSync(part, 0o666);
  if (ROOT) chownSync(part, OTHER_UID, OTHER_UID);
  return { dir, part };
}

describe('transfer/files', () => {
  it('a sink hashes what the part file already holds, continues it, and moves it into place when the hash matches', async () => {
    const dir = tempDir('sink');
    const data = randomBytes(3 * 1024 * 1024 + 5);
    writeFileSync(join(dir, 'f.part'), data.subarray(0, 1_500_000));
    const sink = await FileSink.open(join(dir, 'f'), true);
    expect(sink.length).to.equal(1_500_000);
    expect(sink.prefixDigest()).to.equal(sha256(data.subarray(0, 1_500_000)));
    await sink.write([data.subarray(1_500_000, 2_000_000), data.subarray(2_000_000)]);
    await sink.finish(sha256(data), false);
    expect(readFileSync(join(dir, 'f')).equals(data)).to.equal(true);
    expect(existsSync(join(dir, 'f.part'))).to.equal(false);
  });

  it('refuses to resume a part file with another hard link (a second name outside the directory); nothing reaches that name', async () => {
    const dir = tempDir('linked');
    const part = join(dir, 'l.part');
    const outside = join(tempDir('elsewhere'), 'second-name');
    writeFileSync(part, 'held elsewhere');
    chmodSync(part, 0o600);
    // Someone with a second name for the part file could read the data as it arrives, or change it after the hash.
    linkSync(part, outside);
    const err = await FileSink.open(join(dir, 'l'), true, 'l').then(() => null, (e: Error) => e);
    expect(err).to.be.instanceOf(TransferFileError);
    expect(err!.message).to.equal('l.part: has other hard links (refused)');
    // Without resume the linked part file is replaced by a new one: the second name keeps only the old bytes.
    const fresh = await FileSink.open(join(dir, 'l'), false, 'l');
    await fresh.write([Buffer.from('new data')]);
    await fresh.close();
    expect(readFileSync(outside, 'utf8')).to.equal('held elsewhere');
    expect(statSync(part).nlink).to.equal(1);
    // Positive control: the same part file, once its other name is gone, resumes.
    unlinkSync(outside);
    const resumed = await FileSink.open(join(dir, 'l'), true, 'l');
    expect(resumed.length).to.equal('new data'.length);
    await resumed.close();
  });

  it('without resume the part file starts empty; an empty part has no prefix digest', async () => {
    const dir = tempDir('sink');
    writeFileSync(join(dir, 'g.part'), 'old bytes');
    const sink = await FileSink.open(join(dir, 'g'), false);
    expect(sink.length).to.equal(0);
    expect(sink.prefixDigest()).to.equal('');
    await sink.close();
  });

  it('a hash mismatch keeps the part file, says so, and puts nothing in place', async () => {
    const dir = tempDir('sink');
    const sink = await FileSink.open(join(dir, 'h'), false);
    await sink.write([Buffer.from('received bytes')]);
    const err = await sink.finish(sha256(Buffer.from('the real bytes')), false).then(() => null, (e: Error) => e);
    expect(err).to.be.instanceOf(TransferFileError);
    expect(err!.message).to.match(/SHA-256 mismatch.*kept .*h\.part/);
    expect(existsSync(join(dir, 'h'))).to.equal(false);
    expect(readFileSync(join(dir, 'h.part'), 'utf8')).to.equal('received bytes');
  });

  it('never replaces an existing file unless asked, and keeps the complete part', async () => {
    const dir = tempDir('sink');
    writeFileSync(join(dir, 'k'), 'existing');
    const data = Buffer.from('new content');
    const sink = await FileSink.open(join(dir, 'k'), false, 'k');
    await sink.write([data]);
    const err = await sink.finish(sha256(data), false).then(() => null, (e: Error) => e);
    expect(err!.message).to.equal('k: already exists; the data is complete in k.part');
    expect(readFileSync(join(dir, 'k'), 'utf8')).to.equal('existing');
    const again = await FileSink.open(join(dir, 'k'), true);
    await again.finish(sha256(data), true);
    expect(readFileSync(join(dir, 'k'), 'utf8')).to.equal('new content');
  });

  it('refuses a part file that is a symbolic link', async () => {
    const dir = tempDir('sink');
    const target = join(tempDir('elsewhere'), 't');
    writeFileSync(target, 'x');
    symlinkSync(target, join(dir, 'l.part'));
    const err = await FileSink.open(join(dir, 'l'), true, 'l').then(() => null, (e: Error) => e);
    expect(err!.message).to.equal('l.part: is a symbolic link (refused)');
    expect(readFileSync(target, 'utf8')).to.equal('x');
  });

  it(ROOT
    ? 'never receives into a part file another user made in a shared directory, fresh or resumed (as root: a file chowned to uid 4242 stands for another user\'s)'
    : 'cannot check a part file of another user: not root, so no file can be given to another uid (checks that the refusal names our own uid is not raised)',
  async () => {
    const { dir, part } = plantedPart('report.pdf');
    for (const resume of [false, true]) {
      const err = await FileSink.open(join(dir, 'report.pdf'), resume, 'report.pdf').then(() => null, (e: Error) => e);
      if (ROOT) {
        expect(err, `resume ${resume}`).to.be.instanceOf(TransferFileError);
        expect(err!.message).to.equal(`report.pdf.part: belongs to another user (uid ${OTHER_UID}); remove it or receive under another name`);
      } else {
        expect(err?.message ?? '').to.not.match(/belongs to another user/);
      }
    }
    if (ROOT) {
      expect(readFileSync(part, 'utf8')).to.equal('planted');
      expect(statSync(part).uid).to.equal(OTHER_UID);
    }
  });

  it('resumes only a part file nobody else can write, and makes it 0600; a fresh receive replaces our own old part with a new 0600 file', async () => {
    const dir = tempDir('sink');
    const part = join(dir, 'm.part');
    writeFileSync(part, 'abc');
    chmodSync(part, 0o666);
    const err = await FileSink.open(join(dir, 'm'), true, 'm').then(() => null, (e: Error) => e);
    expect(err!.message).to.equal('m.part: its group or others can write it; remove it, or run chmod go-w on it to resume');
    chmodSync(part, 0o644);
    const resumed = await FileSink.open(join(dir, 'm'), true, 'm');
    expect(resumed.length).to.equal(3);
    expect(statSync(part).mode & 0o777).to.equal(0o600);
    await resumed.close();
    chmodSync(part, 0o666);
    // Someone who opened the old part while it was 0666 keeps writing to it.
    const other = openSync(part, 'r+');
    try {
      const fresh = await FileSink.open(join(dir, 'm'), false, 'm');
      writeSync(other, 'written by someone else');
      await fresh.write([Buffer.from('ours')]);
      expect(fresh.length).to.equal(4);
      expect(statSync(part).mode & 0o777).to.equal(0o600);
      expect(readFileSync(part, 'utf8'), 'a new file, not the old one emptied').to.equal('ours');
      await fresh.close();
    } finally {
      closeSync(other);
    }
  });

  it('a source reads sequentially, hashing exactly what it read, prefix included', async () => {
    const dir = tempDir('src');
    const data = randomBytes(2_500_000);
    writeFileSync(join(dir, 's'), data);
    const source = await FileSource.open(join(dir, 's'), true);
    expect(source.size).to.equal(data.length);
    expect(await source.prefixDigest(1_000_000)).to.equal(sha256(data.subarray(0, 1_000_000)));
    const rest = await source.read(1_000_000, 1_500_000);
    expect(rest.equals(data.subarray(1_000_000))).to.equal(true);
    expect(source.digest()).to.equal(sha256(data));
    expect(await source.read(2_500_000, 10)).to.have.length(0);
    await source.read(5, 1).then(() => expect.fail('a read out of order must fail'), (e: Error) => expect(e.message).to.match(/sequential/));
    await source.close();
  });

  it('a source refuses directories, missing files, and (noFollow) symbolic links, naming the file as told', async () => {
    const dir = tempDir('src');
    writeFileSync(join(dir, 'real'), 'x');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    const message = (p: Promise<unknown>): Promise<string> => p.then(() => '', (e: Error) => e.message);
    expect(await message(FileSource.open(dir, false, 'D'))).to.match(/^D: (not a regular file|is a directory)$/);
    expect(await message(FileSource.open(join(dir, 'none'), false, 'none'))).to.equal('none: no such file');
    expect(await message(FileSource.open(join(dir, 'link'), true, 'link'))).to.equal('link: is a symbolic link (refused)');
    const followed = await FileSource.open(join(dir, 'link'), false);
    expect(followed.size).to.equal(1);
    await followed.close();
  });
  it('refuses a FIFO at once instead of blocking on it, as a source and as a part file', async () => {
    const dir = tempDir('fifo');
    execFileSync('mkfifo', [join(dir, 'pipe'), join(dir, 'p.part')]);
    // An open that blocked on the FIFO would never return: the test would fail by its timeout, however fast the machine.
    const source = await FileSource.open(join(dir, 'pipe'), true, 'pipe').then(() => '', (e: Error) => e.message);
    const sink = await FileSink.open(join(dir, 'p'), false, 'p').then(() => '', (e: Error) => e.message);
    expect(source).to.equal('pipe: not a regular file');
    expect(sink).to.equal('p.part: not a regular file');
  });

  it('sameDigest (the resume comparison, both directions) tells equal digests from any difference, wherever it is', () => {
    const digest = sha256(Buffer.from('x'));
    const flip = (at: number): string => digest.slice(0, at) + (digest[at] === '0' ? '1' : '0') + digest.slice(at + 1);
    expect(sameDigest(digest, digest)).to.equal(true);
    expect(sameDigest('', '')).to.equal(true);
    expect(sameDigest(digest, flip(0))).to.equal(false);
    expect(sameDigest(digest, flip(63))).to.equal(false);
    expect(sameDigest(digest, digest.slice(0, 62))).to.equal(false);
    expect(sameDigest(digest, '')).to.equal(false);
  });
});
