import { expect } from 'chai';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_FILE_NAME_BYTES } from '../../lib/constants.js';
import { fileName, foldsCase, nameKey } from '../../lib/transfer/names.js';
import { tempDir } from '../helpers/tmp.js';

/** Cases the name checks of names.test.ts leave open: found by mutation testing (npm run mutate). */
describe('transfer/names: NFC, case folding and the probe', () => {
  it('checks the NFC form too: a name that grows past the limit under NFC is refused with the reason', () => {
    // U+0958 is a composition exclusion: NFC writes it as two code points, 3 UTF-8 bytes each.
    const name = '\u0958'.repeat(Math.floor(MAX_FILE_NAME_BYTES / 3));
    expect(Buffer.byteLength(name)).to.be.at.most(MAX_FILE_NAME_BYTES);
    expect(Buffer.byteLength(name.normalize('NFC'))).to.be.above(MAX_FILE_NAME_BYTES);
    const result = fileName(name);
    expect(result).to.have.property('problem').that.matches(/longer than/);
  });

  it('case-folded keys join every pair a case-insensitive file system may treat as one file', () => {
    // Full upper-casing first: ß is SS, and the Kelvin sign is K (folding too much is the safe side).
    expect(nameKey('straße.txt', true)).to.equal(nameKey('STRASSE.TXT', true));
    expect(nameKey('\u212a.txt', true)).to.equal(nameKey('k.txt', true));
    expect(nameKey('\u212a.txt', false)).to.not.equal(nameKey('k.txt', false));
  });

  it('learns a directory once, leaves no probe behind, and answers "folds" where it cannot probe', async () => {
    const dir = tempDir('probe');
    const first = await foldsCase(dir);
    expect(readdirSync(dir)).to.deep.equal([]);
    // Gone, the directory could no longer be probed: the answer is the one learnt.
    rmSync(dir, { recursive: true });
    expect(await foldsCase(dir)).to.equal(first);
    expect(await foldsCase(join(dir, 'never-made'))).to.equal(true);
  });
});
