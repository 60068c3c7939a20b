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
 */
export class KeyRing<Owner> {
  readonly #host: KeyRingHost<Owner>;
  readonly #owner: Owner;
  readonly #timings: RingTimings;
  #current: TrafficKeys;
  #previous: TrafficKeys | null = null;
  #previousExpires = 0;
  #next: TrafficKeys | null = null;
  #request: RekeyRequest | null = null;
  #answer: RekeyAnswer | null = null;
  /** Server: when the last rotation request was worked on (an X25519, whether it succeeded or not). */
  #workedAt = -Infinity;

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
    if (this.#next?.localIndex === index) return this.#next;
    if (this.#previous?.localIndex === index) return this.#previous;
    return null;
  }

  isNext(trafficKeys: TrafficKeys): boolean {
    return trafficKeys === this.#next;
  }

  /* ---------------- client ---------------- */

  /** Client: starts a rotation and returns the REKEY_INIT payload; null while one is under way. */
  startRotation(now: number): Buffer | null {
    if (this.#request) return null;
    const ephemeral = new X25519KeyPair({ backend: this.#host.backend });
    this.#request = { ephemeral, localIndex: this.#host.allocateIndex(), lastSent: now };
    return this.#requestPayload(now);
  }

  /**
   * Client, on its timer: the REKEY_INIT to send again (unanswered for rekeyRetryMs), or to start
   * (the current keys are old or used enough); null if nothing is due.
   */
  rotationDue(now: number): Buffer | null {
    const request = this.#request;
    if (request) return now - request.lastSent >= this.#timings.rekeyRetryMs ? this.#requestPayload(now) : null;
    const current = this.#current;
    const due = now - current.createdAt >= this.#timings.rekeyAfterMs || current.sent >= this.#timings.rekeyAfterMessages;
    return due ? this.startRotation(now) : null;
  }

  #requestPayload(now: number): Buffer {
    const request = this.#request!;
    request.lastSent = now;
    return rekeyPayload(request.ephemeral.publicKey, request.localIndex);
  }

  /**
   * Client: the server's REKEY_RESPONSE. `rotated`: the new keys are current; `stale`: no
   * rotation was waiting (a duplicate answer); otherwise the drop reason.
   */
  complete(body: Buffer, now: number): 'rotated' | 'stale' | DropReason {
    const request = this.#request;
    if (!request) return 'stale';
    let keys;
    try {
      keys = rotationKeys(request.ephemeral, body.subarray(0, X25519_KEY_BYTES), 'initiator', this.#current.chain, this.#host.psk);
    } catch {
      return 'low-order';
    }
    const next = new TrafficKeys(this.#host.backend, keys, request.localIndex, readU32(body, X25519_KEY_BYTES), now,
      this.#timings.rejectAfterMessages);
    request.ephemeral.destroy();
    this.#request = null;
    this.#host.register(next, this.#owner);
    this.#rotateTo(next, now);
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
    const last = this.#answer;
    if (last?.peerPublicKey.equals(peerPublicKey)) return last.response;
    if (this.#next !== null || now - this.#workedAt < REKEY_MIN_INTERVAL_MS) return 'rekey-limit';
    // Counted before the work: a low-order key fails only after its X25519, and must not be free.
    this.#workedAt = now;
    const ephemeral = new X25519KeyPair({ backend: this.#host.backend });
    try {
      const keys = rotationKeys(ephemeral, peerPublicKey, 'responder', this.#current.chain, this.#host.psk);
      const next = new TrafficKeys(this.#host.backend, keys, this.#host.allocateIndex(), readU32(body, X25519_KEY_BYTES), now,
        this.#timings.rejectAfterMessages);
      this.#next = next;
      this.#host.register(next, this.#owner);
      const response = rekeyPayload(ephemeral.publicKey, next.localIndex);
      this.#answer = { peerPublicKey: Buffer.from(peerPublicKey), response };
      return response;
    } catch {
      return 'low-order';
    } finally {
      ephemeral.destroy();
    }
  }

  /** Server: the client used the next keys, so it has them; they become current. */
  confirmNext(now: number): void {
    const next = this.#next!;
    this.#next = null;
    // #answer stays: a late copy of the request gets the same answer, not a new exchange.
    this.#rotateTo(next, now);
  }

  /* ---------------- both ---------------- */

  #rotateTo(trafficKeys: TrafficKeys, now: number): void {
    if (this.#previous) this.#retire(this.#previous);
    this.#previous = this.#current;
    this.#previousExpires = now + this.#timings.previousKeysGraceMs;
    this.#current = trafficKeys;
  }

  /** Forgets the previous keys once their grace period is over. */
  expirePrevious(now: number): void {
    if (this.#previous && now >= this.#previousExpires) {
      this.#retire(this.#previous);
      this.#previous = null;
    }
  }

  #retire(trafficKeys: TrafficKeys): void {
    this.#host.unregister(trafficKeys, this.#owner);
    trafficKeys.wipe();
  }

  /** Wipes every key and a half-done rotation's ephemeral key. */
  wipe(): void {
    for (const trafficKeys of [this.#current, this.#previous, this.#next]) if (trafficKeys) this.#retire(trafficKeys);
    this.#previous = null;
    this.#next = null;
    this.#request?.ephemeral.destroy();
    this.#request = null;
  }
}

function rekeyPayload(publicKey: Uint8Array, index: number): Buffer {
  const payload = Buffer.allocUnsafe(REKEY_PAYLOAD_BYTES);
  payload.set(publicKey, 0);
  payload.writeUInt32BE(index, X25519_KEY_BYTES);
  return payload;
}
