import type { Socket } from 'node:dgram';
import { CMD_CONNECTED, PROTOCOL_VERSION, SESSION_FRAME_PAYLOAD_BYTES, TOKEN_FIRST_BYTE } from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../../lib/crypto/docrypt.js';
import { getDefaultBackend } from '../../lib/crypto/select.js';
import { connect } from '../../lib/net/client.js';
import { TrafficKeys } from '../../lib/net/traffic-keys.js';
import { SecureSession } from '../../lib/net/secure-session.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import type { PeerAddress, Session } from '../../lib/net/session.js';
import { encodeFrame, Flag, type FrameHeader } from '../../lib/protocol/frame.js';
import { parseHandshake } from '../../lib/protocol/handshake.js';
import { complete } from '../../lib/net/handshake/key-agreement.js';
import { encodeInitiation, readCookieReply, readResponse, type Initiation } from '../../lib/protocol/handshake-v2.js';
import { Relay } from '../helpers/relay.js';
import { closeSocket, nextDatagram, openLoopbackSocket, pollUntil, sendTo } from '../helpers/udp.js';

/**
 * A version-2 client that does a real handshake with the server over its socket and then keeps
 * the session keys itself, so the fuzzer can seal frames of its choosing: authenticated packets
 * that reach the frame, heartbeat and control code behind the AEAD.
 */
export class Forger {
  /** Sealed datagrams delivered unmodified to the server (replaying one must be refused). */
  readonly delivered: Buffer[] = [];

  private constructor(
    readonly socket: Socket,
    readonly trafficKeys: TrafficKeys,
    /** The server's session for this client. */
    readonly serverSession: SecureSession,
    readonly address: PeerAddress,
  ) {}

  /** Handshakes with the server at `port` (answering a cookie if the server is under load). */
  static async open(server: BittrrtServer, port: number, attempts = 50): Promise<Forger> {
    const socket = await openLoopbackSocket();
    const docrypt = new DoCrypt();
    const ephemeral = new CommEncryptor();
    const init: Initiation = { version: PROTOCOL_VERSION, ephemeralPublic: ephemeral.publicKey, index: clientIndex() };
    try {
      for (let attempt = 0; attempt < attempts; attempt++) {
        const reply = nextDatagram(socket, 200);
        await sendTo(socket, Buffer.from(docrypt.fencrypt(encodeInitiation(init)), 'ascii'), port);
        const got = await reply;
        if (!got || got.msg[0] !== TOKEN_FIRST_BYTE) continue;
        const { plaintext } = docrypt.fdecrypt(got.msg);
        const cookie = readCookieReply(plaintext);
        if (cookie) {
          init.cookie = cookie;
          continue;
        }
        const parsed = parseHandshake(plaintext, CMD_CONNECTED);
        const response = parsed.ok ? readResponse(parsed.message) : null;
        const keys = response ? complete(init, ephemeral, response) : null;
        if (!response || !keys) throw new Error('the server answered the forger with something unexpected');
        const session = [...server.sessions()].find((s): s is SecureSession => s instanceof SecureSession && s.localIndex === response.index);
        if (!session) continue; // evicted already: try again
        ephemeral.destroy();
        const trafficKeys = new TrafficKeys(getDefaultBackend(), keys, init.index, response.index, Date.now());
        socket.on('message', () => {}); // the server's answers are not read
        const forger = new Forger(socket, trafficKeys, session, { address: '127.0.0.1', port: socket.address().port });
        // The first authenticated packet confirms the session (and is answered with an ack).
        const stamp = Buffer.alloc(SESSION_FRAME_PAYLOAD_BYTES);
        stamp.writeDoubleBE(0);
        server.receive(forger.seal(encodeFrame({ flags: Flag.HEARTBEAT, channel: 0, sequence: 0n, offset: 0n }, stamp)), forger.address);
        if (!session.confirmed) throw new Error('the forger could not confirm its session');
        return forger;
      }
      throw new Error(`the forger got no usable answer in ${attempts} attempts`);
    } catch (err) {
      ephemeral.destroy();
      await closeSocket(socket);
      throw err;
    }
  }

  get alive(): boolean {
    return !this.serverSession.closed;
  }

  /** The server's receiver index for this session (the first 4 bytes of every packet we seal). */
  get serverIndex(): number {
    return this.trafficKeys.remoteIndex;
  }

  /** Seals `plaintext` (a frame, or anything) under the session keys with the next counter. */
  seal(plaintext: Uint8Array): Buffer {
    const out = Buffer.alloc(plaintext.length + 28);
    if (this.trafficKeys.sealInto(out, plaintext) < 0) throw new Error('forger counter exhausted');
    return out;
  }

  remember(datagram: Buffer): void {
    this.delivered.push(datagram);
    if (this.delivered.length > 256) this.delivered.splice(0, 128);
  }

  async close(): Promise<void> {
    this.trafficKeys.wipe();
    await closeSocket(this.socket);
  }
}

/** A client receiver index as the library picks them: never starting with a token's first byte. */
function clientIndex(): number {
  for (;;) {
    const index = Math.floor(Math.random() * 2 ** 32);
    if (index >>> 24 !== TOKEN_FIRST_BYTE) return index;
  }
}

/** A library client (version 2 or 1) talking to the server through a relay that records its packets. */
export class LiveClient {
  private constructor(readonly relay: Relay, readonly session: Session) {}

  static async open(port: number, version: 1 | 2): Promise<LiveClient> {
    const relay = await Relay.start(port);
    try {
      const session = await connect({ host: '127.0.0.1', port: relay.port, protocolVersion: version, attempts: 20, delayMs: 50 });
      return new LiveClient(relay, session);
    } catch (err) {
      await relay.close();
      throw err;
    }
  }

  get alive(): boolean {
    return !this.session.closed;
  }

  /** The address the server sees this client at. */
  get address(): PeerAddress {
    return { address: '127.0.0.1', port: this.relay.upstreamPort };
  }

  /** Everything the relay saw, both ways. */
  packets(): Buffer[] {
    return [...this.relay.toServer, ...this.relay.toClient];
  }

  /** Sends a little traffic (and for version 2 a ping), so new real packets are captured; waits for them to arrive. */
  async exercise(n: number): Promise<void> {
    if (!this.alive) return;
    const before = this.relay.toServer.length;
    this.session.send(Buffer.from(`live traffic ${n}`), this.session.version === 2 ? n % 5 : 0);
    if (this.session.version === 2 && n % 4 === 0) await this.session.ping(300).catch(() => undefined);
    await pollUntil(() => this.relay.toServer.length > before, 200);
    // Bounded memory: keep the handshake and the latest packets.
    for (const list of [this.relay.toServer, this.relay.toClient]) if (list.length > 200) list.splice(2, list.length - 100);
  }

  async close(): Promise<void> {
    this.session.close();
    await new Promise((resolve) => setImmediate(resolve));
    await this.relay.close();
  }
}

/** A frame header and body for the forger to seal; `cut` shortens the plaintext below a header. */
export interface FrameSpec {
  header: FrameHeader;
  body: Uint8Array;
  cut: number | null;
}

export function framePlaintext(spec: FrameSpec): Buffer {
  const frame = encodeFrame(spec.header, spec.body);
  return spec.cut === null ? frame : frame.subarray(0, spec.cut % 20);
}
