import { DgramSocket } from './dgram-socket.js';
import type { DatagramSocket } from './datagram-socket.js';
import { defaultIo, type NativeIo } from './native-binding.js';
import { NativeSocket } from './native-socket.js';

/** Bytes for the native socket's send buffer: a turn's burst must fit, or the kernel drops the rest. */
const NATIVE_SEND_BUFFER = 4 * 1024 * 1024;

/** A socket on the process's datagram path (BITTRRT_IO; native when the addon loads). */
export function openDatagramSocket(family: 4 | 6, io: NativeIo | null = defaultIo()): DatagramSocket {
  return io ? new NativeSocket(io, family, NATIVE_SEND_BUFFER) : new DgramSocket(family);
}
