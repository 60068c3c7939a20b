import { expect } from 'chai';
import { Writable } from 'node:stream';
import { UNPRINTABLE } from '../lib/encoding.js';
import { createLogger } from '../lib/log.js';
import { decodeMessage, encodeMessage } from '../lib/protocol/transfer.js';
import { fileNameProblem } from '../lib/transfer/names.js';

/**
 * Characters that make text from a peer lie about itself on a terminal or in a log: a line break
 * that is not \n, bidi marks that reorder what is shown, and invisible ones that make two names
 * look alike. The first three are the filter's older members, kept as a check.
 */
const SPOOFING: Array<[number, string]> = [
  [0x1b, 'ESC'], [0x85, 'NEXT LINE (C1)'], [0x202e, 'RIGHT-TO-LEFT OVERRIDE'],
  [0x2028, 'LINE SEPARATOR'], [0x2029, 'PARAGRAPH SEPARATOR'],
  [0x200e, 'LEFT-TO-RIGHT MARK'], [0x200f, 'RIGHT-TO-LEFT MARK'], [0x061c, 'ARABIC LETTER MARK'],
  [0xfeff, 'ZERO WIDTH NO-BREAK SPACE (BOM)'], [0x200b, 'ZERO WIDTH SPACE'], [0x200c, 'ZERO WIDTH NON-JOINER'],
  [0x200d, 'ZERO WIDTH JOINER'], [0x2060, 'WORD JOINER'], [0x2066, 'LEFT-TO-RIGHT ISOLATE'], [0x00ad, 'SOFT HYPHEN'],
  [0x180e, 'MONGOLIAN VOWEL SEPARATOR'],
];

/** A logger whose lines (text or JSON) are collected. */
function collectingLogger(json: boolean): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ json, out: sink, errorOut: sink }), lines };
}

describe('text from a peer that spoofs', () => {
  for (const [code, label] of SPOOFING) {
    const c = String.fromCharCode(code);
    const escaped = `\\u${code.toString(16).padStart(4, '0')}`;

    describe(`U+${code.toString(16).toUpperCase().padStart(4, '0')} ${label}`, () => {
      it('is in the filter', () => {
        expect(UNPRINTABLE.test(`a${c}b`)).to.equal(true);
      });

      it('in a file name: refused, whether offered or asked for', () => {
        const name = `invoice${c}fdp.exe`;
        expect(fileNameProblem(name)).to.match(/control character/);
        // the offer itself parses; the name check on receipt is what refuses it
        const offer = decodeMessage(Buffer.from(JSON.stringify({ type: 'offer', name, size: 1, resume: false, overwrite: false })));
        expect(offer).to.deep.include({ type: 'offer', name });
        expect(fileNameProblem((offer as { name: string }).name)).to.not.equal(null);
      });

      it('in a reason a peer sends: the message is dropped, for every message that carries one', () => {
        for (const message of [{ type: 'reject', reason: `no${c}` }, { type: 'abort', reason: `${c}stop` },
          { type: 'result', ok: false, reason: `x${c}y` }]) {
          expect(decodeMessage(Buffer.from(JSON.stringify(message))), JSON.stringify(message)).to.equal(null);
          expect(decodeMessage(Buffer.from(JSON.stringify({ ...message, reason: 'plain' }))), 'the same message with a plain reason').to.not.equal(null);
        }
      });

      it('in a reason we send: replaced, so the peer can read the rest', () => {
        const decoded = decodeMessage(encodeMessage({ type: 'reject', reason: `disk${c}full` }));
        expect(decoded).to.deep.equal({ type: 'reject', reason: 'disk?full' });
      });

      it('in a log line: shown escaped, never raw', () => {
        const { log, lines } = collectingLogger(false);
        log.warn(`transfer of a${c}b failed: x${c}y`, { name: `n${c}` });
        expect(lines).to.have.length(1);
        expect(lines[0]).to.not.include(c);
        expect(lines[0]!.split(escaped)).to.have.length(4);
      });
    });
  }

  it('leaves ordinary text, accents and scripts alone', () => {
    for (const name of ['résumé.pdf', 'данные.txt', '報告.doc', 'ملف.txt', 'a b-c_d.e']) {
      expect(fileNameProblem(name), name).to.equal(null);
      expect(UNPRINTABLE.test(name), name).to.equal(false);
    }
  });
});
