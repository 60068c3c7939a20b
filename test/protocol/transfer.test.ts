import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_PATH_BYTES, MAX_SACK_RANGES, MAX_TRANSFER_MESSAGE_BYTES } from '../../lib/constants.js';
import { Flag } from '../../lib/protocol/frame.js';
import { decodeAck, decodeMessage, encodeAck, encodeMessage, spansThatFit, TransferFlags, type TransferMessage } from '../../lib/protocol/transfer.js';

const ordered = fc.uniqueArray(fc.maxSafeNat(), { maxLength: 2 * MAX_SACK_RANGES }).map((edges) => {
  const sorted = edges.sort((a, b) => a - b);
  const spans: Array<[number, number]> = [];
  for (let i = 0; i + 1 < sorted.length; i += 2) spans.push([sorted[i]!, sorted[i + 1]!]);
  return spans;
});

describe('protocol/transfer', () => {
  it('frame kinds all carry UNLOSSY and never CONTROL or HEARTBEAT, and differ', () => {
    const kinds = Object.values(TransferFlags);
    expect(new Set(kinds).size).to.equal(kinds.length);
    for (const flags of kinds) {
      expect(flags & Flag.UNLOSSY).to.equal(Flag.UNLOSSY);
      expect(flags & (Flag.CONTROL | Flag.HEARTBEAT)).to.equal(0);
    }
  });

  describe('acknowledgements', () => {
    it('round-trip exactly (offsets up to 2^53 - 1)', () => {
      fc.assert(fc.property(fc.maxSafeNat(), fc.nat(0xffff_ffff), ordered, (windowEnd, delayMicros, spans) => {
        const body = encodeAck({ windowEnd, delayMicros, spans });
        expect(body.length).to.equal(12 + 16 * spans.length);
        expect(decodeAck(body)).to.deep.equal({ windowEnd, delayMicros, spans });
      }), { numRuns: 300 });
    });

    it('refuse wrong lengths, unordered, empty or overlapping spans and offsets past 2^53', () => {
      const good = encodeAck({ windowEnd: 100, delayMicros: 5, spans: [[10, 20], [30, 40]] });
      expect(decodeAck(good)).to.not.equal(null);
      expect(decodeAck(good.subarray(0, 11))).to.equal(null);
      expect(decodeAck(good.subarray(0, good.length - 1))).to.equal(null);
      expect(decodeAck(encodeAck({ windowEnd: 1, delayMicros: 0, spans: [[30, 40], [10, 20]] }))).to.equal(null);
      expect(decodeAck(encodeAck({ windowEnd: 1, delayMicros: 0, spans: [[10, 10]] }))).to.equal(null);
      expect(decodeAck(encodeAck({ windowEnd: 1, delayMicros: 0, spans: [[10, 20], [20, 30]] }))).to.equal(null);
      const huge = Buffer.from(good);
      huge.fill(0xff, 0, 8);
      expect(decodeAck(huge)).to.equal(null);
      const tooMany = encodeAck({ windowEnd: 1, delayMicros: 0, spans: Array.from({ length: MAX_SACK_RANGES + 1 }, (_, i) => [i * 2, i * 2 + 1] as [number, number]) });
      expect(decodeAck(tooMany)).to.equal(null);
    });

    it('never throws on arbitrary bytes', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        const ack = decodeAck(Buffer.from(bytes));
        if (ack) expect(encodeAck(ack).equals(Buffer.from(bytes))).to.equal(true);
      }), { numRuns: 2000 });
    });

    it('spansThatFit keeps an acknowledgement inside the datagram', () => {
      expect(spansThatFit(11)).to.equal(0);
      expect(spansThatFit(12 + 16 * 3)).to.equal(3);
      expect(spansThatFit(100_000)).to.equal(MAX_SACK_RANGES);
    });
  });

  describe('control messages', () => {
    const stats = { packets: 10, retransmits: 1, srtt: 0.5, minRtt: null };
    const messages: TransferMessage[] = [
      { type: 'offer', name: 'a.iso', size: 2 ** 40, resume: true, overwrite: false },
      { type: 'offer', name: 'a.iso', size: 1, resume: false, overwrite: false, mtime: 1_700_000_000_123, mode: 0o755 },
      { type: 'accept', offset: 0, size: 9, prefix: '', mtime: 0, mode: 0o777 },
      { type: 'get', name: 'b', offset: 0 },
      { type: 'get', name: 'b', offset: 7 },
      { type: 'bandwidth', direction: 'down', seconds: 10 },
      { type: 'accept', offset: 5, size: 9, prefix: '' },
      { type: 'accept', offset: 5, size: 9, prefix: 'ab'.repeat(32) },
      { type: 'continue', offset: 5 },
      { type: 'list', after: '' },
      { type: 'list', after: 'b.iso' },
      { type: 'list', after: '', dir: '' },
      { type: 'list', after: 'b.iso', dir: 'photos/2024' },
      { type: 'get', name: 'photos/2024/a.jpg', offset: 0 },
      { type: 'offer', name: 'a.iso', size: 9, resume: true, overwrite: false, ifChanged: true },
      { type: 'accept', offset: 9, size: 9, prefix: '', held: true },
      // `short`: the sender of the message reads short data frames.
      { type: 'offer', name: 'a.iso', size: 9, resume: false, overwrite: false, short: true },
      { type: 'get', name: 'a.iso', offset: 0, short: true },
      { type: 'bandwidth', direction: 'up', seconds: 3, short: true },
      { type: 'accept', offset: 0, size: 9, prefix: '', short: true },
      { type: 'listing', entries: [], next: '', truncated: false },
      { type: 'listing', entries: [{ name: 'sub', size: 0, mtime: 5, dir: true }, { name: 'a', size: 3, mtime: 5 }], next: '', truncated: false, tree: true },
      { type: 'listing', entries: [{ name: 'a', size: 0, mtime: 0 }, { name: 'b', size: 2 ** 40, mtime: 1_700_000_000_000 }], next: 'b', truncated: true },
      { type: 'continue', offset: 0 },
      { type: 'reject', reason: 'no' },
      { type: 'resume', offset: 5, prefix: 'ef'.repeat(32) },
      { type: 'resumed', offset: 0 },
      { type: 'checking' },
      { type: 'done', size: 9, sha256: 'cd'.repeat(32), stats },
      { type: 'result', ok: false, reason: 'SHA-256 mismatch' },
      { type: 'abort', reason: 'interrupted' },
    ];
    for (const message of messages) {
      it(`round-trips ${JSON.stringify(message).slice(0, 60)}`, () => {
        expect(decodeMessage(encodeMessage(message))).to.deep.equal(message);
      });
    }

    const bad: unknown[] = [
      null, [], 'offer', { type: 'offer' }, { type: 'nope' },
      { type: 'offer', name: '', size: 1, resume: false, overwrite: false },
      { type: 'offer', name: 'x', size: -1, resume: false, overwrite: false },
      { type: 'offer', name: 'x', size: 1.5, resume: false, overwrite: false },
      { type: 'offer', name: 'x', size: 2 ** 53, resume: false, overwrite: false },
      { type: 'offer', name: 'x', size: 1, resume: 'yes', overwrite: false },
      { type: 'get', name: 'x', offset: -1 },
      { type: 'continue', offset: 1.5 },
      { type: 'accept', offset: 5, size: 9, prefix: 'XYZ' },
      { type: 'accept', offset: 5, size: 9 },
      // Listings: a server's names reach a terminal, so they are checked like any other text.
      { type: 'list' },
      { type: 'list', after: 'a\u001b[2J' },
      { type: 'list', after: '', dir: 5 },
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, ifChanged: false },
      { type: 'accept', offset: 0, size: 9, prefix: '', held: true },
      { type: 'accept', offset: 9, size: 9, prefix: '', held: 'yes' },
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, short: false },
      { type: 'get', name: 'x', offset: 0, short: 1 },
      { type: 'bandwidth', direction: 'up', seconds: 3, short: 'yes' },
      { type: 'accept', offset: 0, size: 9, prefix: '', short: null },
      { type: 'list', after: '', dir: 'x'.repeat(769) },
      { type: 'listing', entries: [], next: '', truncated: false, tree: 'yes' },
      { type: 'listing', entries: [{ name: 'a', size: 1, mtime: 0, dir: 1 }], next: '', truncated: false },
      { type: 'listing', entries: [{ name: 'a\u202e', size: 1, mtime: 0 }], next: '', truncated: false },
      { type: 'listing', entries: [{ name: '', size: 1, mtime: 0 }], next: '', truncated: false },
      { type: 'listing', entries: [{ name: 'a', size: -1, mtime: 0 }], next: '', truncated: false },
      { type: 'listing', entries: [{ name: 'a', size: 1 }], next: '', truncated: false },
      { type: 'listing', entries: {}, next: '', truncated: false },
      { type: 'listing', entries: [], next: '', truncated: 'no' },
      { type: 'listing', entries: Array.from({ length: 65 }, () => ({ name: 'a', size: 1, mtime: 0 })), next: '', truncated: false },
      // Metadata: only the permission bits (never setuid, setgid, sticky), a whole non-negative time.
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, mode: 0o4755 },
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, mode: 0o1777 },
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, mode: -1 },
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, mode: '755' },
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, mtime: -1 },
      { type: 'offer', name: 'x', size: 1, resume: false, overwrite: false, mtime: 1.5 },
      { type: 'accept', offset: 0, size: 9, prefix: '', mode: 0o2000 },
      { type: 'accept', offset: 0, size: 9, prefix: '', mtime: null },
      { type: 'bandwidth', direction: 'sideways', seconds: 1 },
      { type: 'bandwidth', direction: 'up', seconds: 0 },
      { type: 'bandwidth', direction: 'up', seconds: 3601 },
      { type: 'accept', offset: 10, size: 9, prefix: '' },
      { type: 'resume', offset: 0, prefix: 'ef'.repeat(32) },
      { type: 'resume', offset: 5, prefix: '' },
      { type: 'reject', reason: 'line\nbreak' },
      { type: 'abort', reason: '\u001b[31mred' },
      { type: 'done', size: 1, sha256: 'ab', stats },
      { type: 'done', size: 1, sha256: '', stats: { packets: -1, retransmits: 0, srtt: null, minRtt: null } },
      { type: 'result', ok: 'true', reason: '' },
      { type: 'abort', reason: 'x'.repeat(201) },
    ];
    for (const value of bad) {
      it(`refuses ${JSON.stringify(value).slice(0, 60)}`, () => {
        expect(decodeMessage(Buffer.from(JSON.stringify(value)))).to.equal(null);
      });
    }

    it('refuses invalid UTF-8, non-JSON and oversized bodies, and never throws', () => {
      expect(decodeMessage(Buffer.from([0xff, 0xfe]))).to.equal(null);
      expect(decodeMessage(Buffer.from('{"type":'))).to.equal(null);
      const long = Buffer.from(JSON.stringify({ type: 'reject', reason: 'x' }).padEnd(MAX_TRANSFER_MESSAGE_BYTES + 1, ' '));
      expect(decodeMessage(long)).to.equal(null);
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        decodeMessage(Buffer.from(bytes));
      }), { numRuns: 2000 });
    });

    it('the longest offer, every optional field set, fits in one control message', () => {
      const offer = {
        type: 'offer', name: `${'d/'.repeat(31)}${'n'.repeat(MAX_PATH_BYTES - 62)}`, size: 2 ** 53 - 1, resume: false, overwrite: false,
        ifChanged: true, mtime: 2 ** 53 - 1, mode: 0o777, short: true,
      } as const;
      const encoded = encodeMessage(offer);
      expect(encoded.length).to.be.at.most(MAX_TRANSFER_MESSAGE_BYTES);
      expect(decodeMessage(encoded)).to.deep.equal(offer);
    });

    it('shortens long reasons so every message fits', () => {
      const encoded = encodeMessage({ type: 'abort', reason: 'y'.repeat(5000) });
      expect(encoded.length).to.be.at.most(MAX_TRANSFER_MESSAGE_BYTES);
      expect(decodeMessage(encoded)).to.not.equal(null);
    });
  });
});
