import { lookup } from 'node:dns/promises';
import { isIP, type AddressInfo } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { PeerAddress } from '../session.js';
import type { AeadKey } from '../../crypto/aead-key.js';
import type { DatagramIoStats, DatagramSocket, SealingSend } from './datagram-socket.js';
import type { NativeIo, NativeSocketHandle } from './native-binding.js';

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

/** An error as Node's own sockets raise it: `code` is the errno's name, the message `syscall CODE detail`. */
export function errnoError(errno: number, syscall: string, detail?: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${detail ? ` ${detail}` : ''}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/**
 * The native addon's socket (native/io.c). Received datagrams come a batch per system call
 * (recvmmsg, with GRO trains split back into datagrams); sends of one event-loop turn queue and
 * leave together at the end of the turn (a microtask), each run to one address as one GSO send.
 *
 * Batching does not change when a datagram leaves, only how many leave per system call: what the
 * congestion controller's pacing released in this turn was going to leave in this turn anyway.
 */
export class NativeSocket implements DatagramSocket {
  readonly path = 'native' as const;
  onMessage: ((datagram: Buffer, from: PeerAddress) => void) | null = null;
  onError: ((err: NodeJS.ErrnoException) => void) | null = null;
  readonly #io: NativeIo;
  readonly #family: 4 | 6;
  readonly #sendBufferBytes: number;
  #handle: NativeSocketHandle | null = null;
  readonly #receive: Buffer;
  readonly #descriptors: Int32Array;
  readonly #fields: number;
  /** Sends of this turn, where each goes (undefined: the connected peer), and the key of each still to be sealed. */
  readonly #queue: Buffer[] = [];
  readonly #queueTo: (PeerAddress | undefined)[] = [];
  readonly #queueKey: (AeadKey | null)[] = [];
  #connected = false;
  readonly sealing: SealingSend;
  #flushQueued = false;
  /** The last source seen, so a batch from one peer makes one address object, not one per datagram. */
  #lastFrom: PeerAddress | null = null;
  readonly #lastKey = new Int32Array(5);
  /** Address bytes by text, for sends; cleared when it grows past a server's worth of peers. */
  readonly #addressBytes = new Map<string, Uint8Array>();
  #sendCalls = 0;
  #sent = 0;
  #sendDrops = 0;
  #batches = 0;
  #received = 0;

  constructor(io: NativeIo, family: 4 | 6, sendBufferBytes: number) {
    this.#io = io;
    this.#family = family;
    this.sealing = { send: (datagram, key, to) => this.#enqueue(datagram, to, key), flush: () => this.#flush(), open: io.openDatagram };
    this.#sendBufferBytes = sendBufferBytes;
    const { RECV_BATCH, RECV_SLOT, META_FIELDS } = io.constants;
    this.#receive = Buffer.allocUnsafe(RECV_BATCH * RECV_SLOT);
    // Room for every datagram of a full batch of minimum-size GRO segments would be huge; the addon
    // hands over a full table and goes on, so this only sets how often JS is called.
    this.#descriptors = new Int32Array(1024 * META_FIELDS);
    this.#fields = META_FIELDS;
  }

  async bind(port: number, host = this.#family === 6 ? '::' : '0.0.0.0', receiveBufferBytes = 0): Promise<AddressInfo> {
    if (this.#handle) throw errnoError(osConstants.errno.EINVAL, 'bind', 'the socket is bound already');
    const literal = isIP(host) ? host : (await lookup(host, { family: this.#family })).address;
    const bytes = this.#bytesOf(literal);
    if (bytes === null) throw errnoError(osConstants.errno.EAFNOSUPPORT, 'bind', `${host}:${port}`);
    const handle = this.#io.open(this.#family, bytes, port, receiveBufferBytes, this.#sendBufferBytes);
    if (typeof handle === 'number') throw errnoError(-handle, 'bind', `${literal}:${port}`);
    this.#handle = handle;
    this.#io.start(handle, this.#receive, this.#descriptors, this.#onBatch);
    return this.address();
  }

  async connect(port: number, address: string): Promise<void> {
    const bytes = this.#bytesOf(address);
    if (bytes === null) throw errnoError(osConstants.errno.EAFNOSUPPORT, 'connect', address);
    const result = this.#io.connect(this.#bound(), bytes, port);
    if (result < 0) throw errnoError(-result, 'connect', `${address}:${port}`);
    this.#connected = true;
  }

  send(datagram: Buffer, to?: PeerAddress): void {
    this.#enqueue(datagram, to, null);
  }

  #enqueue(datagram: Buffer, to: PeerAddress | undefined, key: AeadKey | null): void {
    this.#queue.push(datagram);
    // A connected socket's one peer is the kernel's to fill in, so its errors (ECONNREFUSED) come back.
    this.#queueTo.push(this.#connected ? undefined : to);
    this.#queueKey.push(key);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(this.#flush);
  }

  address(): AddressInfo {
    const words = this.#io.address(this.#bound());
    if (typeof words === 'number') throw errnoError(-words, 'getsockname');
    const scratch = new Int32Array(this.#fields);
    const [port, family, ...address] = words;
    scratch[2] = port;
    scratch[3] = family;
    scratch.set(address, 4);
    return { address: this.#io.addressName(scratch, 0), family: family === 4 ? 'IPv4' : 'IPv6', port };
  }

  async close(): Promise<void> {
    this.#flush();
    this.onMessage = null;
    const handle = this.#handle;
    this.#handle = null;
    if (handle) this.#io.close(handle);
  }

  stats(): DatagramIoStats {
    const [gso, gro] = this.#handle ? this.#io.stats(this.#handle) : [0, 0];
    return {
      path: 'native', gso: gso === 1, gro: gro === 1, sendCalls: this.#sendCalls, datagramsSent: this.#sent, sendDrops: this.#sendDrops,
      receiveBatches: this.#batches, datagramsReceived: this.#received,
    };
  }

  #bound(): NativeSocketHandle {
    if (!this.#handle) throw errnoError(osConstants.errno.EBADF, 'socket', 'the socket is not bound');
    return this.#handle;
  }

  #bytesOf(address: string): Uint8Array | null {
    let bytes = this.#addressBytes.get(address);
    if (bytes === undefined) {
      const parsed = this.#io.addressBytes(this.#family, address);
      if (parsed === null) return null;
      if (this.#addressBytes.size >= 4096) this.#addressBytes.clear();
      this.#addressBytes.set(address, parsed);
      bytes = parsed;
    }
    return bytes;
  }

  /** Hands this turn's sends to the kernel: one call per run of datagrams to one address. */
  readonly #flush = (): void => {
    this.#flushQueued = false;
    const queue = this.#queue;
    const destinations = this.#queueTo;
    const handle = this.#handle;
    const total = queue.length;
    if (total === 0) return;
    this.#seal(queue, this.#queueKey);
    const max = this.#io.constants.SEND_MAX;
    for (let start = 0; start < total;) {
      const to = destinations[start];
      let end = start + 1;
      while (end < total && end - start < max && sameDestination(destinations[end], to)) end++;
      const count = end - start;
      if (handle === null) {
        this.#sendDrops += count;
      } else {
        const run = start === 0 && end === total ? queue : queue.slice(start, end);
        this.#sendRun(handle, run, count, to);
      }
      start = end;
    }
    queue.length = 0;
    destinations.length = 0;
    this.#queueKey.length = 0;
  };

  /** Seals the queued datagrams that wait for it, one native call per run under one key. */
  #seal(queue: Buffer[], keys: (AeadKey | null)[]): void {
    const total = queue.length;
    for (let start = 0; start < total;) {
      const key = keys[start];
      let end = start + 1;
      while (end < total && keys[end] === key) end++;
      if (key) key.sealInPlace(start === 0 && end === total ? queue : queue.slice(start, end), end - start, this.#io.seal);
      start = end;
    }
  }

  #sendRun(handle: NativeSocketHandle, run: Buffer[], count: number, to: PeerAddress | undefined): void {
    let bytes: Uint8Array | null = null;
    if (to !== undefined) {
      bytes = this.#bytesOf(to.address);
      if (bytes === null) {
        this.#sendDrops += count;
        this.onError?.(errnoError(osConstants.errno.EAFNOSUPPORT, 'send', to.address));
        return;
      }
    }
    this.#sendCalls++;
    const sent = this.#io.send(handle, run, count, bytes, to?.port ?? 0);
    if (sent < 0) {
      this.#sendDrops += count;
      // A full buffer loses the datagrams, as a full queue on the path would; anything else is the socket's error.
      if (sent !== -osConstants.errno.EAGAIN && sent !== -osConstants.errno.ENOBUFS) this.onError?.(errnoError(-sent, 'send'));
      return;
    }
    this.#sent += sent;
    this.#sendDrops += count - sent;
  }

  readonly #onBatch = (count: number): void => {
    if (count < 0) {
      this.onError?.(errnoError(-count, 'recvmmsg'));
      return;
    }
    this.#batches++;
    this.#received += count;
    const descriptors = this.#descriptors;
    const fields = this.#fields;
    for (let i = 0; i < count; i++) {
      const handler = this.onMessage;
      if (handler === null) return;
      const at = i * fields;
      const offset = descriptors[at]!;
      handler(this.#receive.subarray(offset, offset + descriptors[at + 1]!), this.#source(i));
    }
  };

  /** The source of descriptor `i`, reusing the last one's object when it is the same address and port. */
  #source(i: number): PeerAddress {
    const descriptors = this.#descriptors;
    const at = i * this.#fields;
    const key = this.#lastKey;
    if (this.#lastFrom !== null && key[0] === descriptors[at + 2] && key[1] === descriptors[at + 4] && key[2] === descriptors[at + 5]
      && key[3] === descriptors[at + 6] && key[4] === descriptors[at + 7]) {
      return this.#lastFrom;
    }
    key[0] = descriptors[at + 2]!;
    key.set(descriptors.subarray(at + 4, at + 8), 1);
    const from = { address: this.#io.addressName(descriptors, i), port: descriptors[at + 2]! };
    this.#lastFrom = from;
    return from;
  }
}

function sameDestination(a: PeerAddress | undefined, b: PeerAddress | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.port === b.port && a.address === b.address);
}
