import { createHmac } from 'node:crypto';
import { readU32, TWO_32 } from '../bytes.js';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, REJECT_AFTER_MESSAGES, RECEIVER_INDEX_BYTES, REKEY_CHAIN_LABEL } from '../constants.js';
import { AeadKey, type DatagramOpen } from '../crypto/aead-key.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { wipeSessionKeys, type SessionKeys } from '../crypto/key-schedule.js';
import { REPLAY_RING_BYTES, ReplayWindow } from '../protocol/replay-window.js';
import { SlotPool } from '../slot-pool.js';

/**
 * Keys and replay rings of all TrafficKeys (a server holds many sessions; see SlotPool). Each
 * slab is at least 128 KiB, so glibc maps it on its own, outside the brk heap that short-lived
 * buffers churn (see slab.ts): 4,096 keys or 512 rings to a slab.
 */
const keySlots = new SlotPool<Uint8Array>(AEAD_KEY_BYTES, 4096, (slab, at) => new Uint8Array(slab, at, AEAD_KEY_BYTES));
const ringSlots = new SlotPool<Uint32Array>(REPLAY_RING_BYTES, 512, (slab, at) => new Uint32Array(slab, at, REPLAY_RING_BYTES / 4));

/** Nonces are built here and copied into each datagram by the seal (single-threaded, synchronous). */
const nonceScratch = Buffer.alloc(AEAD_NONCE_BYTES);

/** openInto result codes (a plaintext length is >= 0). */
export const OPEN_BAD_AUTH = -1;
export const OPEN_REPLAY = -2;

/**
 * One direction pair of version-2 keys: what we send under (to the peer's receiver index, with
 * our counter) and what we accept (at our receiver index, through the replay window).
 */
export class TrafficKeys {
  /** The index peers put in nonces sent to us; how we find these keys. */
  readonly localIndex: number;
  /** The peer's index for these keys; first 4 bytes of every nonce we send. */
  readonly remoteIndex: number;
  readonly createdAt: number;
  readonly #send: AeadKey;
  readonly #receive: AeadKey;
  /**
   * A secret both sides derive from these keys' confirmation key and mix into the next
   * rotation, so the next keys depend on this handshake's whole secret, not only on the traffic
   * keys: a stolen traffic key does not let anyone complete the next rotation. A slot of
   * keySlots until wipe().
   */
  #chain: Uint8Array | null;
  /** The replay window's ring: a slot of ringSlots until wipe() gives it back (then null). */
  #ring: Uint32Array | null;
  readonly #replay: ReplayWindow;
  readonly #rejectAfter: number;
  #sent = 0;

  /** Takes `keys`: they are copied and the caller's buffers wiped. */
  constructor(backend: CryptoBackend, keys: SessionKeys, localIndex: number,
    remoteIndex: number, now: number, rejectAfterMessages = REJECT_AFTER_MESSAGES) {
    this.#send = new AeadKey(backend, keys.send, keySlots);
    this.#receive = new AeadKey(backend, keys.receive, keySlots);
    if (keys.confirm.length !== AEAD_KEY_BYTES) throw new RangeError('traffic keys need the confirmation key to derive its rotation chain');
    this.#chain = keySlots.take();
    this.#chain.set(createHmac('sha256', keys.confirm).update(REKEY_CHAIN_LABEL).digest());
    this.#ring = ringSlots.take();
    this.#replay = new ReplayWindow(this.#ring);
    wipeSessionKeys(keys);
    this.localIndex = localIndex;
    this.remoteIndex = remoteIndex;
    this.createdAt = now;
    this.#rejectAfter = rejectAfterMessages;
  }

  /** Messages sent under these keys so far. */
  get sent(): number {
    return this.#sent;
  }

  /**
   * Seals `plaintext` into `out` with the next counter; returns the datagram length, or -1 once
   * the counter limit is reached (the nonce would repeat: never send past it).
   */
  sealInto(out: Uint8Array, plaintext: Uint8Array): number {
    const send = this.nonceInto(nonceScratch);
    return send === null ? -1 : send.sealInto(out, plaintext, undefined, nonceScratch);
  }

  /**
   * Takes the next counter, writes its nonce (the peer's index, then the counter) into the first
   * 12 bytes of `datagram` and returns the key to seal it under (soon, and in place:
   * AeadKey.sealInPlace), or null once the counter limit is reached. (No #private helper here: it
   * would give every instance a field of its own, V8's private brand, 8 bytes per session.)
   */
  nonceInto(datagram: Buffer): AeadKey | null {
    const counter = this.#sent;
    if (counter >= this.#rejectAfter) return null;
    this.#sent = counter + 1;
    datagram.writeUInt32BE(this.remoteIndex, 0);
    datagram.writeUInt32BE(Math.floor(counter / TWO_32), RECEIVER_INDEX_BYTES);
    datagram.writeUInt32BE(counter >>> 0, RECEIVER_INDEX_BYTES + 4);
    return this.#send;
  }

  /**
   * Opens a datagram addressed to these keys into `out`, through `open` when given (the native
   * datagram path's AEAD), else the backend. Returns the plaintext length, or
   * OPEN_REPLAY (seen before or older than the window) / OPEN_BAD_AUTH. The replay window is
   * consulted before the AEAD (cheap) and updated only after it authenticates.
   */
  openInto(out: Uint8Array, datagram: Uint8Array, open?: DatagramOpen): number {
    const hi = readU32(datagram, RECEIVER_INDEX_BYTES);
    const counter = hi * TWO_32 + readU32(datagram, RECEIVER_INDEX_BYTES + 4);
    if (!this.#replay.check(counter, this.#rejectAfter)) return OPEN_REPLAY;
    const length = open ? this.#receive.openWith(out, datagram, open) : this.#receive.openInto(out, datagram);
    if (length < 0) return OPEN_BAD_AUTH;
    return this.#replay.accept(counter, this.#rejectAfter) ? length : OPEN_REPLAY;
  }

  /**
   * The rotation chain secret, to be mixed into the next traffic keys' derivation (a view of the
   * slot: use it at once, never keep it). Throws once wiped.
   */
  get chain(): Uint8Array {
    if (!this.#chain) throw new RangeError('the traffic keys were wiped');
    return this.#chain;
  }

  /** Wipes both keys and returns every slot; call once these keys can no longer be reached. */
  wipe(): void {
    this.#send.wipe();
    this.#receive.wipe();
    if (this.#chain) keySlots.release(this.#chain);
    this.#chain = null;
    if (this.#ring) ringSlots.release(this.#ring);
    this.#ring = null;
  }
}
