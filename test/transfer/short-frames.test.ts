import { expect } from 'chai';
import { DEFAULT_MAX_DATAGRAM, SHORT_TRANSFER_OVERHEAD } from '../../lib/constants.js';
import { SHORT_PACKET_LIMIT, writeFrameHeader } from '../../lib/protocol/frame.js';
import { TransferFlags } from '../../lib/protocol/transfer.js';
import { ReceiveCore } from '../../lib/transfer/receive-core.js';

const MAX_BODY = DEFAULT_MAX_DATAGRAM - SHORT_TRANSFER_OVERHEAD;

describe('transfer: short data frames from a hostile sender', () => {
  it('low bits picked to push the largest packet number up 2^31 a frame are refused at 2^52, and every acknowledgement still encodes', () => {
    const core = new ReceiveCore({ maxBody: MAX_BODY, start: 0, size: null, now: 0 });
    const body = Buffer.alloc(MAX_BODY, 7);
    // A long data frame may carry any packet number below 2^53: start a few steps short of the limit.
    expect(core.onData(0, SHORT_PACKET_LIMIT - 2 ** 33, 0, body)).to.equal('ok');
    let largest = SHORT_PACKET_LIMIT - 2 ** 33;
    let offset = MAX_BODY;
    const verdicts: string[] = [];
    for (let step = 1; step <= 8; step++) {
      // The low 32 bits of the packet number 2^31 - 1 ahead of the largest.
      const packet = core.expandPacket((largest + 2 ** 31 - 1) % 2 ** 32);
      const verdict = core.onData(step, packet, offset, body);
      verdicts.push(verdict);
      if (verdict === 'ok') largest = packet;
      offset += MAX_BODY;
      const next = core.flushAck(step);
      if (next) {
        expect(next.largestPacket).to.be.below(SHORT_PACKET_LIMIT);
        expect(() => writeFrameHeader(Buffer.alloc(20), { flags: TransferFlags.ACK, channel: 1, sequence: next.largestPacket, offset: next.cumulative })).to.not.throw();
      }
    }
    // Four steps of 2^31 - 1 fit below the limit; every later one is refused.
    expect(verdicts.slice(0, 4)).to.deep.equal(['ok', 'ok', 'ok', 'ok']);
    expect(verdicts.slice(4)).to.deep.equal(['refused', 'refused', 'refused', 'refused']);
  });
});
