import { expect } from 'chai';
import type { FrameHeaderInput } from '../../lib/protocol/frame.js';
import { decodeMessage, TransferFlags, type TransferMessage } from '../../lib/protocol/transfer.js';
import { ControlChannel } from '../../lib/transfer/control.js';
import type { FrameLink } from '../../lib/transfer/link.js';
import type { TransferPort } from '../../lib/transfer/port.js';
import { StreamSender } from '../../lib/transfer/sender.js';
import { TransferStreams } from '../../lib/transfer/streams.js';
import { TransferTable } from '../../lib/transfer/table.js';
import { asTransferFailure, TransferError } from '../../lib/transfer/transfer-error.js';
import { TransferRecord } from '../../lib/transfer/transfer-state.js';
import { BittrrtError, InvalidInputError } from '../../lib/errors.js';
import { eventually } from '../helpers/udp.js';

/** Keeps the control messages sent; nothing else of a session is needed. */
class RecordingPort implements TransferPort {
  readonly role = 'client' as const;
  closed = false;
  readonly peerIdentity = null;
  readonly peerHost = '127.0.0.1';
  readonly sent: Array<TransferMessage | null> = [];
  sendFrame(header: FrameHeaderInput, payload?: Uint8Array): boolean {
    if (header.flags === TransferFlags.CONTROL) this.sent.push(decodeMessage(Buffer.from(payload ?? [])));
    return !this.closed;
  }
  drop(): void {}
  attach(): void {}
}

const OFFER: TransferMessage = { type: 'offer', name: 'a', size: 1, resume: false, overwrite: false };

function setup(stallMs = 5000): { port: RecordingPort; control: ControlChannel; streams: TransferStreams; transfer: TransferRecord } {
  const port = new RecordingPort();
  const control = new ControlChannel(port, stallMs);
  const streams = new TransferStreams(port, control, new TransferTable('client'), 1000, stallMs);
  return { port, control, streams, transfer: new TransferRecord(2, 'send', 'a', true) };
}

describe('transfer: typed errors, and whether the peer is told, by type not by message text', () => {
  it('a refusal or an abort from the peer is a TransferError whose origin is the peer', async () => {
    for (const answer of [{ type: 'reject', reason: 'no' }, { type: 'abort', reason: 'no' }] as const) {
      const { control, transfer } = setup();
      const request = control.request(transfer, OFFER, 'accept');
      control.deliver(transfer, answer);
      const err = await request.catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TransferError).with.property('origin', 'peer');
      expect(err).to.have.property('code', 'ERR_TRANSFER');
    }
  });

  it('a stop comes from the peer only when the peer aborted; the mark holds for later waits too', async () => {
    const local = setup();
    const request = local.control.request(local.transfer, OFFER, 'accept');
    local.control.stop(local.transfer, 'cancelled');
    expect(await request.catch((e: unknown) => e)).to.be.instanceOf(TransferError).with.property('origin', 'local');

    const peer = setup();
    const waiting = peer.control.request(peer.transfer, OFFER, 'accept');
    peer.control.stop(peer.transfer, 'the peer aborted: x', true);
    expect(await waiting.catch((e: unknown) => e)).to.be.instanceOf(TransferError).with.property('origin', 'peer');
    expect(() => peer.control.checkStopped(peer.transfer)).to.throw(TransferError).with.property('origin', 'peer');
  });

  it('a peer silent for the stall time is a TransferError of origin silence, waiting or asking', async () => {
    const { control, transfer } = setup(50);
    const waited = await control.awaitRequest(new TransferRecord(3, 'receive', 'a', false), 'done').catch((e: unknown) => e);
    expect(waited).to.be.instanceOf(TransferError).with.property('origin', 'silence');
    const asked = await control.request(transfer, OFFER, 'accept').catch((e: unknown) => e);
    expect(asked).to.be.instanceOf(TransferError).with.property('origin', 'silence');
  });

  it('abandon tells the peer of a local failure, not of one the peer caused or a silence', async () => {
    for (const [err, told] of [
      [new TransferError('refused: no', { origin: 'peer' }), false],
      [new TransferError('nothing for 30 s', { origin: 'silence' }), false],
      [new TransferError('the peer answered the bandwidth test wrongly'), true],
      [new TransferError('disk broke'), true],
    ] as const) {
      const { port, control, streams, transfer } = setup();
      const request = control.request(transfer, OFFER, 'accept');
      control.deliver(transfer, { type: 'accept', offset: 0, size: 1, prefix: '' });
      await request;
      port.sent.length = 0;
      streams.abandon(transfer, err);
      expect(port.sent.map((m) => m?.type), err.message).to.deep.equal(told ? ['abort'] : []);
    }
  });

  it('a sender whose session closed fails with a TransferError', async () => {
    const link: FrameLink = { maxBody: 1000, data: () => false, ack: () => true };
    const sender = new StreamSender(link, { read: (offset, length) => Promise.resolve(Buffer.alloc(Math.min(length, 10 - offset))) }, 0, 10);
    let failure: Error | undefined;
    sender.on('error', (err) => { failure = err; });
    sender.start();
    expect(await eventually(() => failure !== undefined, 1000)).to.equal(true);
    expect(failure).to.be.instanceOf(TransferError).with.property('message', 'the session closed');
    sender.stop();
  });

  it('asTransferFailure keeps a typed error and wraps anything else, keeping its message and cause', () => {
    const typed = new InvalidInputError('bad');
    expect(asTransferFailure(typed)).to.equal(typed);
    const plain = new Error('the source ended early');
    const wrapped = asTransferFailure(plain);
    expect(wrapped).to.be.instanceOf(TransferError).and.instanceOf(BittrrtError);
    expect(wrapped.message).to.equal(plain.message);
    expect(wrapped.cause).to.equal(plain);
    expect(asTransferFailure('odd')).to.be.instanceOf(TransferError).with.property('message', 'odd');
  });
});
