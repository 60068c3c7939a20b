import { expect } from 'chai';
import { randomFillSync } from 'node:crypto';
import { MAX_ACK_DELAY_MS, PACKET_NUMBER_SKIP_MIN, PACKET_NUMBER_SKIP_SPREAD, PACKET_NUMBER_START_RANGE } from '../../lib/constants.js';
import { PatternSource } from '../../lib/transfer/bandwidth.js';
import type { FrameLink } from '../../lib/transfer/link.js';
import { RttEstimator } from '../../lib/transfer/rtt.js';
import { OptimisticAckError, StreamSender } from '../../lib/transfer/sender.js';

const MAX_BODY = 1396;

/** A sender of `size` bytes whose datagrams are only recorded (packet number, offset, length). */
function recordingSender(size: number): { sender: StreamSender; sent: Array<{ packet: number; offset: number; length: number }>; errors: Error[] } {
  const sent: Array<{ packet: number; offset: number; length: number }> = [];
  const link: FrameLink = {
    maxBody: MAX_BODY,
    data: (packet, offset, payload) => {
      sent.push({ packet, offset, length: payload.length });
      return true;
    },
    ack: () => true,
  };
  const sender = new StreamSender(link, new PatternSource((b) => randomFillSync(b)), 0, size, 60_000);
  const errors: Error[] = [];
  sender.on('error', (err) => errors.push(err));
  return { sender, sent, errors };
}

/** Acknowledges everything sent so far, honestly, in one acknowledgement. */
function ackAll(sender: StreamSender, sent: ReadonlyArray<{ packet: number; offset: number; length: number }>): boolean {
  const last = sent[sent.length - 1]!;
  return sender.onAck(last.packet, last.offset + last.length, { windowEnd: 64 * 1024 * 1024, delayMicros: 0, spans: [] });
}

/** Sends until at least `count` datagrams went out, acknowledging honestly in between. */
async function sendAtLeast(sender: StreamSender, sent: Array<{ packet: number; offset: number; length: number }>, count: number): Promise<void> {
  sender.start();
  while (sent.length < count) {
    // Reads are asynchronous; let the first block arrive, then let acknowledgements open the window.
    await new Promise((resolve) => setImmediate(resolve));
    if (sent.length > 0) expect(ackAll(sender, sent), 'an honest acknowledgement is accepted').to.equal(true);
  }
}

describe('transfer/sender: optimistic acknowledgements', () => {
  it('starts at a random packet number and leaves numbers unused at random intervals', async () => {
    const a = recordingSender(64 * 1024 * 1024);
    const b = recordingSender(64 * 1024 * 1024);
    await sendAtLeast(a.sender, a.sent, 2000);
    await sendAtLeast(b.sender, b.sent, 10);
    a.sender.stop();
    b.sender.stop();
    expect(a.sent[0]!.packet).to.be.below(PACKET_NUMBER_START_RANGE);
    expect(a.sent[0]!.packet, 'two senders start apart (a collision has odds 2^-24)').to.not.equal(b.sent[0]!.packet);
    const gaps: number[] = [];
    for (let i = 1; i < a.sent.length; i++) {
      const step = a.sent[i]!.packet - a.sent[i - 1]!.packet;
      expect(step === 1 || step === 2, `packet numbers go up by 1, or 2 across a skip (saw ${step})`).to.equal(true);
      if (step === 2) gaps.push(i);
    }
    const most = Math.floor(2000 / PACKET_NUMBER_SKIP_MIN);
    const least = Math.floor(2000 / (PACKET_NUMBER_SKIP_MIN + PACKET_NUMBER_SKIP_SPREAD)) - 1;
    expect(gaps.length).to.be.within(least, most);
  });

  it('fails the transfer when a peer acknowledges a skipped packet number', async () => {
    const { sender, sent, errors } = recordingSender(64 * 1024 * 1024);
    await sendAtLeast(sender, sent, 1000);
    const skip = sent.findIndex((s, i) => i > 0 && s.packet - sent[i - 1]!.packet === 2);
    expect(skip).to.be.above(0);
    const skipped = sent[skip]!.packet - 1;
    const accepted = sender.onAck(skipped, sent[skip - 1]!.offset + sent[skip - 1]!.length, { windowEnd: 64 * 1024 * 1024, delayMicros: 0, spans: [] });
    expect(accepted).to.equal(false);
    expect(errors).to.have.length(1);
    expect(errors[0]).to.be.instanceOf(OptimisticAckError);
    const before = sent.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sent.length, 'nothing more is sent').to.equal(before);
  });

  it('fails the transfer when a peer acknowledges a packet number or bytes not yet sent', async () => {
    const ahead = recordingSender(64 * 1024 * 1024);
    await sendAtLeast(ahead.sender, ahead.sent, 100);
    const last = ahead.sent[ahead.sent.length - 1]!;
    expect(ahead.sender.onAck(last.packet + 100, last.offset, { windowEnd: 0, delayMicros: 0, spans: [] })).to.equal(false);
    expect(ahead.errors[0]).to.be.instanceOf(OptimisticAckError);

    const bytes = recordingSender(64 * 1024 * 1024);
    await sendAtLeast(bytes.sender, bytes.sent, 100);
    const end = bytes.sent[bytes.sent.length - 1]!;
    expect(bytes.sender.onAck(end.packet, end.offset + end.length + 1, { windowEnd: 0, delayMicros: 0, spans: [] })).to.equal(false);
    expect(bytes.errors[0]).to.be.instanceOf(OptimisticAckError);
  });

  it('ignores an acknowledgement that reports no packet yet (number 0, below the random start)', async () => {
    const { sender, sent, errors } = recordingSender(64 * 1024 * 1024);
    await sendAtLeast(sender, sent, 10);
    if (sent[0]!.packet === 0) return expect.fail('the random start was 0 (odds 2^-24): rerun');
    expect(sender.onAck(0, 0, { windowEnd: 0, delayMicros: 0, spans: [] })).to.equal(true);
    expect(errors).to.deep.equal([]);
    sender.stop();
  });
});

describe('transfer/rtt: a reported ack delay cannot hide the path', () => {
  it('subtracts at most MAX_ACK_DELAY_MS, and never below the minimum RTT', () => {
    const rtt = new RttEstimator();
    rtt.sample(50, 0);
    // A receiver claiming it held the acknowledgement for an hour: the sample stays the path's.
    rtt.sample(50, 3_600_000);
    expect(rtt.latest).to.equal(50);
    expect(rtt.smoothed).to.equal(50);
    // A real hold of 10 ms on a 60 ms measurement is taken off (60 - 10 = 50 >= min 50).
    rtt.sample(60, 10);
    expect(rtt.latest).to.equal(50);
    // A claim above the cap is cut to the cap: 100 - 25 = 75.
    rtt.sample(100, 1000);
    expect(rtt.latest).to.equal(100 - MAX_ACK_DELAY_MS);
    // A negative or NaN delay counts as none.
    rtt.sample(70, -5);
    expect(rtt.latest).to.equal(70);
    rtt.sample(70, Number.NaN);
    expect(rtt.latest).to.equal(70);
  });
});
