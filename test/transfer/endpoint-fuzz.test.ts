import { expect } from 'chai';
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { loadSodiumBackend } from '../../lib/crypto/sodium-backend.js';
import { Counters } from '../../lib/net/counters.js';
import { TrafficKeys } from '../../lib/net/traffic-keys.js';
import { SecureSession, type SecureSessionHost } from '../../lib/net/secure-session.js';
import { resolveTimings } from '../../lib/net/timings.js';
import { encodeAck, encodeMessage, TransferFlags } from '../../lib/protocol/transfer.js';
import { Flag } from '../../lib/protocol/frame.js';
import { TransferEndpoint } from '../../lib/transfer/endpoint.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually, PATIENCE } from '../helpers/udp.js';

const backend = loadSodiumBackend();
const peer = { address: '127.0.0.1', port: 9 };

/** A server-side version-2 session whose datagrams go nowhere: only the endpoint above it is under test. */
function lonelySession(counters: Counters): SecureSession {
  const host: SecureSessionHost = {
    backend, counters, psk: undefined,
    transmit: () => { counters.packetsOut++; },
    allocateIndex: () => 7, register: () => undefined, unregister: () => undefined,
    sessionClosed: () => undefined, sessionConfirmed: () => undefined, sessionRekeyed: () => undefined,
  };
  const keys = { send: new Uint8Array(32).fill(1), receive: new Uint8Array(32).fill(2), confirm: new Uint8Array(32) };
  return new SecureSession(host, 'server', peer, new TrafficKeys(backend, keys, 7, 8, Date.now()), resolveTimings({ heartbeatRate: 60_000 }), Date.now());
}

const name = fc.constantFrom('a.bin', 'b', '../x', 'c.part', 'é', '', 'n\u0085');
const offset = fc.oneof(fc.constantFrom(0, 1, 1051, 1052, 1396, 1024 * 1024, 2 ** 53 - 1), fc.nat(10_000_000));
const message = fc.oneof(
  fc.record({ type: fc.constant('offer'), name, size: offset, resume: fc.boolean(), overwrite: fc.boolean() }),
  fc.record({ type: fc.constant('get'), name, offset }),
  fc.record({ type: fc.constant('continue'), offset }),
  fc.record({ type: fc.constant('bandwidth'), direction: fc.constantFrom('up', 'down'), seconds: fc.constantFrom(1, 0, 3601) }),
  fc.record({ type: fc.constant('resume'), offset, prefix: fc.constantFrom('', 'cd'.repeat(32)) }),
  fc.record({ type: fc.constantFrom('accept'), offset, size: offset, prefix: fc.constantFrom('', 'ab'.repeat(32)) }),
  fc.record({ type: fc.constant('resumed'), offset }),
  fc.constant({ type: 'checking' }),
  fc.record({ type: fc.constant('done'), size: offset, sha256: fc.constantFrom('', 'ef'.repeat(32)), stats: fc.constant({ packets: 1, retransmits: 0, srtt: null, minRtt: null }) }),
  fc.record({ type: fc.constantFrom('abort', 'reject'), reason: fc.string({ maxLength: 20 }) }),
  fc.record({ type: fc.constant('result'), ok: fc.boolean(), reason: fc.string({ maxLength: 20 }) }),
).map((m) => encodeMessage(m as never));
const ack = fc.record({
  windowEnd: offset, delayMicros: fc.nat(0xffff_ffff),
  spans: fc.array(fc.tuple(fc.nat(1_000_000), fc.nat(5000)), { maxLength: 4 }),
}).map(({ windowEnd, delayMicros, spans }) => {
  let at = 0;
  return encodeAck({ windowEnd, delayMicros, spans: spans.map(([gap, length]) => { const start = at + gap + 1; at = start + length + 1; return [start, start + length + 1] as [number, number]; }) });
});
const channel = fc.constantFrom(1, 3, 5, 2, 0xff_ffff);
const sequence = fc.oneof(fc.nat(100), fc.constant(2 ** 53 - 1));
const frame = fc.oneof(
  { weight: 5, arbitrary: fc.record({ flags: fc.constant(TransferFlags.CONTROL), channel, sequence, offset, body: message }) },
  { weight: 3, arbitrary: fc.record({ flags: fc.constant(TransferFlags.DATA), channel, sequence, offset, body: fc.constantFrom(Buffer.alloc(1396), Buffer.alloc(0), Buffer.alloc(7)) }) },
  { weight: 2, arbitrary: fc.record({ flags: fc.constant(TransferFlags.ACK), channel, sequence, offset, body: ack }) },
  { weight: 1, arbitrary: fc.record({
    flags: fc.constantFrom(Flag.UNLOSSY, TransferFlags.CONTROL | Flag.DATA, TransferFlags.CONTROL), channel, sequence, offset,
    body: fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b)),
  }) },
);

describe('transfer/endpoint under arbitrary frames (property)', function () {
  this.timeout(60_000 * PATIENCE);

  it('never throws, keeps at most 16 transfers, and settles everything once the session closes', async () => {
    const dir = tempDir('fuzz-inbox');
    let busiest = 0;
    let answered = 0;
    let dropped = 0;
    try {
      await fc.assert(fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 40 }), async (frames) => {
        const counters = new Counters();
        const session = lonelySession(counters);
        const endpoint = new TransferEndpoint(session, { dir, allowDownload: true, stallMs: 200 });
        for (const f of frames) {
          expect(() => endpoint.receiveFrame(f.flags, f.channel, f.sequence, f.offset, f.body)).to.not.throw();
          expect(endpoint.active).to.be.at.most(16);
          busiest = Math.max(busiest, endpoint.active);
          await new Promise((resolve) => setImmediate(resolve));
        }
        answered += counters.packetsOut;
        dropped += counters.dropsOf('bad-transfer');
        session.close();
        expect(await eventually(() => endpoint.active === 0, 3_000), 'every transfer ends with the session').to.equal(true);
      }), { numRuns: 200, seed: 5150 });
      // The runs reached the interesting paths: transfers started, answers sent, junk dropped.
      // How many frames meet a transfer still preparing (file work is asynchronous) varies from
      // run to run with the machine, so the counts are floors with room (about 90-130 are seen).
      expect(busiest).to.be.greaterThan(1);
      expect(answered).to.be.greaterThan(50);
      expect(dropped).to.be.greaterThan(50);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
