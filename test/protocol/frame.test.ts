import { expect } from 'chai';
import fc from 'fast-check';
import { FRAME_FLAG_BITS, FRAME_HEADER_BYTES, MAX_CHANNEL } from '../../lib/constants.js';
import { AeadKey } from '../../lib/crypto/aead-key.js';
import type { CryptoBackend } from '../../lib/crypto/backend.js';
import { loadNobleBackend } from '../../lib/crypto/noble-backend.js';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';
import {
  encodeFrame, expandPacketNumber, Flag, frameHeaderBytes, type FrameHeader, readFrameHeader, SHORT_DATA_FLAGS, shortFrameOffset, shortFramePacket,
  writeFrameHeader,
} from '../../lib/protocol/frame.js';
import { hex, loadPythonFixture, unhex } from '../helpers/fixtures.js';

const fixture = loadPythonFixture();
const MAX_U64 = (1n << 64n) - 1n;

const BACKENDS: ReadonlyArray<[string, () => CryptoBackend]> = [
  ['native', loadSodiumBackend],
  ['js', loadNobleBackend],
];

const header = (flags: number, channel: number, sequence: bigint, offset: bigint): FrameHeader => ({ flags, channel, sequence, offset });

/** Headers in the original's layout: every flags byte but a short data frame's (tested on their own below). */
const validHeader: fc.Arbitrary<FrameHeader> = fc.record({
  flags: fc.integer({ min: 0, max: 0xff }).filter((flags) => flags !== SHORT_DATA_FLAGS),
  channel: fc.integer({ min: 0, max: MAX_CHANNEL }),
  sequence: fc.bigInt({ min: 0n, max: MAX_U64 }),
  offset: fc.bigInt({ min: 0n, max: MAX_U64 }),
});

describe('frame', () => {
  it('FRAME_HEADER_BYTES is 20 and MAX_CHANNEL is 2^24 - 1', () => {
    expect(FRAME_HEADER_BYTES).to.equal(20);
    expect(MAX_CHANNEL).to.equal(2 ** 24 - 1);
  });

  describe('Flag', () => {
    it("masks are 1 << the original's bit positions", () => {
      const original = { URGENT: 0, HEARTBEAT: 1, FLOW_CONTROL: 2, UNLOSSY: 3, BINARY: 4, DATA: 5, ACK: 6 } as const;
      expect(FRAME_FLAG_BITS).to.deep.equal(original);
      for (const [name, bit] of Object.entries(original)) {
        expect(Flag[name as keyof typeof original], name).to.equal(1 << bit);
      }
      expect(Flag.URGENT).to.equal(0x01);
      expect(Flag.HEARTBEAT).to.equal(0x02);
      expect(Flag.FLOW_CONTROL).to.equal(0x04);
      expect(Flag.UNLOSSY).to.equal(0x08);
      expect(Flag.BINARY).to.equal(0x10);
      expect(Flag.DATA).to.equal(0x20);
      expect(Flag.ACK).to.equal(0x40);
    });

    it('CONTROL is 0x80, and all eight masks are distinct single bits', () => {
      expect(Flag.CONTROL).to.equal(0x80);
      const masks = Object.values(Flag);
      expect(masks).to.have.length(8);
      expect(masks.reduce((a, b) => a | b, 0)).to.equal(0xff);
      for (const m of masks) expect(m & (m - 1), `mask ${m}`).to.equal(0);
    });

    it('the vector flags 67 are URGENT | HEARTBEAT | ACK', () => {
      expect(Flag.URGENT | Flag.HEARTBEAT | Flag.ACK).to.equal(67);
    });
  });

  describe('header layout', () => {
    it('is exactly 20 big-endian bytes: flags, channel(3), sequence(8), offset(8)', () => {
      const h = header(0x43, 0x123456, 0x0102030405060708n, 0x1112131415161718n);
      const frame = encodeFrame(h);
      expect(frame.length).to.equal(20);
      expect(hex(frame)).to.equal('43' + '123456' + '0102030405060708' + '1112131415161718');
      const out = new Uint8Array(20);
      writeFrameHeader(out, h);
      expect(hex(out)).to.equal(hex(frame));
      expect(readFrameHeader(frame)).to.deep.equal(h);
    });

    it('encodes the Python vector header as the original does', () => {
      const f = fixture.comm_encryptor[0]!.framed_message;
      const frame = encodeFrame(header(f.flags, f.channel, BigInt(f.sequence), BigInt(f.offset)));
      // 67, 1193046 = 0x123456, 2^40 + 7, 12600 = 0x3138
      expect(hex(frame)).to.equal('43' + '123456' + '0000010000000007' + '0000000000003138');
    });

    it('encodeFrame appends the payload after the header, and defaults to an empty payload', () => {
      const h = header(Flag.DATA, 7, 1n, 2n);
      const payload = Buffer.from('hello frame');
      const frame = encodeFrame(h, payload);
      expect(frame.length).to.equal(20 + payload.length);
      expect(frame.subarray(20).toString()).to.equal('hello frame');
      expect(hex(frame.subarray(0, 20))).to.equal(hex(encodeFrame(h)));
      expect(encodeFrame(h, new Uint8Array(0)).length).to.equal(20);
    });

    it('extremes: all zeros and all ones', () => {
      const zero = encodeFrame(header(0, 0, 0n, 0n));
      expect(hex(zero)).to.equal('00'.repeat(20));
      expect(readFrameHeader(zero)).to.deep.equal(header(0, 0, 0n, 0n));

      const max = header(0xff, 0xffffff, MAX_U64, MAX_U64);
      const ones = encodeFrame(max);
      expect(hex(ones)).to.equal('ff'.repeat(20));
      const back = readFrameHeader(ones);
      expect(back).to.deep.equal(max);
      expect(back!.channel).to.equal(16_777_215);
      expect(back!.sequence).to.equal(18_446_744_073_709_551_615n);
      expect(back!.offset).to.equal(18_446_744_073_709_551_615n);
    });

    it('fields do not bleed into each other', () => {
      expect(hex(encodeFrame(header(0, 0xffffff, 0n, 0n)))).to.equal('00ffffff' + '00'.repeat(16));
      expect(hex(encodeFrame(header(0, 0, MAX_U64, 0n)))).to.equal('00000000' + 'ff'.repeat(8) + '00'.repeat(8));
      expect(hex(encodeFrame(header(0, 0, 0n, MAX_U64)))).to.equal('00'.repeat(12) + 'ff'.repeat(8));
      expect(hex(encodeFrame(header(0x80, 0x800000, 1n << 63n, 1n)))).to.equal(
        '80800000' + '8000000000000000' + '0000000000000001');
      expect(readFrameHeader(unhex('00800000' + '00'.repeat(16)))!.channel).to.equal(0x800000);
    });

    it('writeFrameHeader writes into a view of a larger buffer, touching only its 20 bytes', () => {
      const arena = new Uint8Array(64).fill(0xee);
      const view = arena.subarray(7, 40);
      const h = header(0x21, 0xabcdef, 123456789012345n, 42n);
      writeFrameHeader(view, h);
      expect(hex(arena.subarray(0, 7))).to.equal('ee'.repeat(7));
      expect(hex(arena.subarray(27))).to.equal('ee'.repeat(37));
      expect(hex(arena.subarray(7, 27))).to.equal(hex(encodeFrame(h)));
      // and readFrameHeader reads from the view's own offset
      expect(readFrameHeader(view)).to.deep.equal(h);
      expect(readFrameHeader(arena.subarray(7, 27))).to.deep.equal(h);
    });

    it('writeFrameHeader at an offset (after a nonce) writes those 20 bytes only; a bad header there writes nothing', () => {
      const datagram = new Uint8Array(60).fill(0xee);
      const h = header(0x21, 0xabcdef, 123456789012345n, 42n);
      writeFrameHeader(datagram, { ...h, sequence: 123456789012345, offset: 42 }, 12);
      expect(hex(datagram.subarray(0, 12))).to.equal('ee'.repeat(12));
      expect(hex(datagram.subarray(32))).to.equal('ee'.repeat(28));
      expect(hex(datagram.subarray(12, 32))).to.equal(hex(encodeFrame(h)));
      const untouched = new Uint8Array(60).fill(0xaa);
      expect(() => writeFrameHeader(untouched, { ...h, offset: 2 ** 53 }, 12)).to.throw(RangeError);
      expect(hex(untouched)).to.equal('aa'.repeat(60));
    });
  });

  describe('out-of-range values throw RangeError', () => {
    const ok = header(1, 1, 1n, 1n);
    const bad: Array<[string, FrameHeader]> = [
      ['flags 256', { ...ok, flags: 256 }],
      ['flags -1', { ...ok, flags: -1 }],
      ['flags 1.5', { ...ok, flags: 1.5 }],
      ['flags NaN', { ...ok, flags: NaN }],
      ['channel 2^24', { ...ok, channel: 2 ** 24 }],
      ['channel -1', { ...ok, channel: -1 }],
      ['channel 0.5', { ...ok, channel: 0.5 }],
      ['channel Infinity', { ...ok, channel: Infinity }],
      ['sequence 2^64', { ...ok, sequence: 1n << 64n }],
      ['sequence -1', { ...ok, sequence: -1n }],
      ['offset 2^64', { ...ok, offset: 1n << 64n }],
      ['offset -1', { ...ok, offset: -1n }],
      ['offset 2^70', { ...ok, offset: 1n << 70n }],
    ];
    for (const [name, h] of bad) {
      it(name, () => {
        const out = new Uint8Array(20).fill(0xaa);
        expect(() => writeFrameHeader(out, h)).to.throw(RangeError);
        expect(() => encodeFrame(h)).to.throw(RangeError);
        expect(() => encodeFrame(h, Buffer.from('payload'))).to.throw(RangeError);
        // validation happens before any byte is written
        expect(hex(out)).to.equal('aa'.repeat(20));
      });
    }

    it('the largest valid values do not throw', () => {
      expect(() => encodeFrame(header(255, 2 ** 24 - 1, MAX_U64, MAX_U64))).to.not.throw();
    });
  });

  describe('readFrameHeader', () => {
    it('returns null for fewer than 20 bytes, and reads exactly 20', () => {
      const full = encodeFrame(header(3, 4, 5n, 6n), Buffer.from('xyz'));
      for (let n = 0; n < 20; n++) {
        expect(readFrameHeader(full.subarray(0, n)), `${n} bytes`).to.equal(null);
        expect(readFrameHeader(new Uint8Array(n)), `${n} zero bytes`).to.equal(null);
      }
      expect(readFrameHeader(full.subarray(0, 20))).to.deep.equal(header(3, 4, 5n, 6n));
      expect(readFrameHeader(full)).to.deep.equal(header(3, 4, 5n, 6n));
    });
  });

  for (const [name, load] of BACKENDS) {
    describe(`Python framed_message vectors (${name} backend)`, () => {
      const backend = load();
      fixture.comm_encryptor.forEach((v, index) => {
        const f = v.framed_message;

        it(`vector ${index}: decrypting with derived_key gives the header and payload`, () => {
          const key = new AeadKey(backend, unhex(v.derived_key));
          const sealed = unhex(f.encrypted);
          const plain = new Uint8Array(sealed.length - 28);
          const length = key.openInto(plain, sealed);
          expect(length).to.equal(20 + unhex(f.payload).length);
          const h = readFrameHeader(plain.subarray(0, length));
          expect(h).to.deep.equal({ flags: 67, channel: 1193046, sequence: 1099511627783n, offset: 12600n });
          expect(h).to.deep.equal(header(f.flags, f.channel, BigInt(f.sequence), BigInt(f.offset)));
          expect(hex(plain.subarray(20, length))).to.equal(f.payload);
          expect(Buffer.from(plain.subarray(20, length)).toString()).to.equal('framed payload');
        });

        it(`vector ${index}: encodeFrame + sealInto with the vector nonce equals encrypted byte for byte`, () => {
          const key = new AeadKey(backend, unhex(v.derived_key));
          const frame = encodeFrame(header(f.flags, f.channel, BigInt(f.sequence), BigInt(f.offset)), unhex(f.payload));
          const out = new Uint8Array(frame.length + 28);
          const written = key.sealInto(out, frame, undefined, unhex(f.nonce));
          expect(written).to.equal(out.length);
          expect(hex(out)).to.equal(f.encrypted);
          expect(hex(out.subarray(0, 12))).to.equal(f.nonce);
        });
      });
    });
  }

  describe('properties', () => {
    it('round trip: readFrameHeader(encodeFrame(h, p)) is h, and the payload follows unchanged', () => {
      fc.assert(
        fc.property(validHeader, fc.uint8Array({ maxLength: 300 }), (h, payload) => {
          const frame = encodeFrame(h, payload);
          expect(frame.length).to.equal(20 + payload.length);
          expect(readFrameHeader(frame)).to.deep.equal(h);
          expect(hex(frame.subarray(20))).to.equal(hex(payload));
          const out = new Uint8Array(20);
          writeFrameHeader(out, h);
          expect(hex(out)).to.equal(hex(frame.subarray(0, 20)));
        }),
        { numRuns: 500 },
      );
    });

    it('readFrameHeader on arbitrary bytes never throws; it is null iff shorter than 20, else re-encodes to the same 20 bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 8 }), (bytes, skip) => {
          const view = bytes.subarray(Math.min(skip, bytes.length));
          let h: FrameHeader | null = null;
          expect(() => {
            h = readFrameHeader(view);
          }).to.not.throw();
          if (view.length < 20) {
            expect(h).to.equal(null);
          } else {
            const got = h as FrameHeader | null;
            expect(got).to.not.equal(null);
            expect(got!.channel).to.be.within(0, MAX_CHANNEL);
            expect(got!.flags).to.be.within(0, 255);
            // Read as the original's layout; a short data frame's flags would write its own.
            if (got!.flags !== SHORT_DATA_FLAGS) expect(hex(encodeFrame(got!))).to.equal(hex(view.subarray(0, 20)));
          }
        }),
        { numRuns: 500 },
      );
    });
  });
  describe('number fields (the transfer hot path)', () => {
    it('write the same bytes as the equal bigints, for any safe integer', () => {
      fc.assert(
        fc.property(fc.nat(0xff).filter((flags) => flags !== SHORT_DATA_FLAGS), fc.nat(MAX_CHANNEL), fc.maxSafeNat(), fc.maxSafeNat(), (flags, channel, sequence, offset) => {
          const asNumbers = Buffer.alloc(20);
          const asBigints = Buffer.alloc(20);
          writeFrameHeader(asNumbers, { flags, channel, sequence, offset });
          writeFrameHeader(asBigints, header(flags, channel, BigInt(sequence), BigInt(offset)));
          expect(hex(asNumbers)).to.equal(hex(asBigints));
          expect(readFrameHeader(asNumbers)).to.deep.equal(header(flags, channel, BigInt(sequence), BigInt(offset)));
        }),
        { numRuns: 500 },
      );
    });

    for (const bad of [-1, 0.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      it(`refuse ${bad} and write nothing`, () => {
        const out = Buffer.alloc(20, 0xaa);
        expect(() => writeFrameHeader(out, { flags: 1, channel: 1, sequence: 1, offset: bad })).to.throw(RangeError);
        expect(() => writeFrameHeader(out, { flags: 1, channel: 1, sequence: bad, offset: 1 })).to.throw(RangeError);
        expect(hex(out)).to.equal('aa'.repeat(20));
      });
    }
  });

  describe('short data frames (UNLOSSY | DATA without BINARY: a transfer\'s file data, to a peer that reads them)', () => {
    it('are 14 bytes: flags, channel(3), the packet number\'s low 32 bits, offset(6), all big-endian', () => {
      expect(SHORT_DATA_FLAGS).to.equal(Flag.UNLOSSY | Flag.DATA);
      const h = { flags: SHORT_DATA_FLAGS, channel: 0x123456, sequence: 0x1_0203_0405, offset: 0x0a0b_0c0d_0e0f };
      const frame = encodeFrame(h, Buffer.from('data'));
      expect(hex(frame)).to.equal('28' + '123456' + '02030405' + '0a0b0c0d0e0f' + Buffer.from('data').toString('hex'));
      const out = new Uint8Array(14);
      expect(writeFrameHeader(out, h)).to.equal(14);
      expect(hex(out)).to.equal(hex(frame.subarray(0, 14)));
      expect(shortFramePacket(frame)).to.equal(0x0203_0405);
      expect(shortFrameOffset(frame)).to.equal(0x0a0b_0c0d_0e0f);
      // The same from bigints.
      expect(hex(encodeFrame({ ...h, sequence: 0x1_0203_0405n, offset: 0x0a0b_0c0d_0e0fn }, Buffer.from('data')))).to.equal(hex(frame));
    });

    it('every other frame keeps the original\'s 20-byte header', () => {
      for (let flags = 0; flags <= 0xff; flags++) expect(frameHeaderBytes(flags), `flags ${flags}`).to.equal(flags === SHORT_DATA_FLAGS ? 14 : FRAME_HEADER_BYTES);
      expect(writeFrameHeader(new Uint8Array(20), { flags: SHORT_DATA_FLAGS | Flag.BINARY, channel: 1, sequence: 1, offset: 1 })).to.equal(20);
    });

    it('carry any offset below 2^48 exactly, and refuse 2^48 without writing a byte', () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (offset) => {
        const frame = encodeFrame({ flags: SHORT_DATA_FLAGS, channel: 1, sequence: 0, offset });
        expect(shortFrameOffset(frame)).to.equal(offset);
      }), { numRuns: 500 });
      const out = Buffer.alloc(20, 0xaa);
      expect(() => writeFrameHeader(out, { flags: SHORT_DATA_FLAGS, channel: 1, sequence: 1, offset: 2 ** 48 })).to.throw(RangeError);
      expect(() => writeFrameHeader(out, { flags: SHORT_DATA_FLAGS, channel: 1, sequence: 1, offset: 1n << 48n })).to.throw(RangeError);
      expect(hex(out)).to.equal('aa'.repeat(20));
    });

    it('a packet number read back from its low 32 bits is the sender\'s, within 2^31 either side of the largest received', () => {
      // Below 2^52 (SHORT_PACKET_LIMIT): no sender counts that far.
      fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 52 - 1 }), fc.integer({ min: -(2 ** 31) + 2, max: 2 ** 31 - 2 }), (packet, lead) => {
        // `lead`: how far the largest packet received is ahead of this one (negative: this one is newer).
        const largest = Math.max(-1, packet + lead);
        if (packet + lead < -1 || largest >= 2 ** 52) return;
        const frame = encodeFrame({ flags: SHORT_DATA_FLAGS, channel: 1, sequence: packet, offset: 0 });
        expect(expandPacketNumber(shortFramePacket(frame), largest)).to.equal(packet);
      }), { numRuns: 2000 });
    });

    it('expanding: across the 2^32 wrap both ways, and from nothing received', () => {
      const wrap = 2 ** 32;
      expect(expandPacketNumber(7, -1)).to.equal(7);
      expect(expandPacketNumber(1, wrap - 2)).to.equal(wrap + 1);
      expect(expandPacketNumber(wrap - 3, wrap + 5)).to.equal(wrap - 3);
      expect(expandPacketNumber(5, 3 * wrap + 2)).to.equal(3 * wrap + 5);
      expect(expandPacketNumber(wrap - 1, 10)).to.equal(wrap - 1);
    });

    it('expanding stops at 2^52: past it (or from a largest past it) the answer is -1', () => {
      expect(expandPacketNumber(2 ** 32 - 20, 2 ** 52 - 10)).to.equal(2 ** 52 - 20);
      expect(expandPacketNumber(3, 2 ** 52 - 10)).to.equal(-1); // nearest is 2^52 + 3
      expect(expandPacketNumber(5, 2 ** 52 - 10 + 2 ** 31)).to.equal(-1);
      expect(expandPacketNumber(5, 2 ** 52)).to.equal(-1);
      expect(expandPacketNumber(2 ** 32 - 1, 2 ** 52 - 2)).to.equal(2 ** 52 - 1);
    });
  });
});
