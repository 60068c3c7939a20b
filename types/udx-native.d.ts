// The subset of udx-native (1.x) that the WAN bench's udx peer calls (benchmarks/wan/udx-peer.ts);
// the package ships no type declarations.
declare module 'udx-native' {
  export interface UdxSocket {
    bind(port?: number, host?: string): void;
    address(): { host: string; family: number; port: number };
    close(): Promise<void>;
  }
  export interface UdxStream {
    connect(socket: UdxSocket, remoteId: number, port: number, host?: string): void;
    write(chunk: Uint8Array): boolean;
    end(): void;
    resume(): this;
    destroy(err?: Error): void;
    on(event: 'data', listener: (chunk: Uint8Array) => void): this;
    on(event: 'end' | 'finish' | 'close' | 'drain', listener: () => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    once(event: 'end' | 'finish' | 'close' | 'drain', listener: () => void): this;
    once(event: 'error', listener: (err: Error) => void): this;
    off(event: string, listener: (...args: never[]) => void): this;
    /** Smoothed round-trip time in ms. */
    readonly rtt: number;
    readonly retransmits: number;
    readonly packetsTransmitted: number;
    readonly bytesTransmitted: number;
  }
  export default class UDX {
    createSocket(): UdxSocket;
    createStream(id: number): UdxStream;
  }
}
