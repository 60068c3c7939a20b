import { expect } from 'chai';
import { linkSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileSink } from '../../lib/transfer/files.js';
import { tempDir } from '../helpers/tmp.js';

/** File checks files.test.ts left open, found by mutation testing (npm run mutate). */
describe('transfer/files: part files with other names', () => {
  it('refuses to resume a part file that has another hard link, and leaves both names as they were', async () => {
    const dir = tempDir('sink');
    const part = join(dir, 'h.part');
    writeFileSync(part, 'abc', { mode: 0o600 });
    // A second name, as someone could make for a file in a shared directory to read it later.
    const outside = join(tempDir('elsewhere'), 'copy');
    linkSync(part, outside);
    const err = await FileSink.open(join(dir, 'h'), true, 'h').then(() => null, (e: Error) => e);
    expect(err?.message).to.equal('h.part: has other hard links (refused)');
    expect(readFileSync(part, 'utf8')).to.equal('abc');
    expect(readFileSync(outside, 'utf8')).to.equal('abc');
  });

  it('a fresh receive over a linked part of ours starts a new file: the other name keeps the old bytes', async () => {
    const dir = tempDir('sink');
    const part = join(dir, 'f.part');
    writeFileSync(part, 'old', { mode: 0o600 });
    const outside = join(tempDir('elsewhere'), 'copy');
    linkSync(part, outside);
    const sink = await FileSink.open(join(dir, 'f'), false, 'f');
    await sink.write([Buffer.from('new')]);
    await sink.close();
    expect(readFileSync(part, 'utf8')).to.equal('new');
    expect(readFileSync(outside, 'utf8')).to.equal('old');
  });
});
