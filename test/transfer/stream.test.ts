import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { MIN_SEGMENT_BYTES, PROBE_ANSWER_MS, READ_BLOCK_BYTES, RECEIVE_WINDOW_BYTES } from '../../lib/constants.js';
import { decodeAck, encodeAck } from '../../lib/protocol/transfer.js';
import { PatternSource } from '../../lib/transfer/bandwidth.js';
import type { FrameLink } from '../../lib/transfer/link.js';
import { StreamReceiver, type ByteSink } from '../../lib/transfer/receiver.js';
import { StreamSender, type ByteSource } from '../../lib/transfer/sender.js';
import { eventually, PATIENCE } from '../helpers/udp.js';

/** mulberry32: a few lines of seeded randomness, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class MemorySource implements ByteSource {
  constructor(private readonly data: Buffer) {}
  read(offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(this.data.subarray(offset, offset + length));
  }
}

/** Keeps what it is given; with a `gate`, no write completes before the gate opens (a disk that hangs). */
class MemorySink implements ByteSink {
  readonly chunks: Buffer[] = [];
  written = 0;
  constructor(private readonly gate?: Promise<void>) {}
  async write(chunks: Buffer[]): Promise<void> {
    await this.gate;
    for (const chunk of chunks) {
      this.chunks.push(Buffer.from(chunk));
      this.written += chunk.length;
    }
  }
}

interface Impairment {
  drop: number;
  duplicate: number;
  reorder: number;
  /** One-way delay of every frame, in ms. */
  delayMs?: number;
}

/**
 * Sender and receiver joined by an in-memory link that drops, duplicates and delays (reorders)
 * frames with seeded randomness, both ways; acknowledgements go through the wire codec.
 */
function wire(data: Buffer, start: number, impairment: Impairment, seed: number, sink: MemorySink, maxBody = 1396,
  onSend?: (offset: number, length: number) => void) {
  const random = prng(seed);
  let sender!: StreamSender;
  let receiver!: StreamReceiver;
  const timers = new Set<NodeJS.Timeout>();
  let beyondWindow = 0;
  // The furthest window end the sender has heard of: the receiver's first window, then whatever its
  // acknowledgements advertised (it grows its window where the sink keeps up, so the first is no bound).
  let windowEndHeard = start + RECEIVE_WINDOW_BYTES;
  const deliver = (fn: () => void): void => {
    if (random() < impairment.drop) return;
    const copies = random() < impairment.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, (impairment.delayMs ?? 0) + (random() < impairment.reorder ? 2 : 0));
      timers.add(timer);
    }
  };
  const senderLink: FrameLink = {
    maxBody,
    data: (packet, offset, payload) => {
      if (offset + payload.length > windowEndHeard) beyondWindow++;
      onSend?.(offset, payload.length);
      const copy = Buffer.from(payload);
      deliver(() => receiver.onData(packet, offset, copy));
      return true;
    },
    ack: () => true,
  };
  const receiverLink: FrameLink = {
    maxBody,
    data: () => true,
    ack: (largest, cumulative, ack) => {
      const body = encodeAck(ack);
      deliver(() => {
        const heard = decodeAck(body)!;
        windowEndHeard = Math.max(windowEndHeard, heard.windowEnd);
        sender.onAck(largest, cumulative, heard);
      });
      return true;
    },
  };
  sender = new StreamSender(senderLink, new MemorySource(data), start, data.length);
  receiver = new StreamReceiver(receiverLink, sink, start, data.length);
  const both = Promise.all([
    new Promise<void>((resolve, reject) => {
      sender.once('complete', resolve);
      sender.once('error', reject);
    }),
    new Promise<void>((resolve, reject) => {
      if (receiver.complete) resolve();
      receiver.once('complete', resolve);
      receiver.once('error', reject);
    }),
  ]);
  const stop = (): void => {
    sender.stop();
    receiver.stop();
    for (const timer of timers) clearTimeout(timer);
  };
  return { sender, receiver, both, stop, beyondWindow: () => beyondWindow };
}

describe('transfer/stream (sender and receiver over an impaired in-memory link)', function () {
  this.timeout(30_000 * PATIENCE);

  const cases: Array<[string, number, Impairment]> = [
    ['clean', 2 * 1024 * 1024, { drop: 0, duplicate: 0, reorder: 0 }],
    ['5% loss, 2% duplication, 2% reordering', 2 * 1024 * 1024, { drop: 0.05, duplicate: 0.02, reorder: 0.02 }],
    ['20% loss', 512 * 1024, { drop: 0.2, duplicate: 0, reorder: 0 }],
  ];
  for (const [label, size, impairment] of cases) {
    for (const seed of [1, 2]) {
      it(`${label} (seed ${seed}): every byte arrives once, in order`, async () => {
        const data = randomBytes(size);
        const sink = new MemorySink();
        const link = wire(data, 0, impairment, seed, sink);
        link.sender.start();
        try {
          await link.both;
        } finally {
          link.stop();
        }
        expect(Buffer.concat(sink.chunks).equals(data)).to.equal(true);
        expect(link.sender.acked).to.equal(size);
        const { retransmits, timeouts } = link.sender.core;
        if (impairment.drop > 0) expect(retransmits).to.be.greaterThan(0);
        // A clean link delivers in order, so no acknowledgement can show a loss: a retransmission
        // there comes only from a timeout, when a loaded machine stalled the event loop past the
        // RTO. What the count may not show is a loss found where there was none.
        else expect(retransmits === 0 || timeouts > 0, `${retransmits} retransmissions without a timeout on a clean link`).to.equal(true);
      });
    }
  }

  it('sizes around one datagram: 0, 1, max-1, max, max+1 bytes', async () => {
    for (const size of [0, 1, 1395, 1396, 1397]) {
      const data = randomBytes(size);
      const sink = new MemorySink();
      const link = wire(data, 0, { drop: 0, duplicate: 0, reorder: 0 }, 3, sink);
      link.sender.start();
      await link.both;
      link.stop();
      expect(Buffer.concat(sink.chunks).equals(data), `size ${size}`).to.equal(true);
    }
  });

  it('starts at an offset (resume) and sends only the rest', async () => {
    const data = randomBytes(100_000);
    const sink = new MemorySink();
    const link = wire(data, 40_000, { drop: 0.05, duplicate: 0, reorder: 0 }, 4, sink);
    link.sender.start();
    await link.both;
    link.stop();
    expect(Buffer.concat(sink.chunks).equals(data.subarray(40_000))).to.equal(true);
    expect(link.sender.acked).to.equal(60_000);
  });

  it('a sink that writes nothing holds the sender to the receive window (flow control): it stops at the window and probes, and goes on once the sink writes', async () => {
    const data = randomBytes(3 * RECEIVE_WINDOW_BYTES);
    let open!: () => void;
    const sink = new MemorySink(new Promise<void>((resolve) => { open = resolve; }));
    let sent = 0;
    let sentAtProbe = -1;
    const link = wire(data, 0, { drop: 0, duplicate: 0, reorder: 0 }, 5, sink, 16_000, (offset, length) => {
      sent = Math.max(sent, offset + length);
      // The window's probe (an empty frame once the window is used up; nothing is written, so the
      // window cannot have grown): now the sink may write.
      if (length === 0 && sentAtProbe < 0 && sent > RECEIVE_WINDOW_BYTES - 16_000) {
        sentAtProbe = sent;
        open();
      }
    });
    link.sender.start();
    await link.both;
    link.stop();
    expect(sentAtProbe).to.be.within(RECEIVE_WINDOW_BYTES - 16_000, RECEIVE_WINDOW_BYTES);
    expect(link.beyondWindow()).to.equal(0);
    expect(Buffer.concat(sink.chunks).equals(data)).to.equal(true);
  });

  it('refuses data beyond the advertised window, past the size, overlapping partly, or cut thinner than a datagram', () => {
    const sink = new MemorySink();
    const acks: number[] = [];
    const link: FrameLink = { maxBody: 1396, data: () => true, ack: (_l, cumulative) => acks.push(cumulative) > 0 };
    const size = 2 * RECEIVE_WINDOW_BYTES;
    const receiver = new StreamReceiver(link, sink, 0, size);
    const segment = Buffer.alloc(MIN_SEGMENT_BYTES);
    expect(receiver.onData(0, RECEIVE_WINDOW_BYTES, segment)).to.equal('refused');
    expect(receiver.onData(1, size - 5, segment)).to.equal('refused');
    expect(receiver.onData(2, 100_000, segment)).to.equal('ok');
    expect(receiver.onData(3, 100_000 + 50, segment)).to.equal('refused');
    expect(receiver.onData(4, 100_000, segment)).to.equal('ok'); // an exact duplicate is harmless
    expect(receiver.onData(5, 300_000, Buffer.alloc(10))).to.equal('refused'); // a sliver
    expect(receiver.onData(6, READ_BLOCK_BYTES - 10, Buffer.alloc(10))).to.equal('ok'); // ends a read block
    expect(receiver.onData(7, 0, Buffer.alloc(5))).to.equal('refused');
    expect(acks.length).to.be.greaterThan(0);
    receiver.stop();
  });

  it('answers window probes, but at most one every few milliseconds', () => {
    const acks: number[] = [];
    const link: FrameLink = { maxBody: 1396, data: () => true, ack: (_l, cumulative) => acks.push(cumulative) > 0 };
    const receiver = new StreamReceiver(link, new MemorySink(), 0, 10 * MIN_SEGMENT_BYTES);
    const started = performance.now();
    for (let i = 0; i < 100; i++) expect(receiver.onData(i, 0, Buffer.alloc(0))).to.equal('ok');
    // One answer, and one more per PROBE_ANSWER_MS the loop took (a loaded machine may take several).
    expect(acks.length).to.be.at.least(1);
    expect(acks.length).to.be.at.most(1 + Math.floor((performance.now() - started) / PROBE_ANSWER_MS));
    receiver.stop();
  });

  it('keeps the work a hostile sender can cause bounded: out-of-order segments are few and whole', () => {
    const link: FrameLink = { maxBody: 1396, data: () => true, ack: () => true };
    const receiver = new StreamReceiver(link, new MemorySink(), 0, null);
    let taken = 0;
    // Every other slot of the window, highest first: the most gaps and the worst insertion order.
    for (let offset = RECEIVE_WINDOW_BYTES - 2 * MIN_SEGMENT_BYTES; offset > 0; offset -= 2 * MIN_SEGMENT_BYTES) {
      if (receiver.onData(taken, offset, Buffer.alloc(MIN_SEGMENT_BYTES)) === 'ok') taken++;
      receiver.onData(taken, offset + 1, Buffer.alloc(1)); // slivers are refused
    }
    expect(taken).to.be.at.most(RECEIVE_WINDOW_BYTES / (2 * MIN_SEGMENT_BYTES));
    expect(receiver.held, 'what the receiver holds for them').to.be.at.most(RECEIVE_WINDOW_BYTES);
    receiver.stop();
  });

  it('an open-ended stream (bandwidth test) ends where the sender says', async () => {
    const sink = new MemorySink();
    let sender!: StreamSender;
    let receiver!: StreamReceiver;
    const senderLink: FrameLink = {
      maxBody: 1396,
      data: (packet, offset, payload) => {
        const copy = Buffer.from(payload);
        setImmediate(() => receiver.onData(packet, offset, copy));
        return true;
      },
      ack: () => true,
    };
    const receiverLink: FrameLink = {
      maxBody: 1396,
      data: () => true,
      ack: (largest, cumulative, ack) => {
        setImmediate(() => sender.onAck(largest, cumulative, ack));
        return true;
      },
    };
    sender = new StreamSender(senderLink, new PatternSource((block) => block.fill(7)), 0, null);
    receiver = new StreamReceiver(receiverLink, sink, 0, null);
    const complete = new Promise<void>((resolve) => sender.once('complete', resolve));
    sender.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    sender.end();
    await complete;
    const size = sender.acked;
    expect(size).to.be.greaterThan(0);
    expect(receiver.setSize(size)).to.equal('ok');
    expect(await eventually(() => receiver.complete, 2_000), 'the receiver completes once its sink has the bytes').to.equal(true);
    expect(sink.written).to.equal(size);
    expect(sink.chunks.every((chunk) => chunk.every((byte) => byte === 7))).to.equal(true);
    expect(receiver.setSize(size + 1)).to.equal('refused');
    sender.stop();
    receiver.stop();
  });
});
