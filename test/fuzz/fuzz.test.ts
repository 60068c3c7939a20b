import { expect } from 'chai';
import { MIN_V2_PACKET, TOKEN_FIRST_BYTE } from '../../lib/constants.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { CORPUS_FILES, loadCorpus } from './corpus.js';
import { fuzzFernet, fuzzFrameHeader, fuzzHandshake, fuzzServerReceive, type FuzzReport } from './targets.js';
import { PATIENCE } from '../helpers/udp.js';
import { fuzzNativeArguments, fuzzNativeWire, nativeAvailable } from './native-targets.js';

/**
 * The bounded fuzz run of `npm test`: every target, 20,000 cases, fixed seeds (a failure prints
 * fast-check's seed, path and counterexample, and reruns the same inputs). `npm run fuzz` runs the
 * same targets for longer with random seeds.
 */
const CASES = 20_000;
const SEED = 0x5eed;

function reached(report: FuzzReport, keys: string[]): void {
  const missing = keys.filter((k) => !(report.stats[k]! > 0));
  expect(missing, `${report.target} never reached these (stats: ${JSON.stringify(report.stats)})`).to.deep.equal([]);
}

function log(report: FuzzReport): void {
  console.log(`      ${report.target}: ${report.cases} cases in ${(report.ms / 1000).toFixed(1)} s (seed ${report.seed})`);
}

describe('fuzz targets (bounded run)', function () {
  this.timeout(120_000 * PATIENCE);
  this.slow(30_000);

  it('the seed corpus holds real packets of every kind', () => {
    const corpus = loadCorpus();
    for (const file of CORPUS_FILES) expect(corpus.filter((p) => p.file === file), file).to.not.be.empty;
    const docrypt = new DoCrypt();
    for (const p of corpus.filter((q) => q.file === 'connect' || q.file === 'answer')) {
      expect(p.bytes[0], p.label).to.equal(TOKEN_FIRST_BYTE);
      expect(() => docrypt.fdecrypt(p.bytes), p.label).to.not.throw();
    }
    for (const p of corpus.filter((q) => q.file.startsWith('v2-'))) {
      expect(p.bytes.length, p.label).to.be.at.least(MIN_V2_PACKET);
      expect(p.bytes[0], p.label).to.not.equal(TOKEN_FIRST_BYTE);
    }
    const labels = corpus.map((p) => p.label).join('\n');
    for (const kind of ['v2 connect, seed form', 'v2 connect, salted form', 'v1 connect, seed form', 'v1 connect, salted form', 'cid', 'cookie reply',
      'carrying the cookie', 'v2 connected', 'v1 connected', 'rekey-init', 'rekey-response', 'control close', 'heartbeat ack', 'v2 data', 'v1 message']) {
      expect(labels, kind).to.include(kind);
    }
  });

  it(`Fernet/DoCrypt: only InvalidTokenError escapes, and exactly the reference's tokens decrypt (${CASES} cases)`, async () => {
    const report = await fuzzFernet({ runs: CASES, seed: SEED });
    log(report);
    expect(report.cases).to.equal(CASES);
    reached(report, ['accepted: seed', 'accepted: salted', 'refused: not URL-safe base64 with padding', 'refused: token too short',
      'refused: ciphertext is not a whole number of blocks', 'refused: unknown token version', 'refused: bad MAC', 'refused: bad padding',
      'refused: token expired', 'refused: token timestamp is in the future', 'refused: salted token shorter than its counter']);
  });

  it(`handshake JSON: parsers never throw, results are well-typed and match a reference (${CASES} cases)`, async () => {
    const report = await fuzzHandshake({ runs: CASES, seed: SEED });
    log(report);
    expect(report.cases).to.equal(CASES);
    reached(report, ['connect: ok', 'connect: v2 initiation', 'connected: ok', 'connected: v2 response', 'cookie reply',
      'connect: bad-utf8', 'connect: bad-json', 'connect: bad-cmd', 'connect: bad-pubkey']);
  });

  it(`frame header: never throws, null iff shorter than 20 bytes (${CASES} cases)`, async () => {
    const report = await fuzzFrameHeader({ runs: CASES, seed: SEED });
    log(report);
    expect(report.cases).to.equal(CASES);
    reached(report, ['short', 'header']);
  });

  const receiveReached = ['input: invalid', 'input: connect', 'input: frame', 'connect: accepted', 'connect: retransmission',
    'authentic frame: heartbeat', 'authentic frame: heartbeat ack', 'authentic frame: data', 'authentic frame: rekey-init',
    'authentic frame: rekey-init low-order', 'authentic frame: rekey-init limited', 'authentic frame: path challenge',
    'authentic frame: path response', 'authentic frame from a new address: challenged', 'authentic frame: control other', 'authentic frame: close',
    'drop: bad-token', 'drop: bad-utf8', 'drop: bad-json', 'drop: bad-cmd', 'drop: bad-pubkey', 'drop: oversized', 'drop: low-order',
    'drop: unknown-session', 'drop: bad-auth', 'drop: replay', 'drop: bad-frame', 'drop: amplification', 'drop: rate-limit',
    'drop: rekey-limit', 'drop: bad-path-response'];

  it(`server receive path, default server: no exception, no answer to anything invalid, bounded state (${CASES} cases)`, async () => {
    const report = await fuzzServerReceive({ runs: CASES, seed: SEED, profile: 'default' });
    log(report);
    expect(report.cases).to.equal(CASES);
    reached(report, receiveReached);
  });

  it(`server receive path, crowded server (8 sessions, tight rate limits): eviction, cookies, rate limits (${CASES} cases)`, async () => {
    const report = await fuzzServerReceive({ runs: CASES, seed: SEED, profile: 'crowded' });
    log(report);
    expect(report.cases).to.equal(CASES);
    reached(report, [...receiveReached, 'connect: cookie']);
    expect(report.stats['sessions at end']).to.be.at.most(8);
  });

  // The native datagram addon's boundary; without the addon (no compiler) bittrrt runs on node:dgram and there is none.
  const NATIVE_CASES = 20_000;
  if (!nativeAvailable()) return;
  it(`native addon: arbitrary arguments to every function throw or return, never crash (${NATIVE_CASES} cases)`, async () => {
    const report = await fuzzNativeArguments({ runs: NATIVE_CASES, seed: SEED });
    log(report);
    reached(report, ['send: RangeError', 'send: TypeError', 'seal: RangeError', 'openDatagram: RangeError', 'open: RangeError', 'start: Error']);
  });

  it('native addon: arbitrary datagrams on the wire reach the JS receive path whole, and none is answered (2,000 cases)', async () => {
    const report = await fuzzNativeWire({ runs: 2_000, seed: SEED });
    log(report);
    reached(report, ['trains', 'single datagrams', 'over 1500 bytes']);
  });
});
