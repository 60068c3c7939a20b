import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { literalLookup } from '../address.js';
import type { PeerAddress } from '../session.js';
import type { DatagramIoStats, DatagramSocket } from './datagram-socket.js';

/** node:dgram, one system call per datagram each way. */
export class DgramSocket implements DatagramSocket {
  readonly path = 'dgram' as const;
  onMessage: ((datagram: Buffer, from: PeerAddress) => void) | null = null;
  onError: ((err: NodeJS.ErrnoException) => void) | null = null;
  readonly #socket: Socket;
  #sent = 0;
  #received = 0;

  constructor(family: 4 | 6) {
    this.#socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
    this.#socket.on('message', (datagram, rinfo) => {
      this.#received++;
      this.onMessage?.(datagram, rinfo);
    });
  }

  bind(port: number, host?: string, receiveBufferBytes?: number): Promise<AddressInfo> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.onError?.(err));
        try {
          if (receiveBufferBytes) socket.setRecvBufferSize(receiveBufferBytes);
        } catch {
          // The OS may refuse a size; its default still works, only bursts drop sooner.
        }
        resolve(socket.address());
      });
    });
  }

  connect(port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => this.#socket.connect(port, address, (err?: Error) => (err ? reject(err) : resolve())));
  }

  send(datagram: Buffer, to?: PeerAddress): void {
    this.#sent++;
    if (to) this.#socket.send(datagram, to.port, to.address);
    else this.#socket.send(datagram);
  }

  address(): AddressInfo {
    return this.#socket.address();
  }

  close(): Promise<void> {
    this.onMessage = null;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  stats(): DatagramIoStats {
    return {
      path: 'dgram', gso: false, gro: false, sendCalls: this.#sent, datagramsSent: this.#sent, sendDrops: 0,
      receiveBatches: this.#received, datagramsReceived: this.#received,
    };
  }
}
