import { expect } from 'chai';
import { COOKIE_MAX_BYTES, MAX_BANDWIDTH_SECONDS, MAX_FILE_NAME_BYTES, MAX_SACK_RANGES, MAX_TRANSFER_MESSAGE_BYTES, PROTOCOL_VERSION } from '../../lib/constants.js';
import { toBase64Url } from '../../lib/encoding.js';
import { writeFrameHeader } from '../../lib/protocol/frame.js';
import { encodeHandshake, parseHandshake, type HandshakeFields } from '../../lib/protocol/handshake.js';
import { encodeCookieReply, readCookieReply, readInitiation } from '../../lib/protocol/handshake-v2.js';
import { decodeAck, decodeMessage, encodeAck, encodeMessage } from '../../lib/protocol/transfer.js';

/**
 * Boundaries and wrong-typed fields the protocol tests left open, found by mutation testing
 * (npm run mutate): each case is a value a peer can send.
 */
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');
const DIGEST = 'ab'.repeat(32);
const STATS = { packets: 1, retransmits: 0, srtt: null, minRtt: null };
const TWO_53 = 2 ** 53;

/** An acknowledgement body with raw 64-bit span values (encodeAck refuses to write some of them). */
function rawAck(spans: Array<[bigint, bigint]>): Buffer {
  const body = Buffer.alloc(12 + 16 * spans.length);
  spans.forEach(([start, end], i) => {
    body.writeBigUInt64BE(start, 12 + 16 * i);
    body.writeBigUInt64BE(end, 20 + 16 * i);
  });
  return body;
}

describe('protocol parsers: boundaries and wrong types', () => {
  describe('acknowledgements', () => {
    it('a span may start at 0, and exactly MAX_SACK_RANGES spans are read', () => {
      expect(decodeAck(encodeAck({ windowEnd: 0, delayMicros: 0, spans: [[0, 1]] }))?.spans).to.deep.equal([[0, 1]]);
      const spans = Array.from({ length: MAX_SACK_RANGES }, (_, i) => [i * 2, i * 2 + 1] as [number, number]);
      expect(decodeAck(encodeAck({ windowEnd: 0, delayMicros: 0, spans }))?.spans).to.deep.equal(spans);
    });

    it('refuses a span whose start or end is past 2^53, and a body with half a span', () => {
      expect(decodeAck(rawAck([[1n, 2n]]))).to.not.equal(null);
      expect(decodeAck(rawAck([[BigInt(TWO_53), BigInt(TWO_53) + 5n]]))).to.equal(null);
      expect(decodeAck(rawAck([[1n, BigInt(TWO_53)]]))).to.equal(null);
      // Only the start past 2^53, the end a small valid offset: the start alone must refuse it
      // (a start read as null would compare as 0 in the order checks and pass them).
      expect(decodeAck(rawAck([[2n ** 60n, 5n]]))).to.equal(null);
      expect(decodeAck(rawAck([[1n, 2n]]).subarray(0, 20))).to.equal(null);
    });
  });

  describe('control messages', () => {
    it('a reason has every control character replaced, and is cut to 200 characters with "..."', () => {
      expect(decodeMessage(encodeMessage({ type: 'abort', reason: 'a\nb\rc' }))).to.deep.equal({ type: 'abort', reason: 'a?b?c' });
      const exact = 'x'.repeat(200);
      expect(decodeMessage(encodeMessage({ type: 'abort', reason: exact }))).to.deep.equal({ type: 'abort', reason: exact });
      const cut = decodeMessage(encodeMessage({ type: 'abort', reason: 'y'.repeat(201) }));
      expect(cut).to.deep.equal({ type: 'abort', reason: `${'y'.repeat(197)}...` });
    });

    it('a message of exactly MAX_TRANSFER_MESSAGE_BYTES is read', () => {
      const body = Buffer.from(JSON.stringify({ type: 'checking' }).padEnd(MAX_TRANSFER_MESSAGE_BYTES, ' '));
      expect(body.length).to.equal(MAX_TRANSFER_MESSAGE_BYTES);
      expect(decodeMessage(body)).to.deep.equal({ type: 'checking' });
    });

    it('bandwidth: both directions, and 1 to MAX_BANDWIDTH_SECONDS seconds inclusive', () => {
      for (const direction of ['up', 'down'] as const) {
        for (const seconds of [1, MAX_BANDWIDTH_SECONDS]) {
          expect(decodeMessage(json({ type: 'bandwidth', direction, seconds }))).to.deep.equal({ type: 'bandwidth', direction, seconds });
        }
      }
    });

    it('accept: the offset may equal the size, and must be a number', () => {
      expect(decodeMessage(json({ type: 'accept', offset: 9, size: 9, prefix: DIGEST }))).to.deep.equal({ type: 'accept', offset: 9, size: 9, prefix: DIGEST });
      expect(decodeMessage(json({ type: 'accept', offset: '9', size: 9, prefix: DIGEST }))).to.equal(null);
    });

    it('a name of exactly MAX_FILE_NAME_BYTES is read', () => {
      const name = 'n'.repeat(MAX_FILE_NAME_BYTES);
      expect(decodeMessage(json({ type: 'get', name, offset: 0 }))).to.deep.equal({ type: 'get', name, offset: 0 });
    });

    const wrongTypes: unknown[] = [
      { type: 'offer', name: 'a', size: 1, resume: false, overwrite: 'no' },
      { type: 'offer', name: ['a'], size: 1, resume: false, overwrite: false },
      { type: 'accept', offset: 1, size: 9, prefix: [DIGEST] },
      { type: 'abort', reason: ['x'] },
      { type: 'done', size: 1, sha256: DIGEST, stats: null },
      { type: 'done', size: 1, sha256: DIGEST, stats: { ...STATS, srtt: '5' } },
      { type: 'done', size: 1, sha256: DIGEST, stats: { ...STATS, minRtt: -1 } },
    ];
    for (const value of wrongTypes) {
      it(`refuses, without throwing, ${JSON.stringify(value)}`, () => {
        expect(decodeMessage(json(value))).to.equal(null);
      });
    }

    it('done: a round-trip time of 0 is a time', () => {
      const stats = { ...STATS, srtt: 0, minRtt: 0 };
      expect(decodeMessage(json({ type: 'done', size: 1, sha256: DIGEST, stats }))).to.deep.equal({ type: 'done', size: 1, sha256: DIGEST, stats });
    });
  });

  describe('handshake fields', () => {
    const connect = (fields: HandshakeFields | Record<string, unknown>): ReturnType<typeof readInitiation> => {
      const text = encodeHandshake('connect', new Uint8Array(32).fill(9), {}).slice(0, -1)
        + Object.entries(fields).map(([k, v]) => `, ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join('') + '}';
      const parsed = parseHandshake(Buffer.from(text), 'connect');
      if (!parsed.ok) throw new Error(parsed.reason);
      return readInitiation(parsed.message);
    };

    it('reads the largest version and index, refuses a client key or cookie that is not a string', () => {
      expect(connect({ v: 0xffff_ffff, idx: 0xffff_ffff })).to.include({ version: 0xffff_ffff, index: 0xffff_ffff });
      expect(connect({ v: PROTOCOL_VERSION, idx: 1, cid: 5 })).to.equal(null);
      expect(connect({ v: PROTOCOL_VERSION, idx: 1, cid: [toBase64Url(new Uint8Array(32).fill(1))] })).to.equal(null);
      expect(connect({ v: PROTOCOL_VERSION, idx: 1, cookie: 5 })).to.equal(null);
      expect(connect({ v: PROTOCOL_VERSION, idx: 1, cookie: [toBase64Url(new Uint8Array(16))] })).to.equal(null);
    });

    it('a cookie reply of exactly COOKIE_MAX_BYTES is read', () => {
      const cookie = new Uint8Array(COOKIE_MAX_BYTES).fill(7);
      expect(readCookieReply(Buffer.from(encodeCookieReply(cookie)))).to.deep.equal(Buffer.from(cookie));
    });
  });

  describe('frame headers', () => {
    it('a value out of range is refused with what it was', () => {
      const out = new Uint8Array(20);
      const ok = { flags: 0, channel: 0, sequence: 0, offset: 0 };
      expect(() => writeFrameHeader(out, { ...ok, flags: 256 })).to.throw(RangeError, /flags out of range: 256/);
      expect(() => writeFrameHeader(out, { ...ok, channel: -1 })).to.throw(RangeError, /channel out of range: -1/);
      expect(() => writeFrameHeader(out, { ...ok, sequence: -1 })).to.throw(RangeError, /sequence out of range/);
      expect(() => writeFrameHeader(out, { ...ok, offset: -1 })).to.throw(RangeError, /offset out of range/);
      expect(() => writeFrameHeader(out, { ...ok, sequence: -1n })).to.throw(RangeError, /sequence out of range/);
      expect(() => writeFrameHeader(out, { ...ok, offset: 1n << 64n })).to.throw(RangeError, /offset out of range/);
    });
  });
});
