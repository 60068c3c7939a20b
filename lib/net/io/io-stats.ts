/** What a datagram path has done, for the bench and SIGUSR1: batch sizes say whether batching works. */
export interface DatagramIoStats {
  readonly path: 'native' | 'dgram';
  /** UDP segmentation offload in use for sends (native path only). */
  readonly gso: boolean;
  /** UDP receive offload (GRO) enabled on the socket (native path only). */
  readonly gro: boolean;
  readonly sendCalls: number;
  readonly datagramsSent: number;
  /** Datagrams the kernel would not take (a full send buffer): lost, as on the wire. */
  readonly sendDrops: number;
  readonly receiveBatches: number;
  readonly datagramsReceived: number;
}
