import { readU32 } from '../bytes.js';
import { REKEY_MIN_INTERVAL_MS, REKEY_PAYLOAD_BYTES, X25519_KEY_BYTES } from '../constants.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { X25519KeyPair } from '../crypto/x25519-key-pair.js';
import type { DropReason } from './counters.js';
import { rotationKeys } from './handshake/key-agreement.js';
import { TrafficKeys } from './traffic-keys.js';
import type { SessionTimings } from './timings.js';

/** What a key ring needs of its session's host; `Owner` is the session it registers traffic keys for. */
export interface KeyRingHost<Owner> {
  readonly backend: CryptoBackend;
  /** The network key, mixed into every rotation when set. */
  readonly psk: Uint8Array | undefined;
  /** A fresh receiver index, unused by any live traffic keys of this host. */
  allocateIndex(): number;
  /** Routes datagrams carrying `trafficKeys`'s receiver index to `owner`. */
  register(trafficKeys: TrafficKeys, owner: Owner): void;
  unregister(trafficKeys: TrafficKeys, owner: Owner): void;
}

/** The client's half-done rotation: our new ephemeral key and index, until the server answers. */
interface RekeyRequest {
  ephemeral: X25519KeyPair;
  localIndex: number;
  lastSent: number;
}

/** The server's answer to the latest rotation request, kept to answer its retransmissions. */
interface RekeyAnswer {
  peerPublicKey: Buffer;
  response: Buffer;
}

/**
 * Everything a ring holds besides its current keys, made at its first rotation: a server holds
 * thousands of idle sessions that never rotate, and each of these fields would cost every one of
 * them 8 bytes.
 */
interface Rotation {
  previous: TrafficKeys | null;
  previousExpires: number;
  next: TrafficKeys | null;
  request: RekeyRequest | null;
  answer: RekeyAnswer | null;
  /** Server: when the last rotation request was worked on (an X25519, whether it succeeded or not). */
  workedAt: number;
}

const noRotationYet = (): Rotation => ({ previous: null, previousExpires: 0, next: null, request: null, answer: null, workedAt: -Infinity });

type RingTimings = Pick<SessionTimings, 'rejectAfterMessages' | 'previousKeysGraceMs' | 'rekeyAfterMs' | 'rekeyAfterMessages' | 'rekeyRetryMs'>;

/**
 * One session's traffic keys, as wireguard-go's Keypairs: the current one (what we send under), the
 * previous one (still opens late packets for a grace period) and, on the server between its
 * answer and the client's first packet under them, the next one. And the rotation between them:
 * the client sends REKEY_INIT (new ephemeral key, new index) under the current keys; the server
 * derives the next traffic keys (rotationKeys, the handshake's key agreement with the current keys'
 * chain secret mixed in) and answers REKEY_RESPONSE; the client switches at once; the server
 * switches when a packet arrives under the next keys.
 *
 * The ring decides and derives; its session sends what it returns and tells its listeners.
 * Its helpers are TypeScript-private, not #private: a #private method gives every instance a
 * field of its own (V8's private brand), 8 bytes on each of a server's idle sessions.
 */
export class KeyRing<Owner> {
  readonly #host: KeyRingHost<Owner>;
  readonly #owner: Owner;
  readonly #timings: RingTimings;
  #current: TrafficKeys;
  #rotation: Rotation | null = null;

  constructor(host: KeyRingHost<Owner>, owner: Owner, current: TrafficKeys, timings: RingTimings) {
    this.#host = host;
    this.#owner = owner;
    this.#timings = timings;
    this.#current = current;
    host.register(current, owner);
  }

  get current(): TrafficKeys {
    return this.#current;
  }

  /** The live traffic keys with receiver index `index`. */
  at(index: number): TrafficKeys | null {
    if (this.#current.localIndex === index) return this.#current;
    const rotation = this.#rotation;
    if (rotation === null) return null;
    if (rotation.next?.localIndex === index) return rotation.next;
    if (rotation.previous?.localIndex === index) return rotation.previous;
    return null;
  }

  isNext(trafficKeys: TrafficKeys): boolean {
    return trafficKeys === this.#rotation?.next;
  }

  /* ---------------- client ---------------- */

  /** Client: starts a rotation and returns the REKEY_INIT payload; null while one is under way. */
  startRotation(now: number): Buffer | null {
    const rotation = (this.#rotation ??= noRotationYet());
    if (rotation.request) return null;
    const ephemeral = new X25519KeyPair({ backend: this.#host.backend });
    rotation.request = { ephemeral, localIndex: this.#host.allocateIndex(), lastSent: now };
    return requestPayload(rotation.request, now);
  }

  /**
   * Client, on its timer: the REKEY_INIT to send again (unanswered for rekeyRetryMs), or to start
   * (the current keys are old or used enough); null if nothing is due.
   */
  rotationDue(now: number): Buffer | null {
    const request = this.#rotation?.request;
    if (request) return now - request.lastSent >= this.#timings.rekeyRetryMs ? requestPayload(request, now) : null;
    const current = this.#current;
    const due = now - current.createdAt >= this.#timings.rekeyAfterMs || current.sent >= this.#timings.rekeyAfterMessages;
    return due ? this.startRotation(now) : null;
  }

  /**
   * Client: the server's REKEY_RESPONSE. `rotated`: the new keys are current; `stale`: no
   * rotation was waiting (a duplicate answer); otherwise the drop reason.
   */
  complete(body: Buffer, now: number): 'rotated' | 'stale' | DropReason {
    const rotation = this.#rotation;
    const request = rotation?.request;
    if (!rotation || !request) return 'stale';
    let keys;
    try {
      keys = rotationKeys(request.ephemeral, body.subarray(0, X25519_KEY_BYTES), 'initiator', this.#current.chain, this.#host.psk);
    } catch {
      return 'low-order';
    }
    const next = new TrafficKeys(this.#host.backend, keys, request.localIndex, readU32(body, X25519_KEY_BYTES), now,
      this.#timings.rejectAfterMessages);
    request.ephemeral.destroy();
    rotation.request = null;
    this.#host.register(next, this.#owner);
    this.rotateTo(rotation, next, now);
    return 'rotated';
  }

  /* ---------------- server ---------------- */

  /**
   * Server: the REKEY_RESPONSE payload for a REKEY_INIT (the same one again for a retransmission),
   * or the drop reason. Each new exchange costs an X25519 on the socket thread, so a session gets
   * at most one per REKEY_MIN_INTERVAL_MS, and none while the last one is still unconfirmed (an
   * honest client never starts another before switching, and its switch confirms the pending keys).
   */
  answer(body: Buffer, now: number): Buffer | DropReason {
    const peerPublicKey = body.subarray(0, X25519_KEY_BYTES);
    const rotation = (this.#rotation ??= noRotationYet());
    const last = rotation.answer;
    if (last?.peerPublicKey.equals(peerPublicKey)) return last.response;
    if (rotation.next !== null || now - rotation.workedAt < REKEY_MIN_INTERVAL_MS) return 'rekey-limit';
    // Counted before the work: a low-order key fails only after its X25519, and must not be free.
    rotation.workedAt = now;
    const ephemeral = new X25519KeyPair({ backend: this.#host.backend });
    try {
      const keys = rotationKeys(ephemeral, peerPublicKey, 'responder', this.#current.chain, this.#host.psk);
      const next = new TrafficKeys(this.#host.backend, keys, this.#host.allocateIndex(), readU32(body, X25519_KEY_BYTES), now,
        this.#timings.rejectAfterMessages);
      rotation.next = next;
      this.#host.register(next, this.#owner);
      const response = rekeyPayload(ephemeral.publicKey, next.localIndex);
      rotation.answer = { peerPublicKey: Buffer.from(peerPublicKey), response };
      return response;
    } catch {
      return 'low-order';
    } finally {
      ephemeral.destroy();
    }
  }

  /** Server: the client used the next keys, so it has them; they become current. */
  confirmNext(now: number): void {
    const rotation = this.#rotation!;
    const next = rotation.next!;
    rotation.next = null;
    // The answer stays: a late copy of the request gets the same answer, not a new exchange.
    this.rotateTo(rotation, next, now);
  }

  /* ---------------- both ---------------- */

  private rotateTo(rotation: Rotation, trafficKeys: TrafficKeys, now: number): void {
    if (rotation.previous) this.retire(rotation.previous);
    rotation.previous = this.#current;
    rotation.previousExpires = now + this.#timings.previousKeysGraceMs;
    this.#current = trafficKeys;
  }

  /** Forgets the previous keys once their grace period is over. */
  expirePrevious(now: number): void {
    const rotation = this.#rotation;
    if (rotation?.previous && now >= rotation.previousExpires) {
      this.retire(rotation.previous);
      rotation.previous = null;
    }
  }

  private retire(trafficKeys: TrafficKeys): void {
    this.#host.unregister(trafficKeys, this.#owner);
    trafficKeys.wipe();
  }

  /** Wipes every key and a half-done rotation's ephemeral key. */
  wipe(): void {
    this.retire(this.#current);
    const rotation = this.#rotation;
    if (rotation === null) return;
    for (const trafficKeys of [rotation.previous, rotation.next]) if (trafficKeys) this.retire(trafficKeys);
    rotation.previous = null;
    rotation.next = null;
    rotation.request?.ephemeral.destroy();
    rotation.request = null;
  }
}

function requestPayload(request: RekeyRequest, now: number): Buffer {
  request.lastSent = now;
  return rekeyPayload(request.ephemeral.publicKey, request.localIndex);
}

function rekeyPayload(publicKey: Uint8Array, index: number): Buffer {
  const payload = Buffer.allocUnsafe(REKEY_PAYLOAD_BYTES);
  payload.set(publicKey, 0);
  payload.writeUInt32BE(index, X25519_KEY_BYTES);
  return payload;
}
