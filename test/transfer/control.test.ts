import { expect } from 'chai';
import { CONTROL_RETRY_MS } from '../../lib/constants.js';
import type { FrameHeaderInput } from '../../lib/protocol/frame.js';
import { decodeMessage, TransferFlags, type TransferMessage } from '../../lib/protocol/transfer.js';
import { ControlChannel } from '../../lib/transfer/control.js';
import type { TransferPort } from '../../lib/transfer/port.js';
import { TransferError } from '../../lib/transfer/transfer-error.js';
import { TransferRecord } from '../../lib/transfer/transfer-state.js';

/** A port that keeps what is sent: the control channel needs nothing else of a session. */
class RecordingPort implements TransferPort {
  readonly role = 'client' as const;
  closed = false;
  readonly peerIdentity = null;
  readonly peerHost = '127.0.0.1';
  readonly sent: Array<{ channel: number; message: TransferMessage | null }> = [];
  onSend?: () => void;
  sendFrame(header: FrameHeaderInput, payload?: Uint8Array): boolean {
    expect(header.flags).to.equal(TransferFlags.CONTROL);
    this.sent.push({ channel: header.channel, message: decodeMessage(Buffer.from(payload ?? [])) });
    this.onSend?.();
    return !this.closed;
  }
  drop(): void {}
  attach(): void {}
}

const OFFER: TransferMessage = { type: 'offer', name: 'a', size: 1, resume: false, overwrite: false };

describe('transfer/control: requests sent until answered, answers repeated, refusals remembered', function () {
  this.timeout(10_000);

  it('sends a request again until its answer comes, then stops; the transfer is then open', async () => {
    const port = new RecordingPort();
    const control = new ControlChannel(port, 5000);
    const transfer = new TransferRecord(1, 'send', 'a', true);
    // Answered on the third send: two retries (CONTROL_RETRY_MS, then ×1.5) went out first.
    port.onSend = () => {
      if (port.sent.length === 3) setImmediate(() => control.deliver(transfer, { type: 'accept', offset: 0, size: 1, prefix: '' }));
    };
    const answer = await control.request(transfer, OFFER, 'accept');
    expect(answer.type).to.equal('accept');
    expect(port.sent.map((s) => s.message?.type)).to.deep.equal(['offer', 'offer', 'offer']);
    expect(transfer.state.kind).to.equal('open');
    await new Promise((resolve) => setTimeout(resolve, CONTROL_RETRY_MS * 3));
    expect(port.sent).to.have.length(3);
  });

  it('a refusal or an abort ends the request with the peer\'s reason', async () => {
    const port = new RecordingPort();
    const control = new ControlChannel(port, 5000);
    const transfer = new TransferRecord(1, 'send', 'a', true);
    const request = control.request(transfer, OFFER, 'accept');
    expect(control.deliver(transfer, { type: 'reject', reason: 'no room' })).to.equal(true);
    const err = await request.catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TransferError).with.property('message', 'the peer refused: no room');
  });

  it('a stop ends the current wait at once, and every later wait before it starts', async () => {
    const port = new RecordingPort();
    const control = new ControlChannel(port, 5000);
    const transfer = new TransferRecord(1, 'send', 'a', true);
    const request = control.request(transfer, OFFER, 'accept');
    control.stop(transfer, 'interrupted');
    expect(await request.catch((e: Error) => e.message)).to.equal('interrupted');
    const sends = port.sent.length;
    expect(await control.request(transfer, OFFER, 'accept').catch((e: Error) => e.message)).to.equal('interrupted');
    expect(port.sent).to.have.length(sends);
    expect(() => control.checkStopped(transfer)).to.throw(TransferError, 'interrupted');
  });

  it('repeats its answer to a repeated request, and its refusal to a repeated refused one', () => {
    const port = new RecordingPort();
    const control = new ControlChannel(port, 5000);
    const transfer = new TransferRecord(2, 'receive', 'a', false);
    control.answer(transfer, 'offer', { type: 'accept', offset: 0, size: 1, prefix: '' });
    expect(control.deliver(transfer, OFFER)).to.equal(true);
    expect(port.sent.map((s) => s.message?.type)).to.deep.equal(['accept', 'accept']);
    // A message nobody waits for, and no answer kept: not handled here.
    expect(control.deliver(transfer, { type: 'checking' })).to.equal(false);
    control.refuse(4, 'too big');
    expect(control.refusal(4)).to.equal('too big');
    expect(control.refusal(6)).to.equal(undefined);
    expect(port.sent.at(-1)).to.deep.equal({ channel: 4, message: { type: 'reject', reason: 'too big' } });
  });

  it('gives up after the stall time without an answer, and at once when the session has closed', async () => {
    const port = new RecordingPort();
    const control = new ControlChannel(port, CONTROL_RETRY_MS);
    const silent = control.request(new TransferRecord(1, 'send', 'a', true), OFFER, 'accept');
    expect(await silent.catch((e: Error) => e.message)).to.match(/^no answer from the peer for /);
    port.closed = true;
    const closed = control.request(new TransferRecord(3, 'send', 'b', true), OFFER, 'accept');
    expect(await closed.catch((e: Error) => e.message)).to.equal('the session closed');
  });
});
