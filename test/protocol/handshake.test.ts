import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { toBase64Url } from '../../lib/encoding.js';
import { encodeHandshake, type HandshakeRejection, parseHandshake, type ParsedHandshake } from '../../lib/protocol/handshake.js';
import { hex, loadPythonFixture, unhex } from '../helpers/fixtures.js';

const fixture = loadPythonFixture();
const PUBKEY = unhex(fixture.comm_encryptor[0]!.public_a);
const PUBKEY_B64 = fixture.comm_encryptor[0]!.public_a_b64url;
const REASONS: readonly HandshakeRejection[] = ['bad-token', 'bad-utf8', 'bad-json', 'bad-cmd', 'bad-pubkey'];

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

function expectRejected(result: ParsedHandshake, reason: HandshakeRejection, context?: string): void {
  expect(result, context).to.deep.equal({ ok: false, reason });
}

function expectAccepted(result: ParsedHandshake, context?: string): Extract<ParsedHandshake, { ok: true }> {
  expect(result.ok, `${context ?? ''} ${JSON.stringify(result)}`).to.equal(true);
  return result as Extract<ParsedHandshake, { ok: true }>;
}

describe('handshake', () => {
  describe('encodeHandshake', () => {
    it("gives exactly Python's json.dumps form of the vector messages", () => {
      const vectors = fixture.docrypt_seed;
      expect(vectors.length).to.be.greaterThan(0);
      for (const v of vectors) {
        const original = JSON.parse(v.json) as { cmd: 'connect' | 'connected'; pubkey: string };
        const pubkey = Buffer.from(original.pubkey, 'base64url');
        expect(pubkey.length).to.equal(32);
        expect(encodeHandshake(original.cmd, pubkey)).to.equal(v.json);
      }
    });

    it('puts cmd first, then pubkey, with ", " and ": " separators', () => {
      expect(encodeHandshake('connect', PUBKEY)).to.equal(`{"cmd": "connect", "pubkey": "${PUBKEY_B64}"}`);
      expect(encodeHandshake('connected', PUBKEY)).to.equal(`{"cmd": "connected", "pubkey": "${PUBKEY_B64}"}`);
    });

    it('appends extra fields in order, as json.dumps would', () => {
      expect(encodeHandshake('connect', PUBKEY, { version: 2, name: 'peer "one"' })).to.equal(
        `{"cmd": "connect", "pubkey": "${PUBKEY_B64}", "version": 2, "name": "peer \\"one\\""}`);
    });

    it('escapes non-ASCII text in extra fields as \\uXXXX, as json.dumps (ensure_ascii) does', () => {
      // Python: json.dumps({"cmd": "connect", "pubkey": k, "name": "é\x7f"})
      //   -> '{"cmd": "connect", "pubkey": "...", "name": "\\u00e9\\u007f"}'
      expect(encodeHandshake('connect', PUBKEY, { name: '\u00e9\u007f' })).to.equal(
        `{"cmd": "connect", "pubkey": "${PUBKEY_B64}", "name": "\\u00e9\\u007f"}`);
    });

    it('round trips through parseHandshake for random keys', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom('connect' as const, 'connected' as const), (key, cmd) => {
          const parsed = expectAccepted(parseHandshake(utf8(encodeHandshake(cmd, key)), cmd));
          expect(parsed.message.cmd).to.equal(cmd);
          expect(hex(parsed.message.pubkey)).to.equal(hex(key));
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('parseHandshake', () => {
    it('accepts python-spaced JSON', () => {
      for (const v of fixture.docrypt_seed) {
        const original = JSON.parse(v.json) as { cmd: 'connect' | 'connected'; pubkey: string };
        const parsed = expectAccepted(parseHandshake(utf8(v.json), original.cmd), v.json);
        expect(parsed.message.cmd).to.equal(original.cmd);
        expect(hex(parsed.message.pubkey)).to.equal(Buffer.from(original.pubkey, 'base64url').toString('hex'));
      }
    });

    it('accepts compact JSON and other whitespace', () => {
      for (const text of [
        `{"cmd":"connect","pubkey":"${PUBKEY_B64}"}`,
        `{ "pubkey" : "${PUBKEY_B64}" ,\n\t"cmd" : "connect" }\n`,
      ]) {
        const parsed = expectAccepted(parseHandshake(utf8(text), 'connect'), text);
        expect(hex(parsed.message.pubkey)).to.equal(hex(PUBKEY));
      }
    });

    it('ignores extra fields but keeps them in `fields`', () => {
      const text = `{"cmd": "connected", "pubkey": "${PUBKEY_B64}", "version": 3, "nested": {"a": [1, 2]}, "note": null}`;
      const parsed = expectAccepted(parseHandshake(utf8(text), 'connected'));
      expect(parsed.message.cmd).to.equal('connected');
      expect(hex(parsed.message.pubkey)).to.equal(hex(PUBKEY));
      expect(parsed.message.fields).to.deep.equal({
        cmd: 'connected', pubkey: PUBKEY_B64, version: 3, nested: { a: [1, 2] }, note: null,
      });
    });

    it('rejects bytes that are not UTF-8 (bad-utf8)', () => {
      const good = utf8(`{"cmd": "connect", "pubkey": "${PUBKEY_B64}"}`);
      const cases: Array<[string, Buffer]> = [
        ['0xff 0xfe', Buffer.from([0xff, 0xfe])],
        ['lone continuation byte', Buffer.from([0x7b, 0x80, 0x7d])],
        ['overlong "{"', Buffer.from([0xc1, 0xbb])],
        ['UTF-16 surrogate in UTF-8', Buffer.from([0xed, 0xa0, 0x80])],
        ['truncated sequence at the end', Buffer.concat([good, Buffer.from([0xe2, 0x82])])],
        ['invalid byte inside a string', Buffer.concat([good.subarray(0, 10), Buffer.from([0xff]), good.subarray(10)])],
      ];
      for (const [name, bytes] of cases) expectRejected(parseHandshake(bytes, 'connect'), 'bad-utf8', name);
    });

    it('rejects text that is not a JSON object (bad-json)', () => {
      for (const text of ['', 'hello', '{', '{"cmd": "connect",}', "{'cmd': 'connect'}", '[]', `["connect", "${PUBKEY_B64}"]`,
        '42', '-1.5', 'null', 'true', '"connect"', '{"cmd": "connect"} {}']) {
        expectRejected(parseHandshake(utf8(text), 'connect'), 'bad-json', JSON.stringify(text));
      }
    });

    it('rejects a missing or wrong cmd (bad-cmd)', () => {
      const withCmd = (cmd: string): string => `{"cmd": ${cmd}, "pubkey": "${PUBKEY_B64}"}`;
      for (const text of [
        `{"pubkey": "${PUBKEY_B64}"}`,
        withCmd('"connected"'),
        withCmd('"CONNECT"'),
        withCmd('"connect "'),
        withCmd('""'),
        withCmd('null'),
        withCmd('1'),
        withCmd('["connect"]'),
        withCmd('{"cmd": "connect"}'),
        '{}',
      ]) {
        expectRejected(parseHandshake(utf8(text), 'connect'), 'bad-cmd', text);
      }
      expectRejected(parseHandshake(utf8(withCmd('"connect"')), 'connected'), 'bad-cmd');
    });

    it('rejects a missing, non-base64, wrong-length or non-string pubkey (bad-pubkey)', () => {
      const withKey = (pubkey: string): string => `{"cmd": "connect", "pubkey": ${pubkey}}`;
      const b64 = (bytes: Uint8Array): string => JSON.stringify(toBase64Url(bytes));
      const cases: Array<[string, string]> = [
        ['missing', '{"cmd": "connect"}'],
        ['null', withKey('null')],
        ['number', withKey('12345')],
        ['array of bytes', withKey(JSON.stringify([...PUBKEY]))],
        ['object', withKey('{}')],
        ['empty string', withKey('""')],
        ['not base64', withKey('"not base64 at all!"')],
        ['unpadded', withKey(JSON.stringify(PUBKEY_B64.replace(/=+$/, '')))],
        ['standard alphabet', withKey(JSON.stringify(fixture.comm_encryptor[2]!.public_a_b64url.replace(/-/g, '+').replace(/_/g, '/')))],
        ['31 bytes', withKey(b64(randomBytes(31)))],
        ['33 bytes', withKey(b64(randomBytes(33)))],
        ['0 bytes', withKey(b64(new Uint8Array(0)))],
        ['64 bytes', withKey(b64(randomBytes(64)))],
        ['hex text', withKey(JSON.stringify(hex(PUBKEY)))],
      ];
      expect(fixture.comm_encryptor[2]!.public_a_b64url).to.match(/[-_]/);
      for (const [name, text] of cases) expectRejected(parseHandshake(utf8(text), 'connect'), 'bad-pubkey', name);
      // the control: the same shape with a good key is accepted
      expectAccepted(parseHandshake(utf8(withKey(b64(PUBKEY))), 'connect'));
    });

    it('property: never throws on arbitrary bytes, and returns a well-formed result', function () {
      this.timeout(20000);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('connect' as const, 'connected' as const), (bytes, cmd) => {
          const result = parseHandshake(bytes, cmd);
          if (result.ok) {
            expect(result.message.cmd).to.equal(cmd);
            expect(result.message.pubkey.length).to.equal(32);
          } else {
            expect(REASONS).to.include(result.reason);
          }
        }),
        { numRuns: 1000 },
      );
    });

    it('property: never throws on arbitrary JSON values, nor on objects with arbitrary cmd/pubkey', function () {
      this.timeout(20000);
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const result = parseHandshake(utf8(JSON.stringify(value) ?? ''), 'connect');
          expect(typeof result.ok).to.equal('boolean');
          if (!result.ok) expect(REASONS).to.include(result.reason);
        }),
        { numRuns: 300 },
      );
      fc.assert(
        fc.property(fc.jsonValue(), fc.jsonValue(), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }), (cmd, pubkey, extra) => {
          const text = JSON.stringify({ ...extra, cmd, pubkey });
          const result = parseHandshake(utf8(text), 'connect');
          // cmd is not the string 'connect' unless fast-check happened to produce it
          if (cmd !== 'connect') expectRejected(result, 'bad-cmd', text);
          else expect(result.ok || (result as { reason: string }).reason === 'bad-pubkey', text).to.equal(true);
        }),
        { numRuns: 300 },
      );
    });
  });
});
