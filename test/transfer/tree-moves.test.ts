import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TREE_BYTES_IN_FLIGHT, TREE_FILES_IN_FLIGHT } from '../../lib/constants.js';
import type { TransferMessage } from '../../lib/protocol/transfer.js';
import { moveFiles, TreeTotals } from '../../lib/transfer/tree.js';
import type { TransferResult } from '../../lib/transfer/types.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually } from '../helpers/udp.js';
import { ScriptedServer } from './scripted-server.js';

interface File {
  name: string;
  size: number;
}

/** A move the test finishes by hand: which files are moving, and their ends. */
class Moves {
  readonly running = new Map<string, { finish: () => void; fail: (err: Error) => void; progress: (done: number) => void }>();
  readonly started: string[] = [];
  most = 0;

  readonly move = (file: File, progress: (done: number) => void): Promise<TransferResult> => new Promise((resolve, reject) => {
    this.started.push(file.name);
    const end = (): boolean => this.running.delete(file.name);
    this.running.set(file.name, {
      finish: () => end() && resolve(result(file)),
      fail: (err) => end() && reject(err),
      progress,
    });
    this.most = Math.max(this.most, this.running.size);
  });

  /** Lets the event loop run the moves' callbacks (a finish starts the next file on a later turn). */
  static async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  }
}

const result = (file: File): TransferResult => ({
  name: file.name, direction: 'send', size: file.size, offset: 0, seconds: 0, sha256: '',
  stats: { packets: 1, retransmits: 0, srtt: null, minRtt: null }, restarted: false,
});

const files = (count: number, size: number, prefix = 'f'): File[] =>
  Array.from({ length: count }, (_, i) => ({ name: `${prefix}${i}`, size }));

describe('transfer/tree: the files of a tree move several at a time (moveFiles)', () => {
  it(`moves small files ${TREE_FILES_IN_FLIGHT} at a time, in order, starting the next as one finishes, and adds every result`, async () => {
    const moves = new Moves();
    const totals = new TreeTotals();
    const all = files(TREE_FILES_IN_FLIGHT + 5, 1000);
    const done = moveFiles(all, totals, moves.move);
    await Moves.settle();
    expect(moves.started).to.deep.equal(all.slice(0, TREE_FILES_IN_FLIGHT).map((f) => f.name));
    moves.running.get('f1')!.finish();
    await Moves.settle();
    expect(moves.started).to.have.length(TREE_FILES_IN_FLIGHT + 1);
    expect(moves.started.at(-1)).to.equal(`f${TREE_FILES_IN_FLIGHT}`);
    while (moves.running.size > 0) {
      for (const move of [...moves.running.values()]) move.finish();
      await Moves.settle();
    }
    await done;
    expect(moves.most).to.equal(TREE_FILES_IN_FLIGHT);
    expect(moves.started).to.deep.equal(all.map((f) => f.name));
    expect(totals.files).to.equal(all.length);
    expect(totals.size).to.equal(all.length * 1000);
  });

  it('a file as big as the byte bound goes alone; files beside others only while their sizes fit in it', async () => {
    const moves = new Moves();
    const half = TREE_BYTES_IN_FLIGHT / 2;
    const all = [{ name: 'big', size: 5 * TREE_BYTES_IN_FLIGHT }, { name: 'h1', size: half }, { name: 'h2', size: half }, { name: 'h3', size: half }];
    const done = moveFiles(all, new TreeTotals(), moves.move);
    await Moves.settle();
    expect([...moves.running.keys()]).to.deep.equal(['big']);
    moves.running.get('big')!.finish();
    await Moves.settle();
    expect([...moves.running.keys()]).to.deep.equal(['h1', 'h2']);
    moves.running.get('h1')!.finish();
    await Moves.settle();
    expect([...moves.running.keys()]).to.deep.equal(['h2', 'h3']);
    moves.running.get('h2')!.finish();
    moves.running.get('h3')!.finish();
    await done;
  });

  it('reports the finished files plus what each running one has moved', async () => {
    const moves = new Moves();
    const heard: number[] = [];
    const done = moveFiles(files(3, 100), new TreeTotals(), moves.move, (bytes) => heard.push(bytes));
    await Moves.settle();
    moves.running.get('f0')!.progress(40);
    moves.running.get('f2')!.progress(10);
    expect(heard).to.deep.equal([40, 50]);
    moves.running.get('f0')!.finish();
    await Moves.settle();
    expect(heard.at(-1)).to.equal(110);
    const late = moves.running.get('f2')!;
    moves.running.get('f1')!.finish();
    late.finish();
    await done;
    expect(heard.at(-1)).to.equal(300);
    late.progress(100);
    expect(heard.at(-1), 'a report after its end counts nothing').to.equal(300);
  });

  it('the first failure starts no more files; the running ones finish, then it is thrown', async () => {
    const moves = new Moves();
    const totals = new TreeTotals();
    const all = files(TREE_FILES_IN_FLIGHT + 3, 1);
    let outcome: unknown = 'pending';
    void moveFiles(all, totals, moves.move).then(() => { outcome = 'resolved'; }, (err: unknown) => { outcome = err; });
    await Moves.settle();
    moves.running.get('f2')!.fail(new Error('refused f2'));
    moves.running.get('f3')!.fail(new Error('refused f3'));
    await Moves.settle();
    expect(moves.started, 'nothing new started').to.have.length(TREE_FILES_IN_FLIGHT);
    expect(outcome, 'still waiting for the running files').to.equal('pending');
    for (const move of [...moves.running.values()]) move.finish();
    await Moves.settle();
    expect((outcome as Error).message).to.equal('refused f2');
    expect(totals.files).to.equal(TREE_FILES_IN_FLIGHT - 2);
  });

  it('an empty tree moves nothing and resolves', async () => {
    const moves = new Moves();
    await moveFiles([], new TreeTotals(), moves.move);
    expect(moves.started).to.deep.equal([]);
  });
});

describe('transfer/endpoint: requests that make the peer hash a file go one at a time', () => {
  it('two uploads of files the server holds: the second `done` waits for the first one\'s result (a server hashes for one host at a time)', async () => {
    const dir = tempDir('hash-turns');
    writeFileSync(join(dir, 'a.bin'), 'aaaa');
    writeFileSync(join(dir, 'b.bin'), 'bbbbbbbb');
    const doneFor: number[] = [];
    const server = new ScriptedServer((request: TransferMessage, id: number) => {
      if (request.type === 'offer') return { type: 'accept', offset: request.size, size: request.size, prefix: '', held: true };
      if (request.type !== 'done') return undefined;
      doneFor.push(id);
      // The first file's check runs until the test ends it; the second is answered at once.
      return id === doneFor[0] ? undefined : { type: 'result', ok: true, reason: '' };
    });
    const uploads = Promise.all(['a.bin', 'b.bin'].map((name) => server.endpoint.upload(join(dir, name))));
    // The first `done` goes unanswered until it is sent again (the control retry): by then the
    // second upload had its answer and its own hash long since, and would have sent its `done`.
    expect(await eventually(() => doneFor.length >= 2, 10_000)).to.equal(true);
    expect(doneFor.every((id) => id === doneFor[0]), `done for transfers ${doneFor.join(', ')}`).to.equal(true);
    server.reply(doneFor[0]!, { type: 'result', ok: true, reason: '' });
    const results = await uploads;
    expect(results.map((r) => r.unchanged)).to.deep.equal([1, 1]);
    expect(new Set(doneFor).size, 'then the second file\'s done').to.equal(2);
  });

  it('two downloads that resume part files: the second `get` (the server hashes its file\'s start to answer) waits for the first one\'s answer', async () => {
    const dir = tempDir('hash-turns-get');
    for (const name of ['a.bin', 'b.bin']) writeFileSync(join(dir, `${name}.part`), 'abc');
    const getFor: number[] = [];
    const server = new ScriptedServer((request: TransferMessage, id: number) => {
      if (request.type !== 'get') return undefined;
      expect(request.offset).to.equal(3);
      getFor.push(id);
      return id === getFor[0] ? undefined : { type: 'reject', reason: 'no such file' };
    });
    const downloads = ['a.bin', 'b.bin'].map((name) => server.endpoint.download(name, { out: join(dir, name), resume: true }).then(() => 'ok', (err: Error) => err.message));
    expect(await eventually(() => getFor.length >= 2, 10_000)).to.equal(true);
    expect(getFor.every((id) => id === getFor[0]), `get for transfers ${getFor.join(', ')}`).to.equal(true);
    server.reply(getFor[0]!, { type: 'reject', reason: 'no such file' });
    expect(await Promise.all(downloads)).to.deep.equal(['the peer refused: no such file', 'the peer refused: no such file']);
    expect(new Set(getFor).size).to.equal(2);
  });
});
