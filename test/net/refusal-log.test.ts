import { expect } from 'chai';
import { RefusalLog, refusalReason } from '../../lib/net/refusal-log.js';

describe('RefusalLog', () => {
  it('allows one line per cause per address each interval, on the clock it is given', () => {
    let now = 1_000;
    const refusals = new RefusalLog(60_000, () => now);
    expect(refusals.due('unauthorized', '192.0.2.1')).to.equal(true);
    expect(refusals.due('unauthorized', '192.0.2.1'), 'the same cause and address again at once').to.equal(false);
    expect(refusals.due('bad-token', '192.0.2.1'), 'another cause').to.equal(true);
    expect(refusals.due('unauthorized', '192.0.2.2'), 'another address').to.equal(true);
    now += 59_999;
    expect(refusals.due('unauthorized', '192.0.2.1')).to.equal(false);
    now += 1;
    expect(refusals.due('unauthorized', '192.0.2.1'), 'a full interval later').to.equal(true);
    expect(refusals.due('unauthorized', '192.0.2.1')).to.equal(false);
  });

  it('remembers at most maxSources addresses, making room from expired ones and skipping lines while full', () => {
    let now = 0;
    const refusals = new RefusalLog(1_000, () => now, 2);
    expect(refusals.due('unauthorized', 'a')).to.equal(true);
    expect(refusals.due('unauthorized', 'b')).to.equal(true);
    expect(refusals.due('unauthorized', 'c'), 'full, nothing expired').to.equal(false);
    now = 1_000;
    expect(refusals.due('unauthorized', 'c'), 'a and b expired and made room').to.equal(true);
    expect(refusals.due('unauthorized', 'c')).to.equal(false);
  });

  it('sweeps a full table at most once per sixteenth of the interval, however many new addresses a flood brings', () => {
    let now = 0;
    const refusals = new RefusalLog(1_600, () => now, 4);
    for (const address of ['a', 'b', 'c', 'd']) expect(refusals.due('bad-token', address)).to.equal(true);
    // A flood from 10,000 new addresses within 99 ms: each finds the table full; a sweep each
    // would walk the whole table per datagram.
    for (let i = 0; i < 10_000; i++) {
      now = i / 100;
      expect(refusals.due('bad-token', `flood-${i}`)).to.equal(false);
    }
    expect(refusals.sweeps).to.equal(1);
    now = 1_600;
    expect(refusals.due('bad-token', 'e'), 'once entries expire, a later sweep makes room').to.equal(true);
    expect(refusals.sweeps).to.equal(2);
  });

  it('explains the refusals it logs and no other drop', () => {
    expect(refusalReason('unauthorized', false)).to.match(/not in the authorized keys/);
    expect(refusalReason('bad-token', true)).to.match(/network key/);
    expect(refusalReason('bad-token', false)).to.match(/which this server does not have/);
    expect(refusalReason('replay', true)).to.equal(undefined);
  });
});
