import type { RemoteInfo, Socket } from 'node:dgram';
import { closeSocket, openLoopbackSocket } from './udp.js';

/**
 * A UDP relay on loopback between one client and a server: the client talks to `port`, the relay
 * forwards from its upstream socket. It records every datagram in both directions, and can switch
 * to a new upstream socket (a NAT rebinding, as the server sees it).
 */
export class Relay {
  readonly toServer: Buffer[] = [];
  readonly toClient: Buffer[] = [];
  client: RemoteInfo | null = null;
  private closed = false;
  /** While set, the client's datagrams leave from this socket instead (see spoofVia). */
  private spoofed: Socket | null = null;
  /** Bytes sent to the server from the spoofed address. */
  spoofedBytes = 0;
  private constructor(private readonly front: Socket, private upstream: Socket, private readonly serverPort: number) {}

  static async start(serverPort: number): Promise<Relay> {
    const relay = new Relay(await openLoopbackSocket(), await openLoopbackSocket(), serverPort);
    relay.front.on('message', (msg, rinfo) => {
      relay.client = rinfo;
      relay.toServer.push(msg);
      if (relay.spoofed) relay.spoofedBytes += msg.length;
      (relay.spoofed ?? relay.upstream).send(msg, serverPort, '127.0.0.1');
    });
    relay.listenUpstream(relay.upstream);
    return relay;
  }

  get port(): number {
    return this.front.address().port;
  }

  /** The address the server sees for the client. */
  get upstreamPort(): number {
    return this.upstream.address().port;
  }

  /** From now on forward from a fresh socket: the server sees the client at a new port. */
  async rebind(): Promise<void> {
    const old = this.upstream;
    this.upstream = await openLoopbackSocket();
    this.listenUpstream(this.upstream);
    await closeSocket(old);
  }

  /**
   * From now on the client's datagrams reach the server from `socket`'s address, which the relay
   * does not listen on: as a client forging a third party's source address would (null stops it).
   */
  spoofVia(socket: Socket | null): void {
    this.spoofed = socket;
  }

  /** Sends raw bytes to the server from the relay's current upstream socket. */
  injectToServer(datagram: Buffer): void {
    this.upstream.send(datagram, this.serverPort, '127.0.0.1');
  }

  /** Sends raw bytes to the client as if from the server. */
  injectToClient(datagram: Buffer): void {
    if (this.client) this.front.send(datagram, this.client.port, this.client.address);
  }

  /** Closes both sockets; closing again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeSocket(this.front);
    await closeSocket(this.upstream);
  }

  private listenUpstream(socket: Socket): void {
    socket.on('message', (msg) => {
      this.toClient.push(msg);
      if (this.client) this.front.send(msg, this.client.port, this.client.address);
    });
  }
}
