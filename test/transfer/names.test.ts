import { expect } from 'chai';
import { platform } from 'node:os';
import { fileName, fileNameProblem, foldsCase, nameKey } from '../../lib/transfer/names.js';
import { tempDir } from '../helpers/tmp.js';

describe('transfer/names', () => {
  const refused: Array<[string, RegExp]> = [
    ['', /empty/],
    ['.', /not a file name/],
    ['..', /not a file name/],
    ['../etc/passwd', /separator/],
    ['/etc/passwd', /separator/],
    ['a/b', /separator/],
    ['..\\windows', /separator/],
    ['C:\\x', /separator/],
    ['nul\0byte', /control/],
    ['line\nbreak', /control/],
    ['del\x7f', /control/],
    ['movie.mkv.part', /partial/],
    ['é'.repeat(126), /longer than 250 bytes/], // 252 bytes: NAME.part would pass the file system's 255
    ['\u0085next-line', /control/],
    ['evil\u202Etxt.exe', /control/],
    // Both would become a\ufffd on disk: two names, one file.
    ['a\ud800', /not well-formed/],
    ['a\udbff', /not well-formed/],
    ['\udc00', /not well-formed/],
  ];
  for (const [name, reason] of refused) {
    it(`refuses ${JSON.stringify(name).slice(0, 40)}`, () => {
      expect(fileNameProblem(name)).to.match(reason);
    });
  }

  for (const name of ['a', 'big.iso', '..hidden', '.profile', 'x..y', 'report (1).pdf', 'é'.repeat(125), 'part', 'a.part.b']) {
    it(`accepts ${JSON.stringify(name).slice(0, 40)}`, () => {
      expect(fileNameProblem(name)).to.equal(null);
    });
  }

  it('stores names in NFC, and refuses one that is not well-formed', () => {
    expect(fileName('cafe\u0301')).to.deep.equal({ name: 'caf\u00e9' });
    expect(fileName('\u{1F600}.png')).to.deep.equal({ name: '\u{1F600}.png' });
    expect(fileName('a\ud800')).to.have.property('problem');
  });

  it('keys names case-folded only where the file system folds case', async () => {
    expect(nameKey('Report.PDF', true)).to.equal(nameKey('report.pdf', true));
    expect(nameKey('Report.PDF', false)).to.not.equal(nameKey('report.pdf', false));
    // Linux file systems (the temporary directory's) keep case; macOS and Windows fold it by default.
    expect(await foldsCase(tempDir('case'))).to.equal(platform() !== 'linux');
  });
});
