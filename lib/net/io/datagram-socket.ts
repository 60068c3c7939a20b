import type { AddressInfo } from 'node:net';
import type { AeadKey, DatagramOpen } from '../../crypto/aead-key.js';
import type { PeerAddress } from '../session.js';
import type { DatagramIoStats } from './io-stats.js';

export type { DatagramIoStats } from './io-stats.js';

export interface SealingSend {
  send(datagram: Buffer, key: AeadKey, to?: PeerAddress): void;
  flush(): void;
  /** The same AEAD for received datagrams, one at a time (the replay check comes first, in JS). */
  open: DatagramOpen;
}


/**
 * One UDP socket as the sessions see it: datagrams in through `onMessage`, out through `send`.
 * Two implementations: node:dgram, and the native addon's batched socket, which queues the sends
 * of one event-loop turn and hands them to the kernel in one call (see native-socket.ts).
 *
 * A received datagram is valid only during the `onMessage` call: the native path reuses its
 * buffer for the next batch, so a handler copies what it keeps.
 */
export interface DatagramSocket {
  readonly path: 'native' | 'dgram';
  onMessage: ((datagram: Buffer, from: PeerAddress) => void) | null;
  /** A socket error after bind (ECONNREFUSED on a connected socket, a failed send). */
  onError: ((err: NodeJS.ErrnoException) => void) | null;
  /** `receiveBufferBytes`: the kernel's receive buffer, so bursts are not dropped (the OS may cap it). */
  bind(port: number, host?: string, receiveBufferBytes?: number): Promise<AddressInfo>;
  /** The one peer of a client: the kernel filters out everyone else and reports ICMP unreachable. */
  connect(port: number, address: string): Promise<void>;
  /** `to` may be left out on a connected socket. */
  send(datagram: Buffer, to?: PeerAddress): void;
  /**
   * Present when the socket seals too (the native path): `send` takes a datagram whose nonce and
   * plaintext are in place and seals it under `key` with the rest of the turn's datagrams, in one
   * call, just before they leave. `flush` does it now.
   */
  readonly sealing?: SealingSend;
  address(): AddressInfo;
  close(): Promise<void>;
  stats(): DatagramIoStats;
}
