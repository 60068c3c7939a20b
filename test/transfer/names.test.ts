import { expect } from 'chai';
import { fileNameProblem } from '../../lib/transfer/names.js';

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
});
