import { expect } from 'chai';
import { FINISHED_REMEMBERED, MAX_TRANSFERS_PER_SESSION, TransferTable } from '../../lib/transfer/table.js';
import { TransferRecord } from '../../lib/transfer/transfer-state.js';

describe('transfer/transfer-state: one explicit state per transfer', () => {
  it('a transfer we start is opening until its first message, and an abort then would tell the peer nothing', () => {
    const ours = new TransferRecord(1, 'send', 'a', true);
    expect(ours.state.kind).to.equal('opening');
    expect(ours.peerKnows).to.equal(false);
    ours.contacted();
    expect(ours.state.kind).to.equal('open');
    expect(ours.peerKnows).to.equal(true);
    const theirs = new TransferRecord(2, 'receive', 'b', false);
    expect(theirs.state.kind).to.equal('open');
    expect(theirs.peerKnows).to.equal(true);
  });

  it('stop keeps the first reason and whether the peer knew; a second stop is refused', () => {
    const t = new TransferRecord(1, 'send', 'a', true);
    expect(t.stop('interrupted')).to.equal(true);
    expect(t.stop('the session closed')).to.equal(false);
    expect(t.state).to.deep.equal({ kind: 'stopping', reason: 'interrupted', peerKnows: false });
    expect(t.stopReason).to.equal('interrupted');
    expect(t.finished).to.equal(false);
    t.to({ kind: 'failed', reason: 'interrupted' });
    expect(t.finished).to.equal(true);
    expect(t.stop('late')).to.equal(false);
  });

  it('a receiver checking its file is not stopped (the result goes out either way); finishing still is', () => {
    const checking = new TransferRecord(2, 'receive', 'b', false);
    checking.to({ kind: 'finishing' });
    checking.to({ kind: 'checking' });
    expect(checking.stop('interrupted')).to.equal(false);
    expect(checking.state.kind).to.equal('checking');
    const finishing = new TransferRecord(4, 'receive', 'c', false);
    finishing.to({ kind: 'finishing' });
    expect(finishing.stop('interrupted')).to.equal(true);
  });

  it('transitions outside the diagram throw: one resume per upload, nothing after the end', () => {
    const t = new TransferRecord(2, 'receive', 'b', false);
    t.to({ kind: 'resuming' });
    expect(() => t.to({ kind: 'resuming' })).to.throw(/from resuming to resuming/);
    expect(() => t.to({ kind: 'open' })).to.throw();
    t.to({ kind: 'finishing' });
    t.to({ kind: 'checking' });
    t.to({ kind: 'finished' });
    expect(() => t.to({ kind: 'failed', reason: 'x' })).to.throw(/from finished/);
    const stopping = new TransferRecord(1, 'send', 'a', true);
    stopping.stop('x');
    expect(() => stopping.to({ kind: 'checking' })).to.throw(/from stopping to checking/);
    expect(() => stopping.to({ kind: 'open' })).to.throw(/from stopping to open/);
  });

  it('a sender told to stop after the receiver\'s result came (its session closed right after) still finishes', () => {
    const t = new TransferRecord(1, 'send', 'a', true);
    t.to({ kind: 'open' });
    expect(t.stop('the session closed')).to.equal(true);
    t.to({ kind: 'finished' });
    expect(t.finished).to.equal(true);
    expect(t.stop('again')).to.equal(false);
  });
});

describe('transfer/table: ids by parity, a limit per session, ended transfers remembered', () => {
  it('each end allocates its own parity and recognises the peer\'s', () => {
    const client = new TransferTable('client');
    const server = new TransferTable('server');
    expect([client.start('send', 'a').id, client.start('send', 'b').id]).to.deep.equal([1, 3]);
    expect([server.start('send', 'a').id, server.start('send', 'b').id]).to.deep.equal([2, 4]);
    expect(client.isPeers(2)).to.equal(true);
    expect(client.isPeers(5)).to.equal(false);
    expect(server.isPeers(7)).to.equal(true);
  });

  it(`is full at ${MAX_TRANSFERS_PER_SESSION} live transfers; ended ones do not count`, () => {
    const table = new TransferTable('server');
    const live = Array.from({ length: MAX_TRANSFERS_PER_SESSION }, (_, i) => table.add(2 * i + 1, 'receive', `f${i}`, false));
    expect(table.full).to.equal(true);
    live[0]!.to({ kind: 'failed', reason: 'x' });
    expect(table.full).to.equal(false);
    expect(table.active).to.equal(MAX_TRANSFERS_PER_SESSION - 1);
    expect(table.live()).to.have.length(MAX_TRANSFERS_PER_SESSION - 1);
  });

  it(`forgets the oldest ended transfers beyond ${FINISHED_REMEMBERED}, never a live one`, () => {
    const table = new TransferTable('client');
    const first = table.start('send', 'live');
    const ended = Array.from({ length: FINISHED_REMEMBERED + 5 }, () => {
      const t = table.start('send', 'x');
      t.to({ kind: 'failed', reason: 'x' });
      return t;
    });
    table.forgetOldest();
    expect(table.get(first.id)).to.equal(first);
    expect(ended.filter((t) => table.get(t.id) !== undefined)).to.have.length(FINISHED_REMEMBERED);
    expect(table.get(ended[0]!.id)).to.equal(undefined);
    expect(table.get(ended.at(-1)!.id)).to.equal(ended.at(-1));
  });
});
