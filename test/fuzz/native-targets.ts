/**
 * Fuzz targets for the native datagram addon's boundary (native/io.c):
 *
 *   native-arguments  every function of the addon, called with arbitrary JS values and lengths:
 *                     it returns or throws a TypeError / RangeError / Error, never crashes, and a
 *                     socket still works afterwards.
 *   native-wire       arbitrary datagrams (1 byte to 64 KiB, in GSO trains and alone) sent to a
 *                     server listening on the native path: each reaches the JS receive path whole
 *                     (counted), none is answered, and the server keeps serving.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { loadNativeIo, type NativeIo, type NativeSocketHandle } from '../../lib/net/io/native-binding.js';
import { createServer } from '../../lib/transfer/file-server.js';
import { connect } from '../../lib/net/client.js';
import { PATIENCE } from '../helpers/udp.js';
import { drive, type FuzzBudget, type FuzzReport, type TargetEntry } from './targets.js';

const LOOPBACK = Buffer.from([127, 0, 0, 1]);

type Stats = Record<string, number>;
const bump = (stats: Stats, key: string): void => {
  stats[key] = (stats[key] ?? 0) + 1;
};

function check(ok: boolean, why: () => string): void {
  if (!ok) throw new Error(why());
}

/** A value for any argument: sizes around the addon's limits, wrong types, and the right types with wrong lengths. */
const argumentArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -5, max: 70_000 }),
  fc.constantFrom(0, 1, 4, 6, 27, 28, 32, 65_507, 65_508, 2 ** 31, -(2 ** 31), NaN, Infinity, 1.5),
  fc.nat({ max: 70_000 }).map((n) => Buffer.alloc(Math.min(n, 70_000))),
  fc.constantFrom(new Int32Array(3), new Int32Array(8 * 64), new Float64Array(2), new Uint8Array(0), Buffer.alloc(32), Buffer.alloc(16)),
  fc.array(fc.nat({ max: 2000 }).map((n) => Buffer.alloc(n)), { maxLength: 70 }),
  fc.constantFrom(null, undefined, 'text', {}, [], [1, 2], () => undefined, Symbol('s'), 10n, true),
);

const FUNCTIONS = ['open', 'connect', 'address', 'start', 'close', 'stats', 'send', 'seal', 'openDatagram', 'addressName', 'addressBytes'] as const;

/** What each function may return when it does not throw: a wrong type would be a check the addon skipped. */
const RETURNS: Record<(typeof FUNCTIONS)[number], (v: unknown) => boolean> = {
  open: (v) => typeof v === 'number' || (typeof v === 'object' && v !== null),
  connect: (v) => typeof v === 'number',
  address: (v) => typeof v === 'number' || Array.isArray(v),
  start: (v) => v === undefined,
  close: (v) => v === undefined,
  stats: (v) => Array.isArray(v),
  send: (v) => typeof v === 'number',
  seal: (v) => v === undefined,
  openDatagram: (v) => typeof v === 'number',
  addressName: (v) => typeof v === 'string',
  addressBytes: (v) => v === null || v instanceof Uint8Array,
};

export async function fuzzNativeArguments(budget: FuzzBudget = {}, io: NativeIo = loadNativeIo()): Promise<FuzzReport> {
  const stats: Stats = {};
  const live = io.open(4, LOOPBACK, 0, 0, 0) as NativeSocketHandle;
  const closed = io.open(4, LOOPBACK, 0, 0, 0) as NativeSocketHandle;
  io.close(closed);
  const opened: NativeSocketHandle[] = [];
  const socketArb = fc.constantFrom<unknown>(live, closed, {}, null);
  const property = fc.property(fc.constantFrom(...FUNCTIONS), socketArb, fc.array(argumentArb, { maxLength: 6 }), (name, socket, rest) => {
    // `close` and `start` on the live socket would end the run's own check; they get the others.
    const target = (name === 'close' || name === 'start') && socket === live ? closed : socket;
    const takesSocket = !['open', 'seal', 'openDatagram', 'addressName', 'addressBytes'].includes(name);
    const args = takesSocket ? [target, ...rest] : rest;
    let result: unknown;
    try {
      result = (io[name] as (...a: unknown[]) => unknown)(...args);
    } catch (err) {
      check(err instanceof Error, () => `${name} threw a non-error: ${String(err)}`);
      bump(stats, `${name}: ${(err as Error).name}`);
      return;
    }
    check(RETURNS[name](result), () => `${name} returned ${String(result)} for ${args.length} argument(s)`);
    bump(stats, `${name}: returned`);
    if (name === 'open' && typeof result === 'object' && result !== null) opened.push(result as NativeSocketHandle);
  });
  try {
    const report = await drive('native-arguments', budget, 2000, (runs, seed) => fc.assert(property, { numRuns: runs, seed, includeErrorInReport: true }));
    // The live socket still sends.
    check(io.send(live, [Buffer.from('still here')], 1, LOOPBACK, 9) === 1, () => 'the live socket no longer sends');
    return { ...report, stats };
  } finally {
    io.close(live);
    for (const handle of opened) io.close(handle);
  }
}

/** Datagrams as a sender might shape them: trains of equal sizes (GSO / GRO), odd sizes, tiny and huge ones. */
const trainArb = fc.oneof(
  fc.record({ size: fc.integer({ min: 1, max: 1500 }), count: fc.integer({ min: 1, max: 44 }) }),
  fc.record({ size: fc.integer({ min: 1, max: 65_507 }), count: fc.constant(1) }),
  fc.record({ size: fc.constantFrom(1, 28, 47, 48, 49, 1444), count: fc.integer({ min: 1, max: 64 }) }),
);

export async function fuzzNativeWire(budget: FuzzBudget = {}, io: NativeIo = loadNativeIo()): Promise<FuzzReport> {
  const server = createServer({ handshakeThreads: 0, datagramPath: 'native' });
  const errors: Error[] = [];
  server.on('error', (err) => errors.push(err));
  const { port } = await server.listen(0, '127.0.0.1');
  const tx = io.open(4, LOOPBACK, 0, 1 << 22, 1 << 22) as NativeSocketHandle;
  const answers: number[] = [];
  io.start(tx, Buffer.alloc(io.constants.RECV_BATCH * io.constants.RECV_SLOT), new Int32Array(1024 * io.constants.META_FIELDS), (n) => answers.push(n));
  const stats: Stats = {};
  let expected = 0;
  let bytes = 0;
  const property = fc.property(fc.array(trainArb, { minLength: 1, maxLength: 4 }), fc.boolean(), (trains, tokenFirst) => {
    for (const { size, count } of trains) {
      const datagrams = Array.from({ length: count }, () => {
        const d = randomBytes(size);
        // Some look like handshakes (first byte 'g'), the rest like session datagrams.
        if (tokenFirst) d[0] = 0x67;
        return d;
      });
      const sent = io.send(tx, datagrams, count, LOOPBACK, port);
      check(sent === count, () => `the kernel took ${sent} of ${count} datagrams`);
      expected += count;
      bytes += size * count;
      bump(stats, count > 1 ? 'trains' : 'single datagrams');
      if (size > 1500) bump(stats, 'over 1500 bytes');
    }
  });
  try {
    const report = await drive('native-wire', budget, 50, (runs, seed) => fc.assert(property, { numRuns: runs, seed, includeErrorInReport: true }),
      async () => {
        // Everything sent so far arrives before more is sent: loopback loses nothing unless a buffer overflows.
        // A hang guard, not a budget: what an idle machine needs, times PATIENCE.
        const deadline = Date.now() + 2_000 * PATIENCE;
        while (server.counters.packetsIn < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        check(server.counters.packetsIn === expected, () => `the server saw ${server.counters.packetsIn} of ${expected} datagrams`);
        check(server.counters.bytesIn === bytes, () => `the server saw ${server.counters.bytesIn} of ${bytes} bytes: datagrams were cut or joined`);
      });
    check(errors.length === 0, () => `the server emitted an error: ${errors[0]?.stack}`);
    check(answers.length === 0, () => `the server answered ${answers.length} batch(es) of garbage`);
    check(server.counters.dropped === expected, () => `${server.counters.dropped} of ${expected} datagrams were counted as dropped`);
    // The server still serves.
    const session = await connect({ host: '127.0.0.1', port, datagramPath: 'native' });
    const rtt = await session.ping(2_000 * PATIENCE);
    session.close();
    check(rtt >= 0, () => 'no ping answer after the fuzzing');
    stats['datagrams'] = expected;
    stats['receive batches at the server'] = server.ioStats()?.receiveBatches ?? 0;
    return { ...report, stats };
  } finally {
    io.close(tx);
    await server.close();
  }
}

/** The native targets, when the addon is built (a machine without a compiler runs on node:dgram and has no native boundary). */
export const NATIVE_TARGETS: readonly TargetEntry[] = nativeAvailable()
  ? [{ name: 'native-arguments', run: (b) => fuzzNativeArguments(b) }, { name: 'native-wire', run: (b) => fuzzNativeWire(b) }]
  : [];

export function nativeAvailable(): boolean {
  try {
    loadNativeIo();
    return true;
  } catch {
    return false;
  }
}
