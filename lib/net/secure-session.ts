import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  AEAD_NONCE_BYTES, AEAD_OVERHEAD, FRAME_HEADER_BYTES, HALF_OPEN_TIMEOUT_MS, MAX_CHANNEL, MAX_DATAGRAM, MAX_PAYLOAD, PATH_AMPLIFICATION_LIMIT, PATH_CHALLENGE_BYTES,
  PATH_CHALLENGE_RETRY_MS, REKEY_PAYLOAD_BYTES, SESSION_FRAME_PAYLOAD_BYTES,
} from '../constants.js';
import { BittrrtError, InvalidInputError } from '../errors.js';
import {
  Control, Flag, frameChannel, frameFlags, frameHeaderBytes, frameSafeOffset, frameSafeSequence, readFrameHeader, shortFrameOffset, shortFramePacket,
  SHORT_DATA_FLAGS, writeFrameHeader, type FrameHeader, type FrameHeaderInput,
} from '../protocol/frame.js';
import { readU32 } from '../bytes.js';
import { KeyRing } from './key-ring.js';
import { type TrafficKeys, OPEN_BAD_AUTH, OPEN_REPLAY } from './traffic-keys.js';
import type { AeadKey, DatagramOpen } from '../crypto/aead-key.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { Session, SessionStateError, type CloseReason, type FrameHandler, type PeerAddress, type RttStats, type SessionHost } from './session.js';
import { allocFromSlab } from './slab.js';
import type { SessionTimings } from './timings.js';
import { clock } from '../time.js';

/** What a version-2 session needs from its owner, beyond what every session does. */
export interface SecureSessionHost extends SessionHost {
  readonly backend: CryptoBackend;
  /** The network key, mixed into every key derivation when set. */
  readonly psk: Uint8Array | undefined;
  /** A fresh receiver index, unused by any live traffic keys of this host. */
  allocateIndex(): number;
  /** Routes datagrams carrying `trafficKeys`'s receiver index to `session`. */
  register(trafficKeys: TrafficKeys, session: SecureSession): void;
  unregister(trafficKeys: TrafficKeys, session: SecureSession): void;
  /** Called after each key rotation, before the session's `rekey` event. */
  sessionRekeyed(session: Session): void;
  /** Called when the peer's new address answered a path challenge, before the session's `roam` event (optional). */
  sessionRoamed?(session: Session, from: PeerAddress): void;
  /**
   * Sends a datagram whose nonce and plaintext are in place, to be sealed under `key` with the
   * other datagrams of this event-loop turn (the native datagram path); absent, sessions seal each
   * datagram themselves and use `transmit`.
   */
  readonly transmitSealing?: (datagram: Buffer, key: AeadKey, to: PeerAddress) => void;
  /** Seals and sends what transmitSealing queued, now (before keys are wiped). */
  flushSealing?(): void;
  /** The AEAD that opens received datagrams when not the backend's (the native datagram path's). */
  readonly openDatagram?: DatagramOpen;
  /** Makes the handler of a session's first UNLOSSY frame, if this host serves that layer. */
  frameHandlerFor?(session: SecureSession): FrameHandler | undefined;
}

/**
 * A layer a server offers above its version-2 sessions (file transfer, lib/transfer/file-service.ts):
 * asked for a session's handler when the first UNLOSSY frame of that session arrives, so the
 * many idle sessions of a server pay nothing for it. Undefined refuses (the frame is dropped).
 */
export interface SessionService {
  handlerFor(session: SecureSession): FrameHandler | undefined;
}

/** A ping got no answer in time. */
export class PingTimeoutError extends BittrrtError {
  constructor(timeoutMs: number) {
    super('ERR_PING_TIMEOUT', `no heartbeat answer within ${timeoutMs} ms`);
  }
}

/** Frames are built here and sealed straight into the outgoing datagram (single-threaded). */
const frameScratch = Buffer.allocUnsafe(FRAME_HEADER_BYTES + MAX_PAYLOAD);

interface PendingPing {
  resolve(ms: number): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A new address an authenticated packet came from, not yet validated. A packet that
 * authenticates proves the sender holds the keys, not that it receives at its source address: a
 * peer can forge that address and aim our traffic at a third party. So the address gets a challenge, at most PATH_AMPLIFICATION_LIMIT
 * times the bytes that came from it, and our traffic moves there only once the challenge is
 * echoed (RFC 9000 §8.2, §9); until then it keeps going to the validated address.
 */
interface PathCandidate {
  readonly address: PeerAddress;
  readonly challenge: Buffer;
  bytesIn: number;
  bytesOut: number;
  lastSent: number;
}

/** A path challenge's datagram, as it leaves: nonce, frame header, padded challenge, tag. */
const CHALLENGE_DATAGRAM_BYTES = AEAD_OVERHEAD + FRAME_HEADER_BYTES + SESSION_FRAME_PAYLOAD_BYTES;

/**
 * A version-2 session: per-direction keys, counter nonces and a replay window (TrafficKeys), frames
 * in the original's 20-byte header, heartbeats with RTT, key rotation and an explicit close.
 *
 * Rotation, as WireGuard, is the key ring's (key-ring.ts): this session sends the REKEY_INIT and
 * REKEY_RESPONSE it returns, confirms a client's switch with a heartbeat, and tells its host and
 * listeners. Each side keeps the previous keys for a grace period, so nothing in flight is lost.
 */
export class SecureSession extends Session {
  readonly version = 2 as const;
  readonly #keys: KeyRing<SecureSession>;
  #pathCandidate: PathCandidate | null = null;
  #dataSequence = 0n;
  #heartbeatSequence = 0n;
  #lastHeartbeatSent: number;
  /** Outstanding ping() calls by heartbeat number; made on first use (most sessions never ping). */
  #pings: Map<bigint, PendingPing> | null = null;
  /** Made at the first RTT sample: a server's idle sessions never take one. */
  #rtt: RttStats | null = null;
  /**
   * Receives UNLOSSY frames and hears the close (the layer above: file transfer); set by whoever
   * attaches one, or made by the host's SessionService on demand.
   */
  frameHandler: FrameHandler | null = null;
  /**
   * The peer's long-term X25519 identity, as the handshake proved it: for a client, the server's
   * key (its confirmation MAC needed the secret); for a server, the client's `cid` (its keys needed
   * the secret, so once `confirmed` the client has proven it), or null for an anonymous client.
   */
  readonly peerIdentity: Uint8Array | null;
  protected declare readonly host: SecureSessionHost;

  constructor(host: SecureSessionHost, role: 'client' | 'server', remote: PeerAddress, trafficKeys: TrafficKeys,
    timings: SessionTimings, now: number, peerIdentity: Uint8Array | null = null) {
    super(host, role, remote, timings, now);
    this.peerIdentity = peerIdentity;
    this.#keys = new KeyRing(host, this, trafficKeys, timings);
    this.#lastHeartbeatSent = now;
    // The client speaks first, at once: its first packet proves to the server it holds the keys.
    if (role === 'client') this.sendHeartbeat(now);
  }

  get rtt(): RttStats {
    return this.#rtt ? { ...this.#rtt } : { last: NaN, min: NaN, max: NaN, smoothed: NaN, samples: 0 };
  }

  /** The receiver index peers use for this session's current keys. */
  get localIndex(): number {
    return this.#keys.current.localIndex;
  }

  /* ---------------- send path ---------------- */

  send(payload: Uint8Array, channel = 0): void {
    if (this.closed) throw new SessionStateError('session is closed');
    if (payload.length > MAX_PAYLOAD) throw new InvalidInputError(`payload too large: ${payload.length} bytes, at most ${MAX_PAYLOAD}`);
    if (!Number.isInteger(channel) || channel < 0 || channel > MAX_CHANNEL) throw new InvalidInputError(`channel must be 0-${MAX_CHANNEL}`);
    this.sendFrame({ flags: Flag.DATA | Flag.BINARY, channel, sequence: this.#dataSequence++, offset: 0n }, payload);
  }

  ping(timeoutMs = this.timings.heartbeatRate * 2): Promise<number> {
    if (this.closed) return Promise.reject(new SessionStateError('session is closed'));
    const sequence = this.sendHeartbeat(clock());
    return new Promise((resolve, reject) => {
      const pings = (this.#pings ??= new Map());
      const timer = setTimeout(() => {
        pings.delete(sequence);
        reject(new PingTimeoutError(timeoutMs));
      }, timeoutMs);
      pings.set(sequence, { resolve, reject, timer });
    });
  }

  private sendHeartbeat(now: number): bigint {
    const sequence = this.#heartbeatSequence++;
    const stamp = Buffer.alloc(SESSION_FRAME_PAYLOAD_BYTES);
    stamp.writeDoubleBE(clock());
    this.#lastHeartbeatSent = now;
    this.sendFrame({ flags: Flag.HEARTBEAT, channel: 0, sequence, offset: 0n }, stamp);
    return sequence;
  }

  /** A control frame, its payload padded to SESSION_FRAME_PAYLOAD_BYTES like every session frame. */
  private sendControl(type: number, payload?: Uint8Array, to: PeerAddress = this.remote): void {
    const padded = Buffer.alloc(SESSION_FRAME_PAYLOAD_BYTES);
    if (payload) padded.set(payload);
    this.sendFrame({ flags: Flag.CONTROL, channel: type, sequence: 0n, offset: 0n }, padded, to);
  }

  /**
   * Sends one frame of a layer above the session (the reliable transfer layer): it must carry
   * the UNLOSSY flag, and neither CONTROL nor HEARTBEAT, which belong to the session. Returns
   * false if the session is closed or has just closed because its counter is spent.
   */
  sendUnlossy(header: FrameHeaderInput, payload?: Uint8Array): boolean {
    if (!(header.flags & Flag.UNLOSSY) || header.flags & (Flag.CONTROL | Flag.HEARTBEAT)) {
      throw new InvalidInputError('only UNLOSSY frames without CONTROL or HEARTBEAT may be sent by a layer above the session');
    }
    const most = MAX_DATAGRAM - AEAD_OVERHEAD - frameHeaderBytes(header.flags);
    if (payload && payload.length > most) throw new InvalidInputError(`payload too large: ${payload.length} bytes, at most ${most}`);
    if (this.closed) return false;
    this.sendFrame(header, payload);
    return !this.closed;
  }

  /**
   * Frames and seals under the current keys; the one place datagrams leave a session. They go to
   * the validated address, except a path challenge.
   */
  private sendFrame(header: FrameHeaderInput, payload?: Uint8Array, to: PeerAddress = this.remote): void {
    if (this.host.transmitSealing) return this.sendFrameSealingLater(header, payload, to);
    let length = writeFrameHeader(frameScratch, header);
    if (payload) {
      frameScratch.set(payload, length);
      length += payload.length;
    }
    const datagram = allocFromSlab(length + AEAD_OVERHEAD);
    if (this.#keys.current.sealInto(datagram, frameScratch.subarray(0, length)) < 0) {
      // The counter is spent: the nonce would repeat. This cannot happen with rotation working.
      this.end('exhausted');
      return;
    }
    this.host.transmit(datagram, to);
  }

  /**
   * The native datagram path's send: the frame is written straight into the datagram after its
   * nonce, and the socket seals the turn's datagrams in place in one call before they leave.
   */
  private sendFrameSealingLater(header: FrameHeaderInput, payload: Uint8Array | undefined, to: PeerAddress): void {
    const headerBytes = frameHeaderBytes(header.flags);
    const datagram = allocFromSlab(headerBytes + (payload?.length ?? 0) + AEAD_OVERHEAD);
    writeFrameHeader(datagram, header, AEAD_NONCE_BYTES);
    if (payload) datagram.set(payload, AEAD_NONCE_BYTES + headerBytes);
    const key = this.#keys.current.nonceInto(datagram);
    if (key === null) {
      this.end('exhausted');
      return;
    }
    this.host.transmitSealing!(datagram, key, to);
  }

  /* ---------------- receive path ---------------- */

  /** `index` is the datagram's receiver index, when the caller has read it already (the table has). */
  receive(datagram: Buffer, from: PeerAddress, now: number, index = readU32(datagram, 0)): void {
    const trafficKeys = this.#keys.at(index);
    if (trafficKeys === null) return this.host.counters.drop('unknown-session');
    // Past their age limit keys open nothing (the next tick closes the session).
    if (now - trafficKeys.createdAt >= this.timings.rejectAfterMs) return this.host.counters.drop('expired-keys');
    // Not from the slab: a transfer may hold a body for a while, which would pin a whole slab.
    const plaintext = Buffer.allocUnsafe(datagram.length - AEAD_OVERHEAD);
    const length = trafficKeys.openInto(plaintext, datagram, this.host.openDatagram);
    if (length === OPEN_REPLAY) return this.host.counters.drop('replay');
    if (length === OPEN_BAD_AUTH) return this.host.counters.drop('bad-auth');
    // The flags say which header the frame has (a short data frame's is its own); an empty one has none.
    const flags = length > 0 ? frameFlags(plaintext) : -1;
    const headerBytes = frameHeaderBytes(flags);
    if (length < headerBytes) return this.host.counters.drop('bad-frame');

    this.heard(now);
    // Roaming: a new address is challenged, and adopted once it answers (see PathCandidate).
    if (from.address !== this.remote.address || from.port !== this.remote.port) this.challengePath(from, datagram.length, now);
    if (this.#keys.isNext(trafficKeys)) {
      this.#keys.confirmNext(now);
      this.rotated();
    }

    const body = plaintext.subarray(headerBytes, length);
    // The transfer layer's frames (the bulk of a transfer) skip the bigint header.
    if (flags === SHORT_DATA_FLAGS) return this.receiveUnlossy(flags, shortFramePacket(plaintext), shortFrameOffset(plaintext), plaintext, body);
    if ((flags & (Flag.UNLOSSY | Flag.CONTROL | Flag.HEARTBEAT)) === Flag.UNLOSSY) {
      return this.receiveUnlossy(flags, frameSafeSequence(plaintext), frameSafeOffset(plaintext), plaintext, body);
    }
    const header = readFrameHeader(plaintext) as FrameHeader;
    if (flags & Flag.CONTROL) return this.receiveControl(header.channel, body, now);
    if (flags & Flag.HEARTBEAT) return this.receiveHeartbeat(header, body);
    if (flags & Flag.DATA) {
      this.emit('message', body, header.channel);
      return;
    }
    this.host.counters.drop('bad-frame');
  }

  /**
   * Frames of the layer above (file transfer): its handler is made on first use, so idle sessions
   * pay one field. A short data frame's sequence is the packet number's low 32 bits.
   */
  private receiveUnlossy(flags: number, sequence: number, offset: number, frame: Buffer, body: Buffer): void {
    const handler = this.frameHandler ?? this.host.frameHandlerFor?.(this);
    if (!handler || sequence < 0 || offset < 0) return this.host.counters.drop('bad-frame');
    this.frameHandler = handler;
    handler.receiveFrame(flags, frameChannel(frame), sequence, offset, body);
  }

  private receiveHeartbeat(header: FrameHeader, body: Buffer): void {
    if (body.length !== SESSION_FRAME_PAYLOAD_BYTES) return this.host.counters.drop('bad-frame');
    if (!(header.flags & Flag.ACK)) {
      this.sendFrame({ flags: Flag.HEARTBEAT | Flag.ACK, channel: 0, sequence: header.sequence, offset: 0n }, body);
      return;
    }
    const rtt = clock() - body.readDoubleBE(0);
    if (!(rtt >= 0 && rtt < this.timings.heartbeatRate * this.timings.staleHeartbeats)) return this.host.counters.drop('bad-frame');
    this.recordRtt(rtt);
    const ping = this.#pings?.get(header.sequence);
    if (ping) {
      this.#pings!.delete(header.sequence);
      clearTimeout(ping.timer);
      ping.resolve(rtt);
    }
    this.emit('rtt', rtt);
  }

  private recordRtt(rtt: number): void {
    const s = this.#rtt;
    if (s === null) {
      this.#rtt = { last: rtt, min: rtt, max: rtt, smoothed: rtt, samples: 1 };
      return;
    }
    s.last = rtt;
    s.min = Math.min(s.min, rtt);
    s.max = Math.max(s.max, rtt);
    s.smoothed += (rtt - s.smoothed) / 8;
    s.samples++;
  }

  private receiveControl(type: number, body: Buffer, now: number): void {
    switch (type) {
      case Control.CLOSE:
        return this.end('peer');
      case Control.REKEY_INIT:
        if (this.role !== 'server' || body.length !== SESSION_FRAME_PAYLOAD_BYTES) return this.host.counters.drop('bad-frame');
        return this.answerRekey(body.subarray(0, REKEY_PAYLOAD_BYTES), now);
      case Control.REKEY_RESPONSE:
        if (this.role !== 'client' || body.length !== SESSION_FRAME_PAYLOAD_BYTES) return this.host.counters.drop('bad-frame');
        return this.completeRekey(body.subarray(0, REKEY_PAYLOAD_BYTES), now);
      case Control.PATH_CHALLENGE:
        // Echoed to the validated address: never more than the peer sent, never to a stranger.
        if (body.length !== SESSION_FRAME_PAYLOAD_BYTES) return this.host.counters.drop('bad-frame');
        return this.sendControl(Control.PATH_RESPONSE, body.subarray(0, PATH_CHALLENGE_BYTES));
      case Control.PATH_RESPONSE:
        if (body.length !== SESSION_FRAME_PAYLOAD_BYTES) return this.host.counters.drop('bad-frame');
        return this.completePathChallenge(body.subarray(0, PATH_CHALLENGE_BYTES));
      default:
        return this.host.counters.drop('bad-frame');
    }
  }

  /* ---------------- roaming ---------------- */

  /** An authenticated packet of `bytes` came from `from`, which is not the validated address. */
  private challengePath(from: PeerAddress, bytes: number, now: number): void {
    let candidate = this.#pathCandidate;
    if (candidate === null || candidate.address.address !== from.address || candidate.address.port !== from.port) {
      // One candidate at a time: a peer that moves again starts over (its old challenge is void).
      candidate = { address: { address: from.address, port: from.port }, challenge: randomBytes(PATH_CHALLENGE_BYTES), bytesIn: 0, bytesOut: 0, lastSent: -Infinity };
      this.#pathCandidate = candidate;
    }
    candidate.bytesIn += bytes;
    if (now - candidate.lastSent < PATH_CHALLENGE_RETRY_MS) return;
    if (candidate.bytesOut + CHALLENGE_DATAGRAM_BYTES > PATH_AMPLIFICATION_LIMIT * candidate.bytesIn) return;
    candidate.lastSent = now;
    candidate.bytesOut += CHALLENGE_DATAGRAM_BYTES;
    this.host.counters.pathChallenges++;
    this.sendControl(Control.PATH_CHALLENGE, candidate.challenge, candidate.address);
  }

  /** The peer echoed a challenge: it receives at the candidate address, so our traffic moves there. */
  private completePathChallenge(echo: Buffer): void {
    const candidate = this.#pathCandidate;
    if (candidate === null || !timingSafeEqual(echo, candidate.challenge)) return this.host.counters.drop('bad-path-response');
    this.#pathCandidate = null;
    const from = this.remote;
    this.remote = candidate.address;
    this.host.sessionRoamed?.(this, from);
    this.emit('roam', candidate.address);
  }

  /* ---------------- key rotation ---------------- */

  /** Client: start a rotation (the tick does it on schedule; tests and callers may force one). */
  rekey(now = clock()): void {
    if (this.closed || this.role !== 'client') return;
    const request = this.#keys.startRotation(now);
    if (request) this.sendControl(Control.REKEY_INIT, request);
  }

  /** Server: answer a REKEY_INIT (again, to a retransmission), or count why not. */
  private answerRekey(body: Buffer, now: number): void {
    const answer = this.#keys.answer(body, now);
    if (typeof answer === 'string') return this.host.counters.drop(answer);
    this.sendControl(Control.REKEY_RESPONSE, answer);
  }

  /** Client: the server answered; switch to the new keys and confirm with a heartbeat. */
  private completeRekey(body: Buffer, now: number): void {
    const outcome = this.#keys.complete(body, now);
    if (outcome === 'stale') return; // a duplicate answer to a rotation already completed
    if (outcome !== 'rotated') return this.host.counters.drop(outcome);
    this.rotated();
    this.sendHeartbeat(now);
  }

  /** New keys are current: count it and tell the host and listeners. */
  private rotated(): void {
    this.host.counters.rekeys++;
    this.host.sessionRekeyed(this);
    this.emit('rekey');
  }

  /* ---------------- timers ---------------- */

  override tick(now: number): void {
    // A peer that completed the handshake must soon prove it holds the keys, or its half-open session is freed.
    if (!this.confirmed && now - this.lastReceived >= HALF_OPEN_TIMEOUT_MS) this.end('timeout');
    super.tick(now);
    if (!this.closed && now - this.#keys.current.createdAt >= this.timings.rejectAfterMs) return this.close('expired');
    // A server says nothing to an address that has not proven itself: no heartbeats to spoofed sources.
    if (this.closed || (this.role === 'server' && !this.confirmed)) return;
    this.#keys.expirePrevious(now);
    if (this.role === 'client') {
      const request = this.#keys.rotationDue(now);
      if (request) this.sendControl(Control.REKEY_INIT, request);
    }
    if (now - this.#lastHeartbeatSent >= this.timings.heartbeatRate) this.sendHeartbeat(now);
  }

  protected notifyClose(): void {
    if (this.role === 'client' || this.confirmed) this.sendControl(Control.CLOSE);
  }

  protected override ended(reason: CloseReason): void {
    this.frameHandler?.sessionClosed?.(reason);
  }

  protected wipe(): void {
    // Datagrams waiting to be sealed (the close message among them) are sealed before their keys go.
    this.host.flushSealing?.();
    this.#keys.wipe();
    for (const ping of this.#pings?.values() ?? []) {
      clearTimeout(ping.timer);
      ping.reject(new SessionStateError('session closed'));
    }
    this.#pings = null;
  }
}
