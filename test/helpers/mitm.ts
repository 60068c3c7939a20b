import type { RemoteInfo, Socket } from 'node:dgram';
import { CMD_CONNECT, CMD_CONNECTED, TOKEN_FIRST_BYTE } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { encodeHandshake, parseHandshake } from '../../lib/protocol/handshake.js';
import { closeSocket, openLoopbackSocket } from './udp.js';

/**
 * An on-path attacker on loopback that knows the original's public obfuscation key. It rewrites
 * the handshake both ways into the seed protocol (stripping the version fields), runs its own
 * X25519 exchange with each side, and then decrypts, records and re-encrypts the data both ways.
 * Against the seed mode this works; anything authenticated must defeat it. Datagrams it cannot
 * decrypt (another network key) it forwards untouched.
 */
export class DowngradeProxy {
  /** Plaintexts the attacker read, each direction. */
  readonly stolen: string[] = [];
  /** Handshakes it managed to rewrite. */
  rewritten = 0;
  private client: RemoteInfo | null = null;
  private readonly docrypt = new DoCrypt();
  private readonly towardClient = new CommEncryptor();
  private readonly towardServer = new CommEncryptor();
  private intercepting = false;

  private constructor(private readonly front: Socket, private readonly upstream: Socket, private readonly serverPort: number) {}

  static async start(serverPort: number): Promise<DowngradeProxy> {
    const proxy = new DowngradeProxy(await openLoopbackSocket(), await openLoopbackSocket(), serverPort);
    proxy.front.on('message', (msg, rinfo) => proxy.fromClient(msg, rinfo));
    proxy.upstream.on('message', (msg) => proxy.fromServer(msg));
    return proxy;
  }

  get port(): number {
    return this.front.address().port;
  }

  async close(): Promise<void> {
    await closeSocket(this.front);
    await closeSocket(this.upstream);
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    this.client = rinfo;
    if (msg[0] === TOKEN_FIRST_BYTE) {
      const parsed = this.open(msg, CMD_CONNECT);
      if (!parsed) return this.toServer(msg);
      // Replace the client's key with ours and drop every version-2 field.
      this.towardClient.deriveSharedSecret(parsed.pubkey);
      return this.toServer(Buffer.from(this.docrypt.fencrypt(encodeHandshake(CMD_CONNECT, this.towardServer.publicKey))));
    }
    this.relay(msg, this.towardClient, this.towardServer, (m) => this.toServer(m));
  }

  private fromServer(msg: Buffer): void {
    if (msg[0] === TOKEN_FIRST_BYTE) {
      const parsed = this.open(msg, CMD_CONNECTED);
      if (!parsed) return this.toClient(msg);
      this.towardServer.deriveSharedSecret(parsed.pubkey);
      this.intercepting = true;
      this.rewritten++;
      return this.toClient(Buffer.from(this.docrypt.fencrypt(encodeHandshake(CMD_CONNECTED, this.towardClient.publicKey))));
    }
    this.relay(msg, this.towardServer, this.towardClient, (m) => this.toClient(m));
  }

  /** Once intercepting: open with one side's key, keep a copy, seal with the other's. */
  private relay(msg: Buffer, from: CommEncryptor, to: CommEncryptor, forward: (msg: Buffer) => void): void {
    if (!this.intercepting) return forward(msg);
    try {
      const plaintext = from.decrypt(msg);
      this.stolen.push(plaintext.toString());
      forward(to.encrypt(plaintext));
    } catch {
      forward(msg);
    }
  }

  private open(msg: Buffer, cmd: typeof CMD_CONNECT | typeof CMD_CONNECTED): { pubkey: Uint8Array } | null {
    try {
      const parsed = parseHandshake(this.docrypt.fdecrypt(msg).plaintext, cmd);
      return parsed.ok ? parsed.message : null;
    } catch {
      return null;
    }
  }

  private toServer(msg: Buffer): void {
    this.upstream.send(msg, this.serverPort, '127.0.0.1');
  }

  private toClient(msg: Buffer): void {
    if (this.client) this.front.send(msg, this.client.port, this.client.address);
  }
}
