// The subset of sodium-native (5.x) that bittrrt calls. The published @types package describes
// the 2.x API, so the few signatures we rely on are declared here.
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  export const crypto_scalarmult_BYTES: number;
  export const crypto_scalarmult_SCALARBYTES: number;
  export const crypto_aead_chacha20poly1305_ietf_ABYTES: number;
  export function crypto_scalarmult_base(q: Bytes, n: Bytes): void;
  export function crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Bytes, m: Bytes, ad: Bytes | null, nsec: null, npub: Bytes, k: Bytes): number;
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Bytes, nsec: null, c: Bytes, ad: Bytes | null, npub: Bytes, k: Bytes): number;
  export function randombytes_buf(buf: Bytes): void;
  export function sodium_memzero(buf: Bytes): void;
}
