import { expect } from 'chai';
import { REMEMBERED_FILE_MAKERS } from '../../lib/constants.js';
import { rememberMaker } from '../../lib/transfer/peer-requests.js';

describe('transfer: the makers of finished uploads a server remembers', () => {
  it('a client uploading name after name cannot grow the record past REMEMBERED_FILE_MAKERS; the oldest goes first', () => {
    const makers = new Map<string, string>();
    for (let i = 0; i < REMEMBERED_FILE_MAKERS + 500; i++) rememberMaker(makers, `file-${i}`, 'flooder');
    expect(makers.size).to.equal(REMEMBERED_FILE_MAKERS);
    expect(makers.has('file-0')).to.equal(false);
    expect(makers.has('file-499')).to.equal(false);
    expect(makers.get('file-500')).to.equal('flooder');
    expect(makers.get(`file-${REMEMBERED_FILE_MAKERS + 499}`)).to.equal('flooder');
  });

  it('an upload again of a name makes it the newest, with its latest maker', () => {
    const makers = new Map<string, string>();
    rememberMaker(makers, 'a', 'alice');
    rememberMaker(makers, 'b', 'bob');
    rememberMaker(makers, 'a', 'carol');
    expect([...makers]).to.deep.equal([['b', 'bob'], ['a', 'carol']]);
  });
});
