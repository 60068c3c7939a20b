/**
 * One udx-native stream between two fixed ends, as the loopback transfer bench (baseline-worker.ts)
 * and the WAN bench (wan/udx-peer.ts) use it: udx is reliable, congestion-controlled UDP in native
 * code, without encryption. Its streams are addressed by socket and id on both sides, so each end
 * is told the other's port.
 */
import type { UdxSocket, UdxStream } from 'udx-native';

/** Stream ids: any two distinct numbers, as long as each side names the other's. */
const RECEIVER_ID = 1;
const SENDER_ID = 2;
/** How long an end waits for the other to end its side before it closes anyway. */
const CLOSE_MS = 2_000;

export interface UdxEnd {
  readonly socket: UdxSocket;
  readonly stream: UdxStream;
}

/** Binds `bind` (port 0: any) and connects a stream to the other end's. Loads udx-native only when called. */
export async function openUdxEnd(role: 'receiver' | 'sender', bind: { host: string; port: number }, peer: { host: string; port: number }): Promise<UdxEnd> {
  const { default: UDX } = await import('udx-native');
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(bind.port, bind.host);
  const stream = udx.createStream(role === 'receiver' ? RECEIVER_ID : SENDER_ID);
  stream.connect(socket, role === 'receiver' ? SENDER_ID : RECEIVER_ID, peer.port, peer.host);
  return { socket, stream };
}

export interface Received {
  readonly bytes: number;
  /** First byte in to last byte in. */
  readonly elapsedMs: number;
}

/** Counts what arrives until the sender ends the stream (or `limitMs` passes; then `ended` is false). */
export function receiveAll(stream: UdxStream, limitMs: number): Promise<Received & { readonly ended: boolean }> {
  let bytes = 0;
  let firstAt = 0;
  let lastAt = 0;
  return new Promise((resolve, reject) => {
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      resolve({ bytes, elapsedMs: lastAt - firstAt, ended });
    };
    const timer = setTimeout(() => finish(false), limitMs);
    stream.on('data', (chunk) => {
      const now = performance.now();
      if (bytes === 0) firstAt = now;
      lastAt = now;
      bytes += chunk.length;
    });
    stream.once('end', () => finish(true));
    stream.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Writes with backpressure as long as `more(written)` asks for bytes (at most `chunkBytes` a write;
 * 0 stops), ends the stream and resolves with the bytes written once udx has had every one acknowledged.
 */
export async function sendAll(stream: UdxStream, chunkBytes: number, more: (written: number) => number): Promise<number> {
  let failure: Error | null = null;
  stream.on('error', (err) => {
    failure = err;
  });
  // The receiver ends its side once it has read everything: read it, so the stream can close.
  stream.resume();
  const chunk = Buffer.alloc(chunkBytes, 0x5a);
  let written = 0;
  for (let next = more(0); next > 0; next = more(written)) {
    if (failure !== null) throw failure;
    const piece = next >= chunk.length ? chunk : chunk.subarray(0, next);
    written += piece.length;
    if (!stream.write(piece)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  }
  await new Promise<void>((resolve, reject) => {
    stream.once('finish', resolve);
    stream.once('error', reject);
    stream.end();
  });
  return written;
}

/** Ends our side and waits (briefly) for the stream to close once the other side has ended too: a destroy before that would reset the peer. */
export async function closeUdxEnd(end: UdxEnd): Promise<void> {
  end.stream.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_MS);
    end.stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    end.stream.end();
  });
  end.stream.destroy();
  await end.socket.close();
}
