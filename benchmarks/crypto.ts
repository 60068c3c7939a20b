import { randomBytes } from 'node:crypto';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_OVERHEAD, CMD_CONNECT, HKDF_INFO, HKDF_KEY_BYTES, X25519_KEY_BYTES } from '../lib/constants.js';
import type { CryptoBackend } from '../lib/crypto/backend.js';
import { CommEncryptor } from '../lib/crypto/comm-encryptor.js';
import { DoCrypt } from '../lib/crypto/docrypt.js';
import { hkdfSha256 } from '../lib/crypto/hkdf.js';
import { encodeHandshake } from '../lib/protocol/handshake.js';
import { check, type BackendCase, type PairCase, type SharedCase } from './harness.js';

/** Message sizes: a tiny control frame, a typical MTU-sized datagram, and a large one. */
export const AEAD_SIZES = [64, 1400, 64 * 1024] as const;
export type AeadSize = (typeof AEAD_SIZES)[number];
/** The size the facade-overhead target is stated for. */
export const FACADE_TARGET_SIZE: AeadSize = 1400;

export function sizeLabel(size: number): string {
  return size >= 1024 && size % 1024 === 0 ? `${size / 1024} KiB` : `${size} B`;
}

/** The AEAD cases measured at every size; their ids are `${operation}.${size}`. */
export type AeadOperation = 'seal.bare' | 'seal.bare.alloc' | 'encryptInto' | 'encrypt' | 'decrypt';
export const aeadCaseId = (operation: AeadOperation, size: AeadSize): string => `${operation}.${size}`;

const EMPTY = new Uint8Array(0);
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const equal = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** What the AEAD cases of one backend and size share, so bare and facade touch the very same memory. */
interface AeadFixture {
  /** Holds `key`, so the bare library calls seal under the encryptor's key. */
  readonly encryptor: CommEncryptor;
  readonly key: Uint8Array;
  readonly plaintext: Uint8Array;
  /** Preallocated nonce || ciphertext || tag buffer. */
  readonly out: Buffer;
}

const aeadFixtures = new Map<string, AeadFixture>();

function aeadFixture(backend: CryptoBackend, size: AeadSize): AeadFixture {
  const id = `${backend.name}/${size}`;
  let fixture = aeadFixtures.get(id);
  if (fixture === undefined) {
    const key = bytes(AEAD_KEY_BYTES);
    const encryptor = new CommEncryptor({ backend });
    encryptor.setKey(key);
    fixture = { encryptor, key, plaintext: bytes(size), out: Buffer.allocUnsafe(size + AEAD_OVERHEAD) };
    aeadFixtures.set(id, fixture);
  }
  return fixture;
}

export const keyPairCase: BackendCase = {
  kind: 'backend',
  id: 'x25519.keypair',
  label: 'X25519 key pair (new CommEncryptor)',
  prepare: (backend) => () => new CommEncryptor({ backend }),
};

export const scalarMultCase: BackendCase = {
  kind: 'backend',
  id: 'x25519.scalarmult',
  label: 'X25519 scalar mult (backend.x25519)',
  prepare(backend) {
    const point = (): Uint8Array => new Uint8Array(X25519_KEY_BYTES);
    const secretA = bytes(X25519_KEY_BYTES);
    const secretB = bytes(X25519_KEY_BYTES);
    const [publicA, publicB, sharedA, sharedB] = [point(), point(), point(), point()];
    backend.x25519Base(publicA, secretA);
    backend.x25519Base(publicB, secretB);
    check(backend.x25519(sharedA, secretA, publicB) && backend.x25519(sharedB, secretB, publicA) && equal(sharedA, sharedB),
      'X25519 agrees in both directions');
    return () => backend.x25519(sharedB, secretB, publicA);
  },
};

export const hkdfCase: SharedCase = {
  kind: 'shared',
  id: 'hkdf',
  label: 'HKDF-SHA256 32 B (hkdfSha256)',
  prepare() {
    const ikm = bytes(X25519_KEY_BYTES);
    check(hkdfSha256(ikm, HKDF_INFO, HKDF_KEY_BYTES).length === HKDF_KEY_BYTES, 'hkdf output length');
    return () => hkdfSha256(ikm, HKDF_INFO, HKDF_KEY_BYTES);
  },
};

/**
 * How a bare case gets its output buffer: `preallocated` reuses one buffer (what encryptInto's
 * caller does), `allocated` makes a new one per message (what encrypt does, and what a raw
 * sodium-native user who wants a fresh buffer per message must do).
 */
export type BareOutput = 'preallocated' | 'allocated';

const BARE_OPERATION: Readonly<Record<BareOutput, AeadOperation>> = { preallocated: 'seal.bare', allocated: 'seal.bare.alloc' };
const BARE_LABEL: Readonly<Record<BareOutput, string>> = {
  preallocated: 'bare randomFill+aeadSeal, prealloc',
  allocated: 'bare allocUnsafe+randomFill+aeadSeal',
};

/**
 * The bare library calls CommEncryptor wraps: a random nonce, then seal, laid out as
 * nonce || ciphertext || tag. `preallocated` writes into the fixture's buffer through views made
 * once (encryptInto's baseline); `allocated` does Buffer.allocUnsafe(size + 28) and takes the
 * nonce view on every call (encrypt's baseline).
 */
export function bareSealCase(size: AeadSize, output: BareOutput): BackendCase {
  return {
    kind: 'backend',
    id: aeadCaseId(BARE_OPERATION[output], size),
    label: `${BARE_LABEL[output]} ${sizeLabel(size)}`,
    prepare(backend) {
      const { encryptor, key, plaintext, out } = aeadFixture(backend, size);
      const seal = (buffer: Buffer, nonce: Uint8Array, sealed: Uint8Array): Buffer => {
        backend.randomFill(nonce);
        backend.aeadSeal(sealed, plaintext, EMPTY, nonce, key);
        return buffer;
      };
      const nonce = out.subarray(0, AEAD_NONCE_BYTES);
      const sealed = out.subarray(AEAD_NONCE_BYTES);
      const op = output === 'preallocated'
        ? (): Buffer => seal(out, nonce, sealed)
        : (): Buffer => {
          const fresh = Buffer.allocUnsafe(size + AEAD_OVERHEAD);
          return seal(fresh, fresh.subarray(0, AEAD_NONCE_BYTES), fresh.subarray(AEAD_NONCE_BYTES));
        };
      const first = op();
      check(first.length === size + AEAD_OVERHEAD && equal(encryptor.decrypt(first), plaintext),
        `bare seal (${output}) ${size} opens with CommEncryptor`);
      return op;
    },
  };
}

/** CommEncryptor.encryptInto on the same preallocated buffer as the bare case. */
export function encryptIntoCase(size: AeadSize): BackendCase {
  return {
    kind: 'backend',
    id: aeadCaseId('encryptInto', size),
    label: `CommEncryptor.encryptInto ${sizeLabel(size)}`,
    prepare(backend) {
      const { encryptor, plaintext, out } = aeadFixture(backend, size);
      check(encryptor.encryptInto(out, plaintext) === out.length && equal(encryptor.decrypt(out), plaintext),
        `encryptInto ${size} round-trips`);
      return () => encryptor.encryptInto(out, plaintext);
    },
  };
}

/** CommEncryptor.encrypt: allocates its output (Buffer.allocUnsafe) on every call. */
export function encryptCase(size: AeadSize): BackendCase {
  return {
    kind: 'backend',
    id: aeadCaseId('encrypt', size),
    label: `CommEncryptor.encrypt ${sizeLabel(size)}`,
    prepare(backend) {
      const { encryptor, plaintext } = aeadFixture(backend, size);
      check(equal(encryptor.decrypt(encryptor.encrypt(plaintext)), plaintext), `encrypt ${size} round-trips`);
      return () => encryptor.encrypt(plaintext);
    },
  };
}

/** CommEncryptor.decrypt (verify + open, allocating the plaintext) of one sealed message. */
export function decryptCase(size: AeadSize): BackendCase {
  return {
    kind: 'backend',
    id: aeadCaseId('decrypt', size),
    label: `CommEncryptor.decrypt ${sizeLabel(size)}`,
    prepare(backend) {
      const { encryptor, plaintext } = aeadFixture(backend, size);
      const message = encryptor.encrypt(plaintext);
      check(equal(encryptor.decrypt(message), plaintext), `decrypt ${size} round-trips`);
      return () => encryptor.decrypt(message);
    },
  };
}

/** The facade calls judged against the bare calls doing the same job. */
export type FacadeCall = 'encryptInto' | 'encrypt';
export const facadePairId = (call: FacadeCall, size: AeadSize): string => `facade.${call}.${size}`;

/**
 * Each judged facade call paired with its bare baseline, for measurePairedRound: encryptInto
 * against the preallocated bare seal, encrypt against the allocating one.
 */
export function facadePairs(size: AeadSize): PairCase[] {
  return [
    { id: facadePairId('encryptInto', size), label: `encryptInto ÷ bare prealloc ${sizeLabel(size)}`,
      base: bareSealCase(size, 'preallocated'), other: encryptIntoCase(size) },
    { id: facadePairId('encrypt', size), label: `encrypt ÷ bare alloc ${sizeLabel(size)}`,
      base: bareSealCase(size, 'allocated'), other: encryptCase(size) },
  ];
}

/** A `connect` handshake as a client sends it: the text that DoCrypt obfuscates. */
function connectText(publicKey: Uint8Array): string {
  return encodeHandshake(CMD_CONNECT, publicKey);
}

export interface ConnectFixture {
  readonly text: string;
  readonly token: string;
}

let fixture: ConnectFixture | undefined;

/** One `connect` token (seed form, under NET_OBS_KEY), shared by every decode benchmark. */
export function connectFixture(): ConnectFixture {
  if (fixture === undefined) {
    const text = connectText(bytes(X25519_KEY_BYTES));
    fixture = { text, token: new DoCrypt().fencrypt(text) };
  }
  return fixture;
}

export const fencryptCase: SharedCase = {
  kind: 'shared',
  id: 'docrypt.fencrypt',
  label: 'DoCrypt.fencrypt connect text (Fernet)',
  prepare() {
    const docrypt = new DoCrypt();
    const { text } = connectFixture();
    check(docrypt.fdecrypt(docrypt.fencrypt(text)).plaintext.toString('utf8') === text, 'fencrypt round-trips');
    return () => docrypt.fencrypt(text);
  },
};

export const fdecryptCase: SharedCase = {
  kind: 'shared',
  id: 'docrypt.fdecrypt',
  label: 'DoCrypt.fdecrypt connect token (verify+decrypt)',
  prepare() {
    const docrypt = new DoCrypt();
    const { text, token } = connectFixture();
    check(docrypt.fdecrypt(token).plaintext.toString('utf8') === text, 'fdecrypt recovers the text');
    return () => docrypt.fdecrypt(token);
  },
};
