/**
 * udx-native as a raw reliable-UDP baseline for the WAN bench: one udx stream (its own congestion
 * control and retransmission, no encryption), bytes as fast as it takes them for S seconds.
 *
 *   node udx-peer.js receive --bind HOST --port P --peer HOST:PORT --limit S
 *   node udx-peer.js send    --bind HOST --port P --peer HOST:PORT --seconds S
 *
 * Both ends bind fixed ports and connect their stream to the other's (udx streams are addressed by
 * socket and id on each side). The receiver prints "listening", then one JSON report when the
 * sender ends the stream (or --limit passes): bytes received and the seconds from the first to the
 * last byte. The sender prints its counters (packets, retransmits, srtt). Run by benchmarks/wan/.
 */
import { parseArgs } from 'node:util';
import UDX from 'udx-native';

/** Stream ids: any two distinct numbers will do, as long as each side names the other's. */
const RECEIVER_ID = 1;
const SENDER_ID = 2;
/** Writes of this size keep udx's queue fed without holding much beyond its own buffer. */
const CHUNK_BYTES = 64 * 1024;
/** How long the sender waits for its last bytes to be acknowledged before it gives up. */
const DRAIN_LIMIT_MS = 20_000;

function peerOf(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  const port = Number(text.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--peer wants HOST:PORT, not ${text}`);
  return { host: text.slice(0, at), port };
}

const report = (fields: Record<string, number | string>): void => {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
};

async function receive(bind: string, port: number, peer: { host: string; port: number }, limitSeconds: number): Promise<void> {
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(port, bind);
  const stream = udx.createStream(RECEIVER_ID);
  stream.connect(socket, SENDER_ID, peer.port, peer.host);
  let bytes = 0;
  let firstAt = 0;
  let lastAt = 0;
  stream.on('data', (chunk) => {
    const now = performance.now();
    if (bytes === 0) firstAt = now;
    lastAt = now;
    bytes += chunk.length;
  });
  stream.on('error', () => undefined);
  process.stdout.write('listening\n');
  const how = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('limit'), limitSeconds * 1000);
    stream.once('end', () => {
      clearTimeout(timer);
      resolve('end');
    });
  });
  report({ role: 'receiver', bytes, seconds: (lastAt - firstAt) / 1000, endedBy: how });
  stream.end();
  stream.destroy();
  await socket.close();
}

async function send(bind: string, port: number, peer: { host: string; port: number }, seconds: number): Promise<void> {
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(port, bind);
  const stream = udx.createStream(SENDER_ID);
  stream.connect(socket, RECEIVER_ID, peer.port, peer.host);
  let failure: Error | null = null;
  stream.on('error', (err) => {
    failure = err;
  });
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a);
  const endAt = performance.now() + seconds * 1000;
  let written = 0;
  while (performance.now() < endAt && failure === null) {
    written += chunk.length;
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  }
  stream.end();
  // 'finish' comes once udx has had every byte acknowledged.
  const finished = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), DRAIN_LIMIT_MS);
    stream.once('finish', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  report({
    role: 'sender', bytes: written, seconds, packets: stream.packetsTransmitted, retransmits: stream.retransmits, rttMs: stream.rtt,
    finished: String(finished), ...(failure === null ? {} : { error: (failure as Error).message }),
  });
  stream.destroy();
  await socket.close();
}

async function main(): Promise<void> {
  const [role, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: { bind: { type: 'string' }, port: { type: 'string' }, peer: { type: 'string' }, seconds: { type: 'string' }, limit: { type: 'string' } },
    strict: true,
  });
  const port = Number(values.port);
  if (values.bind === undefined || !Number.isInteger(port) || values.peer === undefined) throw new Error('--bind, --port and --peer are required');
  const peer = peerOf(values.peer);
  if (role === 'receive') return receive(values.bind, port, peer, Number(values.limit ?? 120));
  if (role === 'send') return send(values.bind, port, peer, Number(values.seconds ?? 10));
  throw new Error('usage: udx-peer.js receive|send --bind HOST --port P --peer HOST:PORT [--seconds S] [--limit S]');
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`udx-peer: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
