import { EMPTY } from '../bytes.js';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_OVERHEAD } from '../constants.js';
import { InvalidInputError } from '../errors.js';
import type { SlotPool } from '../slot-pool.js';
import type { CryptoBackend } from './backend.js';

/** ChaCha20-Poly1305 over many datagrams at once, in place (see AeadKey.sealInPlace). */
export type BatchSeal = (key: Uint8Array, datagrams: readonly Uint8Array[], count: number) => void;
/** Opens nonce || ciphertext || tag into `out`: the plaintext length, or -1 (see AeadKey.openWith). */
export type DatagramOpen = (key: Uint8Array, datagram: Uint8Array, out: Uint8Array) => number;

/** What a wiped pooled key holds instead of its slot: zeros, never written. */
const WIPED = new Uint8Array(AEAD_KEY_BYTES);

/**
 * One ChaCha20-Poly1305 key and the original's message layout, nonce(12) || ciphertext || tag(16).
 * The hot path of every channel: it writes into caller buffers and reports failure by return
 * value, so a flood of forged packets costs no exceptions.
 */
export class AeadKey {
  readonly #backend: CryptoBackend;
  #key: Uint8Array;
  readonly #pool: SlotPool<Uint8Array> | undefined;

  /** Copies `key`: into a slot of `pool` when given (many long-lived keys), else into an array of its own. */
  constructor(backend: CryptoBackend, key: Uint8Array, pool?: SlotPool<Uint8Array>) {
    if (key.length !== AEAD_KEY_BYTES) throw new InvalidInputError(`key must be ${AEAD_KEY_BYTES} bytes, got ${key.length}`);
    this.#backend = backend;
    this.#pool = pool;
    this.#key = pool ? pool.take() : new Uint8Array(AEAD_KEY_BYTES);
    this.#key.set(key);
  }

  /**
   * Seals `plaintext` into `out` (at least plaintext.length + 28 bytes); returns the bytes written.
   * The nonce is `nonce` when given (it must never repeat under this key), random otherwise.
   */
  sealInto(out: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY, nonce?: Uint8Array): number {
    const total = plaintext.length + AEAD_OVERHEAD;
    if (out.length < total) throw new InvalidInputError(`output buffer too small: need ${total} bytes, got ${out.length}`);
    const nonceView = out.subarray(0, AEAD_NONCE_BYTES);
    if (nonce === undefined) {
      this.#backend.randomFill(nonceView);
    } else {
      if (nonce.length !== AEAD_NONCE_BYTES) throw new InvalidInputError(`nonce must be ${AEAD_NONCE_BYTES} bytes, got ${nonce.length}`);
      nonceView.set(nonce);
    }
    this.#backend.aeadSeal(out.subarray(AEAD_NONCE_BYTES, total), plaintext, ad, nonceView, this.#key);
    return total;
  }

  /**
   * Opens nonce || ciphertext || tag into `out` (at least data.length - 28 bytes). Returns the
   * plaintext length, or -1 if `data` is too short or fails authentication.
   */
  openInto(out: Uint8Array, data: Uint8Array, ad: Uint8Array = EMPTY): number {
    const length = openLength(out, data);
    if (length < 0) return -1;
    const ok = this.#backend.aeadOpen(
      out.subarray(0, length), data.subarray(AEAD_NONCE_BYTES), ad, data.subarray(0, AEAD_NONCE_BYTES), this.#key);
    return ok ? length : -1;
  }

  /**
   * Seals `count` datagrams in place, each nonce(12) || plaintext || 16 bytes of room for the tag,
   * with one call of `seal` (the native datagram path's batch AEAD). The key goes to `seal` only.
   */
  sealInPlace(datagrams: readonly Uint8Array[], count: number, seal: BatchSeal): void {
    if (this.#key === WIPED) throw new InvalidInputError('the key was wiped');
    seal(this.#key, datagrams, count);
  }

  /** As openInto with no associated data, through `open` (the native datagram path's AEAD). */
  openWith(out: Uint8Array, data: Uint8Array, open: DatagramOpen): number {
    return openLength(out, data) < 0 ? -1 : open(this.#key, data, out);
  }

  /** Zeroes the key; a pooled slot goes back to its pool, and this key keeps only zeros. */
  wipe(): void {
    if (this.#key === WIPED) return;
    this.#backend.wipe(this.#key);
    if (this.#pool) {
      this.#pool.release(this.#key);
      this.#key = WIPED;
    }
  }
}

/** The plaintext length of sealed `data`, or -1 if it is too short to be sealed; throws if `out` cannot hold it. */
function openLength(out: Uint8Array, data: Uint8Array): number {
  const length = data.length - AEAD_OVERHEAD;
  if (length >= 0 && out.length < length) throw new InvalidInputError(`output buffer too small: need ${length} bytes, got ${out.length}`);
  return length;
}
