import { expect } from 'chai';
import fc from 'fast-check';
import { EMPTY, readSafeU64, readU24, readU32, TWO_32, writeSafeU64, writeU32 } from '../lib/bytes.js';
import { FRAME_HEADER_BYTES, SHORT_FRAME_HEADER_BYTES } from '../lib/constants.js';
import {
  encodeFrame, frameChannel, frameFlags, frameSafeOffset, frameSafeSequence, SHORT_DATA_FLAGS, SHORT_OFFSET_LIMIT, shortFrameOffset, shortFramePacket,
} from '../lib/protocol/frame.js';

describe('bytes: big-endian integers in place', () => {
  it('reads and writes u24, u32 and safe u64 big-endian', () => {
    const out = new Uint8Array(8);
    writeU32(out, 0, 0x01020304);
    expect([...out.subarray(0, 4)]).to.deep.equal([1, 2, 3, 4]);
    expect(readU32(out, 0)).to.equal(0x01020304);
    expect(readU24(out, 1)).to.equal(0x020304);
    writeU32(out, 0, 0xffff_ffff);
    expect(readU32(out, 0)).to.equal(0xffff_ffff);
    writeSafeU64(out, 0, Number.MAX_SAFE_INTEGER);
    expect(readSafeU64(out, 0)).to.equal(Number.MAX_SAFE_INTEGER);
    expect(Buffer.from(out).readBigUInt64BE(0)).to.equal(BigInt(Number.MAX_SAFE_INTEGER));
    expect(TWO_32).to.equal(4294967296);
    expect(EMPTY.length).to.equal(0);
  });

  it('a u64 of 2^53 or more reads as -1', () => {
    const out = Buffer.alloc(8);
    out.writeBigUInt64BE(2n ** 53n);
    expect(readSafeU64(out, 0)).to.equal(-1);
    out.writeBigUInt64BE(2n ** 64n - 1n);
    expect(readSafeU64(out, 0)).to.equal(-1);
  });

  it('round-trips every safe u64 as Buffer writes it', () => {
    fc.assert(fc.property(fc.maxSafeNat(), (value) => {
      const out = new Uint8Array(8);
      writeSafeU64(out, 0, value);
      return Buffer.from(out).readBigUInt64BE(0) === BigInt(value) && readSafeU64(out, 0) === value;
    }));
  });

  it('the frame field readers agree with the header writer', () => {
    // Every flags value but a short data frame's, whose layout the next test covers.
    const originalFlags = fc.nat(0xff).filter((flags) => flags !== SHORT_DATA_FLAGS);
    fc.assert(fc.property(originalFlags, fc.nat(0xff_ffff), fc.maxSafeNat(), fc.maxSafeNat(), (flags, channel, sequence, offset) => {
      const frame = encodeFrame({ flags, channel, sequence, offset });
      return frame.length === FRAME_HEADER_BYTES && frameFlags(frame) === flags && frameChannel(frame) === channel
        && frameSafeSequence(frame) === sequence && frameSafeOffset(frame) === offset;
    }));
  });

  it('the short data frame\'s readers agree with the header writer (low 32 bits of the packet, a 48-bit offset)', () => {
    fc.assert(fc.property(fc.nat(0xff_ffff), fc.maxSafeNat(), fc.nat({ max: SHORT_OFFSET_LIMIT - 1 }), (channel, sequence, offset) => {
      const frame = encodeFrame({ flags: SHORT_DATA_FLAGS, channel, sequence, offset });
      return frame.length === SHORT_FRAME_HEADER_BYTES && frameFlags(frame) === SHORT_DATA_FLAGS && frameChannel(frame) === channel
        && shortFramePacket(frame) === sequence % TWO_32 && shortFrameOffset(frame) === offset;
    }));
  });
});
