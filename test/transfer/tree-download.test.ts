import { expect } from 'chai';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_PATH_COMPONENTS } from '../../lib/constants.js';
import type { ListEntry, TransferMessage } from '../../lib/protocol/transfer.js';
import { downloadTree, listTree } from '../../lib/transfer/tree-download.js';
import { TransferError } from '../../lib/transfer/transfer-error.js';
import { tempDir } from '../helpers/tmp.js';
import { ScriptedServer } from './scripted-server.js';

type Listing = Extract<TransferMessage, { type: 'listing' }>;

/** A server whose directories hold `entries` by path (the top is the tree's name); '' lists as an older server would. */
function treeServer(tree: Record<string, ListEntry[]>, older = false): ScriptedServer {
  return new ScriptedServer((request) => {
    if (request.type !== 'list') return undefined;
    const entries = tree[request.dir ?? ''];
    if (!entries) return { type: 'reject', reason: `${request.dir}: no such directory on the server` };
    const page: Listing = { type: 'listing', entries, next: '', truncated: false };
    return older ? page : { ...page, tree: true };
  });
}

const file = (name: string, size = 1): ListEntry => ({ name, size, mtime: 0 });
const dir = (name: string): ListEntry => ({ name, size: 0, mtime: 0, dir: true });

/** Whatever listTree rejects with. */
async function refusal(server: ScriptedServer, name: string): Promise<Error> {
  try {
    await listTree(server.endpoint, name);
  } catch (err) {
    return err as Error;
  }
  expect.fail('the tree was listed');
}

describe('transfer/tree-download: a directory tree from a server, every name it sends checked here', () => {
  it('lists every directory, one request each, into files (paths on the server, components here) and directories, parents first', async () => {
    const server = treeServer({
      photos: [file('top.txt', 3), dir('a'), dir('empty')],
      'photos/a': [dir('b')],
      'photos/a/b': [file('deep.bin', 300)],
      'photos/empty': [],
    });
    const tree = await listTree(server.endpoint, 'photos');
    expect(tree).to.deep.equal({
      files: [{ name: 'photos/top.txt', local: ['top.txt'], size: 3 }, { name: 'photos/a/b/deep.bin', local: ['a', 'b', 'deep.bin'], size: 300 }],
      directories: [['a'], ['empty'], ['a', 'b']],
      bytes: 303,
    });
    expect(server.requests.map((r) => r.type === 'list' && r.dir)).to.deep.equal(['photos', 'photos/a', 'photos/empty', 'photos/a/b']);
  });

  it('is undefined when the server does not list the name as a directory (a file, missing), or lists no directories (an older server)', async () => {
    expect(await listTree(treeServer({}).endpoint, 'file.bin')).to.equal(undefined);
    expect(await listTree(treeServer({ photos: [file('a')] }, true).endpoint, 'photos')).to.equal(undefined);
  });

  for (const [what, hostile] of [
    ['a name with ..', file('..')],
    ['a directory named ..', dir('..')],
    ['an absolute name', file('/etc/passwd')],
    ['a name with a separator', file('a/../../x')],
    ['a part-file name', file('x.bin.part')],
  ] as const) {
    it(`refuses the whole tree, before anything is written, for ${what}`, async () => {
      const server = treeServer({ photos: [file('fine.txt'), dir('sub')], 'photos/sub': [hostile] });
      const err = await refusal(server, 'photos');
      expect(err).to.be.instanceOf(TransferError);
      expect(err.message).to.match(new RegExp(`^the server sent a name that cannot be a file here: ${JSON.stringify(hostile.name).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*\\(in photos/sub\\); nothing was downloaded$`));
      // Nothing was asked for: no download started.
      expect(server.requests.filter((r) => r.type === 'get')).to.deep.equal([]);
    });
  }

  it('refuses a tree deeper than a path may be, naming the path', async () => {
    const levels: Record<string, ListEntry[]> = {};
    let path = 'd';
    for (let depth = 1; depth <= MAX_PATH_COMPONENTS; depth++) {
      levels[path] = [dir('d')];
      path = `${path}/d`;
    }
    const err = await refusal(treeServer(levels), 'd');
    expect(err.message).to.match(/^cannot get (d\/){32}d: the path is more than 32 levels deep; nothing was downloaded$/);
  });

  it('stops at a server whose listing says it is incomplete', async () => {
    const server = new ScriptedServer((r) => (r.type === 'list' ? { type: 'listing', entries: [file('a')], next: '', truncated: true, tree: true } : undefined));
    expect((await refusal(server, 'big')).message).to.equal('big holds more names than the server lists at once; get its files one by one');
  });

  it('never makes a directory through a symbolic link here: the tree stops, and nothing lands where the link points', async () => {
    const outside = tempDir('outside');
    const root = join(tempDir('out'), 'photos');
    mkdirSync(root);
    symlinkSync(outside, join(root, 'a'));
    const server = treeServer({ photos: [dir('a')], 'photos/a': [dir('b')], 'photos/a/b': [] });
    const tree = (await listTree(server.endpoint, 'photos'))!;
    let failure: Error | undefined;
    await downloadTree(server.endpoint, 'photos', tree, root).catch((err: Error) => { failure = err; });
    expect(failure?.message).to.equal('a exists here and is not a directory (a symbolic link, not followed)');
    expect(readdirSync(outside)).to.deep.equal([]);
  });
});
