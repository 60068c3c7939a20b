/**
 * udx-native as a raw reliable-UDP baseline for the WAN bench: one udx stream (its own congestion
 * control and retransmission, no encryption) carrying bytes as fast as it takes them for S seconds.
 *
 *   node udx-peer.js receive --bind HOST --port P --peer HOST:PORT --limit S
 *   node udx-peer.js send    --bind HOST --port P --peer HOST:PORT --seconds S
 *
 * Both ends bind fixed ports and connect their stream to the other's. The receiver prints
 * "listening", then one JSON line when the sender ends the stream (or --limit passes): the bytes
 * received and the seconds from the first to the last. The sender prints its counters (packets,
 * retransmits, srtt). Run by benchmarks/wan/runners.ts inside the namespaces.
 */
import { parseArgs } from 'node:util';
import { closeUdxEnd, openUdxEnd, receiveAll, sendAll } from '../udx-stream.js';

/** Writes of this size keep udx's queue fed without holding much beyond its own buffer. */
const CHUNK_BYTES = 64 * 1024;

function peerOf(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  const port = Number(text.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--peer wants HOST:PORT, not ${text}`);
  return { host: text.slice(0, at), port };
}

const report = (fields: Record<string, number | string | boolean>): void => {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
};

async function receive(bind: { host: string; port: number }, peer: { host: string; port: number }, limitSeconds: number): Promise<void> {
  const end = await openUdxEnd('receiver', bind, peer);
  const received = receiveAll(end.stream, limitSeconds * 1000);
  process.stdout.write('listening\n');
  const { bytes, elapsedMs, ended } = await received;
  report({ role: 'receiver', bytes, seconds: elapsedMs / 1000, ended });
  await closeUdxEnd(end);
}

async function send(bind: { host: string; port: number }, peer: { host: string; port: number }, seconds: number): Promise<void> {
  const end = await openUdxEnd('sender', bind, peer);
  const stopAt = performance.now() + seconds * 1000;
  const bytes = await sendAll(end.stream, CHUNK_BYTES, () => (performance.now() < stopAt ? CHUNK_BYTES : 0));
  report({ role: 'sender', bytes, seconds, packets: end.stream.packetsTransmitted, retransmits: end.stream.retransmits, rttMs: end.stream.rtt });
  await closeUdxEnd(end);
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
  const bind = { host: values.bind, port };
  const peer = peerOf(values.peer);
  const number = (text: string | undefined, fallback: number): number => {
    const v = text === undefined ? fallback : Number(text);
    if (!(v > 0 && v <= 600)) throw new Error(`--seconds and --limit want 0 to 600 seconds, not ${text}`);
    return v;
  };
  if (role === 'receive') return receive(bind, peer, number(values.limit, 120));
  if (role === 'send') return send(bind, peer, number(values.seconds, 10));
  throw new Error('usage: udx-peer.js receive|send --bind HOST --port P --peer HOST:PORT [--seconds S] [--limit S]');
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`udx-peer: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
