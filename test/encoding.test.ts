import { expect } from 'chai';
import fc from 'fast-check';
import { fromBase64Url, toBase64Url } from '../lib/encoding.js';
import { hex, loadPythonFixture, unhex } from './helpers/fixtures.js';

const fixture = loadPythonFixture();

function decodedHex(input: string | Uint8Array): string | null {
  const out = fromBase64Url(input);
  return out === null ? null : hex(out);
}

describe('encoding', () => {
  describe('toBase64Url', () => {
    it('encodes with the URL-safe alphabet and keeps the padding', () => {
      expect(toBase64Url(Buffer.from([0xfb, 0xff]))).to.equal('-_8=');
      expect(toBase64Url(Buffer.from('A'))).to.equal('QQ==');
      expect(toBase64Url(Buffer.from('AB'))).to.equal('QUI=');
      expect(toBase64Url(Buffer.from('ABC'))).to.equal('QUJD');
      expect(toBase64Url(new Uint8Array(0))).to.equal('');
    });

    it('matches the python pubkey encodings', () => {
      for (const v of fixture.comm_encryptor) expect(toBase64Url(unhex(v.public_a))).to.equal(v.public_a_b64url);
    });

    it('encodes only the given view of a larger buffer', () => {
      const whole = Buffer.from('xxABCyy');
      expect(toBase64Url(whole.subarray(2, 5))).to.equal('QUJD');
      expect(toBase64Url(new Uint8Array(whole.buffer, whole.byteOffset + 2, 3))).to.equal('QUJD');
    });
  });

  describe('fromBase64Url', () => {
    it('decodes padded URL-safe base64', () => {
      expect(decodedHex('QQ==')).to.equal('41');
      expect(decodedHex('QUI=')).to.equal('4142');
      expect(decodedHex('QUJD')).to.equal('414243');
      expect(decodedHex('-_8=')).to.equal('fbff');
      for (const v of fixture.comm_encryptor) expect(decodedHex(v.public_a_b64url)).to.equal(v.public_a);
    });

    it('rejects missing padding', () => {
      expect(fromBase64Url('QQ')).to.equal(null);
      expect(fromBase64Url('QUI')).to.equal(null);
      expect(fromBase64Url('QQ=')).to.equal(null);
      const pub = fixture.comm_encryptor[0]!.public_a_b64url;
      expect(pub.endsWith('=')).to.equal(true);
      expect(fromBase64Url(pub.slice(0, -1))).to.equal(null);
    });

    it("rejects the standard alphabet's '+' and '/'", () => {
      expect(fromBase64Url('+/8=')).to.equal(null);
      expect(fromBase64Url('ab+d')).to.equal(null);
      expect(fromBase64Url('ab/d')).to.equal(null);
      const pub = fixture.comm_encryptor[2]!.public_a_b64url;
      expect(pub).to.match(/[-_]/);
      expect(fromBase64Url(pub.replace(/-/g, '+').replace(/_/g, '/'))).to.equal(null);
    });

    it('rejects bad lengths, including empty input', () => {
      for (const text of ['', 'Q', 'QUJDR', 'QUJDRA', 'QUJDRA=', 'QUJDRA===']) {
        expect(fromBase64Url(text), JSON.stringify(text)).to.equal(null);
      }
    });

    it('rejects characters outside the alphabet, whitespace included', () => {
      for (const text of ['QU D', 'QU\nD', 'QUJD\n   ', 'QU.D', 'QU*D', 'QU%D', 'QU\0D', 'QU~D']) {
        expect(fromBase64Url(text), JSON.stringify(text)).to.equal(null);
      }
    });

    it('rejects non-ASCII characters and bytes', () => {
      expect(fromBase64Url('QU\u00e9D')).to.equal(null);
      expect(fromBase64Url('QU\u0141D')).to.equal(null); // a char whose low byte (0x41) is 'A'
      expect(fromBase64Url('QU\u{1F600}')).to.equal(null); // surrogate pair, 4 UTF-16 units
      expect(fromBase64Url(Buffer.from([0x51, 0x55, 0xc3, 0xa9]))).to.equal(null);
      expect(fromBase64Url(Buffer.from([0x51, 0x55, 0xc1, 0x44]))).to.equal(null); // 0xc1 = 'A' | 0x80
      expect(fromBase64Url(Buffer.from([0x51, 0x55, 0x4a, 0xc4]))).to.equal(null);
    });

    it("rejects '=' anywhere but at the end", () => {
      for (const text of ['QQ==QQ==', 'Q=QQ', '=QUJ', 'QU=D', 'Q===', '====', 'QUI=QUJD']) {
        expect(fromBase64Url(text), JSON.stringify(text)).to.equal(null);
      }
    });

    it('accepts Buffer and Uint8Array input (datagram bytes), including views', () => {
      expect(decodedHex(Buffer.from('QUJD', 'ascii'))).to.equal('414243');
      expect(decodedHex(Buffer.from('-_8=', 'ascii'))).to.equal('fbff');
      expect(decodedHex(new Uint8Array(Buffer.from('QQ==', 'ascii')))).to.equal('41');
      const arena = Buffer.from('....QUI=....', 'ascii');
      expect(decodedHex(arena.subarray(4, 8))).to.equal('4142');
      expect(fromBase64Url(Buffer.from('QQ', 'ascii'))).to.equal(null);
      expect(fromBase64Url(Buffer.from('+/8=', 'ascii'))).to.equal(null);
      expect(fromBase64Url(Buffer.from('Q=QQ', 'ascii'))).to.equal(null);
    });

    it('round trip: fromBase64Url(toBase64Url(bytes)) === bytes for random non-empty bytes (string and bytes input)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
          const text = toBase64Url(bytes);
          expect(text.length % 4).to.equal(0);
          expect(text).to.match(/^[A-Za-z0-9_-]+={0,2}$/);
          expect(text).to.equal(Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'));
          expect(decodedHex(text)).to.equal(hex(bytes));
          expect(decodedHex(Buffer.from(text, 'ascii'))).to.equal(hex(bytes));
        }),
        { numRuns: 300 },
      );
    });

    it('property: never throws, and only returns bytes for strings its encoder could produce', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary-ascii', maxLength: 24 }), (text) => {
          const out = fromBase64Url(text);
          if (out !== null) {
            expect(text.length % 4).to.equal(0);
            expect(text).to.match(/^[A-Za-z0-9_-]+={0,2}$/);
            expect(out.length).to.equal((text.length / 4) * 3 - (text.match(/=*$/)![0].length));
          }
        }),
        { numRuns: 500 },
      );
    });
  });
});
