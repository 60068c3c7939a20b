import { expect } from 'chai';
import { DEFAULT_MAX_DATAGRAM, INITIAL_RTO_MS, RECEIVE_WINDOW_BYTES, RECEIVE_WINDOW_MAX_BYTES, TRANSFER_OVERHEAD } from '../../lib/constants.js';
import { ReceiveBudget } from '../../lib/transfer/budget.js';
import { ReceiveCore } from '../../lib/transfer/receive-core.js';
import { SendCore } from '../../lib/transfer/send-core.js';

/*
 * Receive-window auto-tuning, core to core without sockets: a sender held back by the receiver's
 * window says so with an empty segment, and a receiver whose disk keeps up doubles its window,
 * within its bound and its memory grant.
 */

const MAX_BODY = DEFAULT_MAX_DATAGRAM - TRANSFER_OVERHEAD;
const MiB = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Feeds `bytes` of in-order data to `core` from `offset` on, packet numbers from `packet`; returns the next offset. */
function deliver(core: ReceiveCore, now: number, offset: number, bytes: number, packet = 1): number {
  const body = Buffer.alloc(MAX_BODY);
  for (let end = offset + bytes; offset < end; offset += MAX_BODY) {
    expect(core.onData(now, packet++, offset, body)).to.equal('ok');
  }
  return offset;
}

/** Writes everything queued, as a disk that keeps up would. */
function writeAll(core: ReceiveCore, now: number): void {
  while (core.nextWrite() !== null) core.onWritten(now);
}

describe('transfer/receive-window: the receive window grows when the sender says it holds it back', () => {
  it('doubles when a blocked sender probes and the disk keeps up, once per half window written, up to the bound', () => {
    const core = new ReceiveCore({ maxBody: MAX_BODY, start: 0, size: null, now: 0 });
    expect(core.window).to.equal(RECEIVE_WINDOW_BYTES);
    // Nothing written yet: a probe alone does not grow it (the sender must first use what it has).
    core.onData(1, 1, 0, EMPTY);
    expect(core.window).to.equal(RECEIVE_WINDOW_BYTES);
    let offset = 0;
    let now = 1;
    const windows: number[] = [];
    for (let round = 0; round < 8; round++) {
      offset = deliver(core, ++now, offset, core.window / 2 + MAX_BODY);
      writeAll(core, now);
      core.onData(now, 1, offset, EMPTY);
      windows.push(core.window);
      // A second probe right after, before another half window is written, changes nothing.
      core.onData(now, 1, offset, EMPTY);
      expect(core.window).to.equal(windows.at(-1));
      const ack = core.flushAck(now);
      expect(ack?.ack.windowEnd).to.equal(offset + core.window);
    }
    expect(windows).to.deep.equal([16, 32, 64, 64, 64, 64, 64, 64].map((n) => n * MiB));
    expect(RECEIVE_WINDOW_MAX_BYTES).to.equal(64 * MiB);
  });

  it('does not grow behind a slow disk: the window is full of data waiting to be written', () => {
    const core = new ReceiveCore({ maxBody: MAX_BODY, start: 0, size: null, now: 0 });
    let offset = deliver(core, 1, 0, RECEIVE_WINDOW_BYTES / 2 + MAX_BODY);
    writeAll(core, 1);
    // Then a quarter window and more arrives, and the disk has not taken it yet.
    offset = deliver(core, 2, offset, RECEIVE_WINDOW_BYTES / 4 + MAX_BODY, 10_000);
    const chunks = core.nextWrite();
    expect(chunks).to.not.equal(null);
    core.onData(3, 1, offset, EMPTY);
    expect(core.window).to.equal(RECEIVE_WINDOW_BYTES);
    // Once the disk catches up, the next probe grows it.
    core.onWritten(4);
    core.onData(5, 1, offset, EMPTY);
    expect(core.window).to.equal(2 * RECEIVE_WINDOW_BYTES);
  });

  it('grows only by what the memory grant gives: a server budget bounds every window, per host and in total', () => {
    const budget = new ReceiveBudget(32 * MiB, 24 * MiB);
    const grant = budget.reserve('a', RECEIVE_WINDOW_BYTES);
    if (typeof grant === 'string') throw new Error(grant);
    const core = new ReceiveCore({ maxBody: MAX_BODY, start: 0, size: null, window: grant.bytes, grow: grant.grow, now: 0 });
    let offset = 0;
    for (let round = 0; round < 4; round++) {
      offset = deliver(core, round + 1, offset, core.window / 2 + MAX_BODY);
      writeAll(core, round + 1);
      core.onData(round + 1, 1, offset, EMPTY);
      core.flushAck(round + 1);
    }
    // 8 → 16 MiB was granted; 16 → 32 is over the host's 24 MiB, so it stays.
    expect(core.window).to.equal(16 * MiB);
    expect(grant.bytes).to.equal(16 * MiB);
    expect(budget.reservedBy('a')).to.equal(16 * MiB);
    // Another host takes what is left of the total; then even a small growth is refused.
    const other = budget.reserve('b', 16 * MiB);
    expect(typeof other).to.not.equal('string');
    expect(grant.grow(MiB)).to.equal(false);
    expect(budget.reserved).to.equal(32 * MiB);
    grant.release();
    expect(budget.reservedBy('a')).to.equal(0);
    expect(budget.reserved).to.equal(16 * MiB);
    expect(grant.grow(MiB)).to.equal(false);
  });

  it('a sender held back by the receive window (not by its congestion window) sends an empty segment, at most once a round trip', () => {
    const sender = new SendCore({ maxBody: MAX_BODY, start: 0, size: null, now: 0, randomInt: () => 0, pacingSlackMs: Infinity });
    const block = Buffer.alloc(1024 * 1024);
    const feed = (): void => {
      for (let request = sender.nextRead(); request !== null; request = sender.nextRead()) sender.onRead(request, block.subarray(0, request.length));
    };
    feed();
    // Open the congestion window wide so only the receiver's window binds.
    Object.defineProperty(sender.congestion, 'window', { value: Number.MAX_SAFE_INTEGER });
    let empties = 0;
    let bytes = 0;
    const drain = (now: number): void => {
      for (let t = sender.poll(now); t !== null; t = sender.poll(now)) {
        if (t.body.length === 0) empties++;
        else bytes += t.body.length;
        feed();
      }
    };
    drain(0);
    expect(bytes).to.be.at.most(RECEIVE_WINDOW_BYTES).and.at.least(RECEIVE_WINDOW_BYTES - MAX_BODY);
    expect(empties).to.equal(1);
    // Before any round trip is measured, the interval is the initial retransmission timeout.
    drain(INITIAL_RTO_MS - 1);
    expect(empties).to.equal(1);
    drain(INITIAL_RTO_MS);
    expect(empties).to.equal(2);
    // Once measured, one round trip.
    sender.rtt.sample(40);
    drain(INITIAL_RTO_MS + 39);
    expect(empties).to.equal(2);
    drain(INITIAL_RTO_MS + 40);
    expect(empties).to.equal(3);
    expect(bytes).to.be.at.most(RECEIVE_WINDOW_BYTES);
  });
});
