import { expect } from 'chai';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LIST_PAGE_STATS, MAX_TRANSFER_MESSAGE_BYTES } from '../../lib/constants.js';
import { decodeMessage, encodeMessage } from '../../lib/protocol/transfer.js';
import { listPage } from '../../lib/transfer/listing.js';
import { tempDir } from '../helpers/tmp.js';

/** Every page of `dir`'s listing, following `next`. */
async function allPages(dir: string): Promise<Awaited<ReturnType<typeof listPage>>[]> {
  const pages = [];
  let after = '';
  for (;;) {
    const page = await listPage(dir, after);
    pages.push(page);
    if (page.next === '') return pages;
    expect(page.next > after, 'every page moves forward').to.equal(true);
    after = page.next;
  }
}

describe('transfer/listing (what a server offers for download)', () => {
  it('lists regular files only, with size and mtime, leaving out links, directories, part files and names a transfer refuses', async () => {
    const dir = tempDir('list');
    writeFileSync(join(dir, 'b.bin'), Buffer.alloc(1234));
    writeFileSync(join(dir, 'a.txt'), 'hi');
    utimesSync(join(dir, 'a.txt'), new Date(), new Date(1_000_000_000_123));
    writeFileSync(join(dir, 'upload.bin.part'), 'partial');
    writeFileSync(join(dir, 'bad\u202ename'), 'x');
    mkdirSync(join(dir, 'sub'));
    symlinkSync('/etc/passwd', join(dir, 'passwd'));
    const page = await listPage(dir, '');
    expect(page).to.deep.equal({
      type: 'listing',
      entries: [{ name: 'a.txt', size: 2, mtime: 1_000_000_000_123 }, { name: 'b.bin', size: 1234, mtime: page.entries[1]!.mtime }],
      next: '',
      truncated: false,
    });
    expect(await listPage(dir, 'a.txt')).to.deep.include({ entries: [page.entries[1]], next: '' });
  });

  it('pages a large directory: every page fits one control message and decodes, and together they list every file once', async () => {
    const dir = tempDir('list-many');
    const names = Array.from({ length: 300 }, (_, i) => `${String(i).padStart(3, '0')}-${'n'.repeat(i % 200)}.dat`);
    for (const name of names) writeFileSync(join(dir, name), name);
    const pages = await allPages(dir);
    expect(pages.length).to.be.above(10);
    for (const page of pages) {
      const encoded = encodeMessage(page);
      expect(encoded.length).to.be.at.most(MAX_TRANSFER_MESSAGE_BYTES);
      expect(decodeMessage(encoded)).to.deep.equal(page);
    }
    expect(pages.flatMap((p) => p.entries.map((e) => e.name))).to.deep.equal([...names].sort());
  });

  it('examines at most LIST_PAGE_STATS entries for one page, then continues from the last one examined', async () => {
    const dir = tempDir('list-dirs');
    for (let i = 0; i < LIST_PAGE_STATS + 10; i++) mkdirSync(join(dir, `d${String(i).padStart(4, '0')}`));
    writeFileSync(join(dir, 'z.txt'), 'end');
    const first = await listPage(dir, '');
    expect(first.entries).to.deep.equal([]);
    expect(first.next).to.equal(`d${String(LIST_PAGE_STATS - 1).padStart(4, '0')}`);
    const second = await listPage(dir, first.next);
    expect(second.entries.map((e) => e.name)).to.deep.equal(['z.txt']);
    expect(second.next).to.equal('');
  });

  it('lists a directory of a tree (given its components) with its subdirectories marked, and says tree', async () => {
    const dir = tempDir('list-tree');
    mkdirSync(join(dir, 'photos', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'photos', 'a.txt'), 'hi');
    utimesSync(join(dir, 'photos', 'sub'), new Date(), new Date(1_000_000_000_000));
    symlinkSync('/etc', join(dir, 'photos', 'etc'));
    const page = await listPage(dir, '', ['photos']);
    expect(page).to.deep.equal({
      type: 'listing',
      entries: [{ name: 'a.txt', size: 2, mtime: page.entries[0]!.mtime }, { name: 'sub', size: 0, mtime: 1_000_000_000_000, dir: true }],
      next: '',
      truncated: false,
      tree: true,
    });
    expect(decodeMessage(encodeMessage(page))).to.deep.equal(page);
    expect((await listPage(dir, '', [])).entries).to.deep.equal([{ name: 'photos', size: 0, mtime: (await listPage(dir, '', [])).entries[0]!.mtime, dir: true }]);
  });

  it('refuses to list through a symbolic link, or a directory that is not there, naming the path as the peer gave it', async () => {
    const dir = tempDir('list-link');
    mkdirSync(join(dir, 'real'));
    symlinkSync('/etc', join(dir, 'real', 'etc'));
    for (const [tree, reason] of [
      [['real', 'etc'], 'real/etc exists on the server and is not a directory (a symbolic link, not followed)'],
      [['gone'], 'gone: no such directory on the server'],
    ] as const) {
      let failure: Error | undefined;
      await listPage(dir, '', [...tree]).catch((err: Error) => { failure = err; });
      expect(failure?.message).to.equal(reason);
    }
  });
});
