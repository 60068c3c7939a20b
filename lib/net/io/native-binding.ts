import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BackendUnavailableError } from '../../errors.js';
import { PACKAGE_ROOT } from '../../package-root.js';

/**
 * The native datagram addon (native/io.c), built at install by node-gyp and loaded through
 * node-gyp-build. Every function checks its arguments' types and lengths and throws on a
 * mismatch; a socket error comes back as a negative errno, never as an exception.
 */
export interface NativeIo {
  /** A bound, non-blocking UDP socket (an opaque handle), or -errno. */
  open(family: 4 | 6, address: Uint8Array, port: number, receiveBufferBytes: number, sendBufferBytes: number): NativeSocketHandle | number;
  connect(socket: NativeSocketHandle, address: Uint8Array, port: number): number;
  /** [port, family, four words of the address's bytes], or -errno. */
  address(socket: NativeSocketHandle): [port: number, family: number, ...address: number[]] | number;
  /**
   * Starts receiving: on each batch `onBatch(count)` runs with `count` descriptors filled (or a
   * negative errno on a socket error). The buffers are the addon's until close.
   */
  start(socket: NativeSocketHandle, receiveBuffer: Uint8Array, descriptors: Int32Array, onBatch: (count: number) => void): void;
  close(socket: NativeSocketHandle): void;
  /** [gso on, gro on, reads that carried a GRO train, datagrams dropped as too large]. */
  stats(socket: NativeSocketHandle): [number, number, number, number];
  /** Datagrams the kernel took (in order from the first), or -errno if it took none. */
  send(socket: NativeSocketHandle, datagrams: readonly Uint8Array[], count: number, address: Uint8Array | null, port: number): number;
  /** Seals each datagram in place: nonce(12) || plaintext || 16 bytes of room for the tag. */
  seal(key: Uint8Array, datagrams: readonly Uint8Array[], count: number): void;
  /** Opens nonce || ciphertext || tag into `out`; the plaintext length, or -1. */
  openDatagram(key: Uint8Array, datagram: Uint8Array, out: Uint8Array): number;
  /** The textual form of descriptor `index`'s address (inet_ntop). */
  addressName(descriptors: Int32Array, index: number): string;
  /** An address's bytes (inet_pton) for a socket of `family`, or null if it is not one. */
  addressBytes(family: 4 | 6, address: string): Uint8Array | null;
  readonly constants: { RECV_BATCH: number; RECV_SLOT: number; META_FIELDS: number; SEND_MAX: number };
}

declare const handleBrand: unique symbol;
export type NativeSocketHandle = { readonly [handleBrand]: true };

/** Which datagram path BITTRRT_IO asks for: 'native' (required), 'dgram' (forced), or unset (native, else dgram). */
export type IoPreference = 'auto' | 'native' | 'dgram';

export function parseIoPreference(value: string | undefined): IoPreference {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'native' || value === 'dgram') return value;
  throw new BackendUnavailableError(`BITTRRT_IO must be "native", "dgram" or "auto", not ${JSON.stringify(value)}`);
}


/** Loads the addon, or throws why it cannot be loaded. */
export function loadNativeIo(): NativeIo {
  if (process.platform !== 'linux') throw new Error('the native datagram path needs Linux (recvmmsg, sendmmsg, UDP GSO)');
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (root: string) => NativeIo;
  return load(PACKAGE_ROOT);
}

/** Whether `npm install` built the addon (it says so in one line when it cannot). */
export function addonBuilt(): boolean {
  return existsSync(join(PACKAGE_ROOT, 'build', 'Release', 'bittrrt_io.node'));
}

/**
 * Chooses the datagram path. With 'auto', node:dgram when the addon does not load: quietly if it
 * was never built (the install said why), with one warning through `warn` if it was built and
 * still fails (a Node upgrade since, say). With 'native' the failure is an error.
 */
export function selectIo(preference: IoPreference, warn: (message: string) => void, load: () => NativeIo = loadNativeIo,
  built: () => boolean = addonBuilt): NativeIo | null {
  if (preference === 'dgram') return null;
  try {
    return load();
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (preference === 'native') throw new BackendUnavailableError(`BITTRRT_IO=native but the native datagram addon could not be loaded: ${reason}`);
    if (built()) warn(`bittrrt: the native datagram addon is built but does not load, using node:dgram (rebuild it with npm rebuild bittrrt, or npm install): ${reason}`);
    return null;
  }
}

/** Which datagram path one server or client takes: BITTRRT_IO's choice when not given. */
export type DatagramPath = 'native' | 'dgram';

/** The addon for `path` (null: node:dgram); 'native' throws BackendUnavailableError if the addon cannot load. */
export function ioFor(path: DatagramPath | undefined): NativeIo | null {
  return path === undefined ? defaultIo() : selectIo(path, (m) => process.emitWarning(m));
}

let chosen: NativeIo | null | undefined;

/** The process-wide choice, made once from BITTRRT_IO on first use: the addon, or null for node:dgram. */
export function defaultIo(): NativeIo | null {
  if (chosen === undefined) chosen = selectIo(parseIoPreference(process.env.BITTRRT_IO), (m) => process.emitWarning(m));
  return chosen;
}
