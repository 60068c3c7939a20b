import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/** A UDP socket bound to an ephemeral loopback port. */
export async function openLoopbackSocket(type: 'udp4' | 'udp6' = 'udp4'): Promise<Socket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', resolve));
  return socket;
}

export function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

export function sendTo(socket: Socket, data: Uint8Array | string, port: number, address = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => socket.send(data, port, address, (err) => (err ? reject(err) : resolve())));
}

/** Resolves with the next datagram, or null if none arrives within `ms`. */
export function nextDatagram(socket: Socket, ms: number): Promise<{ msg: Buffer; rinfo: RemoteInfo } | null> {
  return new Promise((resolve) => {
    const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
      clearTimeout(timer);
      resolve({ msg, rinfo });
    };
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(null);
    }, ms);
    socket.once('message', onMessage);
  });
}

/**
 * Whether `socket` got nothing back for a datagram the server handled: waits (up to `ms`) until
 * `processed()` says the server has handled it, then a moment for loopback to deliver any answer
 * (a server answers in the turn that handles the datagram). Listens from the start, so an answer
 * that came early counts too. Throws if the server never handled it: silence from a server that
 * has not yet looked at a datagram proves nothing.
 */
export async function noReplyOnceProcessed(socket: Socket, processed: () => boolean, ms = 10_000): Promise<boolean> {
  let replied = false;
  const onMessage = (): void => {
    replied = true;
  };
  socket.on('message', onMessage);
  try {
    if (!(await pollUntil(processed, ms))) throw new Error(`the server did not handle the datagram within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    return !replied;
  } finally {
    socket.off('message', onMessage);
  }
}

/**
 * How many times longer than an idle machine needs a test waits for a condition before it fails:
 * the machine running the suite may be loaded many times over (shared cores, other suites). A
 * condition that holds ends the wait at once, so only a failing test pays for the patience.
 * BITTRRT_TEST_PATIENCE overrides it.
 */
export const PATIENCE = Number(process.env.BITTRRT_TEST_PATIENCE ?? 5);

/**
 * Polls `condition` every 10 ms until it holds or PATIENCE x `ms` pass; returns whether it held.
 * `ms` is what an idle machine needs, with a margin. For pacing (where giving up early is the
 * point), use pollUntil.
 */
export function eventually(condition: () => boolean, ms: number): Promise<boolean> {
  return pollUntil(condition, ms * PATIENCE);
}

/** Polls `condition` every 10 ms until it holds or `ms` pass; returns whether it held. */
export async function pollUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
