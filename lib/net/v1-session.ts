import { AEAD_OVERHEAD, MAX_DATAGRAM } from '../constants.js';
import type { CommEncryptor } from '../crypto/comm-encryptor.js';
import { InvalidInputError } from '../errors.js';
import { Session, SessionStateError, type PeerAddress, type RttStats, type SessionHost } from './session.js';
import type { SessionTimings } from './timings.js';

const NO_RTT: RttStats = Object.freeze({ last: NaN, min: NaN, max: NaN, smoothed: NaN, samples: 0 });

/**
 * A channel with a peer that speaks only the original protocol: one key for both directions,
 * random nonces, each datagram nonce || ciphertext || tag of a raw payload. It has no frames, so
 * no heartbeats, rotation, replay protection or close message; it ends when the peer goes quiet.
 */
export class V1Session extends Session {
  readonly version = 1 as const;
  readonly #encryptor: CommEncryptor;

  constructor(host: SessionHost, role: 'client' | 'server', remote: PeerAddress, encryptor: CommEncryptor,
    timings: SessionTimings, now: number) {
    super(host, role, remote, timings, now);
    this.#encryptor = encryptor;
  }

  get rtt(): RttStats {
    return NO_RTT;
  }

  send(payload: Uint8Array, channel = 0): void {
    if (this.closed) throw new SessionStateError('session is closed');
    if (channel !== 0) throw new SessionStateError('a version-1 peer has no channels');
    if (payload.length > MAX_DATAGRAM - AEAD_OVERHEAD) throw new InvalidInputError(`payload too large: ${payload.length} bytes`);
    this.host.transmit(this.#encryptor.encrypt(payload), this.remote);
  }

  /** Returns false, without counting a drop, when the datagram is not ours. */
  receive(datagram: Buffer, _from: PeerAddress, now: number): boolean {
    let payload: Buffer;
    try {
      payload = this.#encryptor.decrypt(datagram);
    } catch {
      return false;
    }
    this.heard(now);
    this.emit('message', payload, 0);
    return true;
  }

  ping(): Promise<number> {
    return Promise.reject(new SessionStateError('the peer speaks only protocol version 1, which has no heartbeats'));
  }

  protected notifyClose(): void {
    // The original protocol has no close message; the peer times the session out.
  }

  protected wipe(): void {
    this.#encryptor.destroy();
  }
}
