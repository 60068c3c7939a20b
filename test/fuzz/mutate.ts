import fc from 'fast-check';
import { X25519_KEY_BYTES } from '../../lib/constants.js';
import { fromBase64Url, toBase64Url } from '../../lib/encoding.js';

/**
 * Structured mutations for the fuzz targets, as plain data so fast-check prints (and shrinks) the
 * recipe of a failing input, not just its bytes. Positions are reduced modulo the length of what
 * they apply to, so any mutation applies to any packet.
 */

/* ---------------- byte level ---------------- */

export type ByteMutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'extend'; bytes: Uint8Array }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'repeat'; at: number; length: number; times: number }
  /** Copies `length` bytes of another packet (a donor) over or into this one. */
  | { op: 'splice'; donor: number; from: number; length: number; at: number; overwrite: boolean }
  /** Replaces one character with one of the URL-safe base64 alphabet: a token stays token-shaped. */
  | { op: 'b64char'; at: number; char: number };

/**
 * Where a mutation applies. 'bytes': the datagram itself. 'raw': a token's decoded Fernet bytes
 * (version, timestamp, IV, ciphertext, MAC), re-encoded afterwards, so the result still passes the
 * base64 check and reaches the length, version and MAC checks.
 */
export type Layer = 'bytes' | 'raw';
export type Mutation = ByteMutation & { layer: Layer };

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const at = (n: number, length: number): number => (length === 0 ? 0 : n % length);

export function applyByteMutation(input: Uint8Array, m: ByteMutation, donors: readonly Uint8Array[]): Buffer {
  const b = Buffer.from(input);
  switch (m.op) {
    case 'flip':
      if (b.length > 0) b[at(m.at, b.length)]! ^= 1 << (m.bit & 7);
      return b;
    case 'set':
      if (b.length > 0) b[at(m.at, b.length)] = m.value & 0xff;
      return b;
    case 'b64char':
      if (b.length > 0) b[at(m.at, b.length)] = B64_ALPHABET.charCodeAt(m.char & 63);
      return b;
    case 'truncate':
      return b.subarray(0, at(m.at, b.length + 1));
    case 'extend':
      return Buffer.concat([b, m.bytes]);
    case 'insert': {
      const p = at(m.at, b.length + 1);
      return Buffer.concat([b.subarray(0, p), m.bytes, b.subarray(p)]);
    }
    case 'delete': {
      const p = at(m.at, b.length + 1);
      return Buffer.concat([b.subarray(0, p), b.subarray(p + m.length)]);
    }
    case 'repeat': {
      const p = at(m.at, b.length + 1);
      const chunk = b.subarray(p, p + m.length);
      return Buffer.concat([b.subarray(0, p), ...Array<Buffer>(m.times).fill(chunk), b.subarray(p)]);
    }
    case 'splice': {
      const donor = donors.length > 0 ? donors[m.donor % donors.length]! : new Uint8Array(0);
      const from = at(m.from, donor.length + 1);
      const piece = donor.subarray(from, from + m.length);
      const p = at(m.at, b.length + 1);
      return m.overwrite
        ? Buffer.concat([b.subarray(0, p), piece, b.subarray(p + piece.length)])
        : Buffer.concat([b.subarray(0, p), piece, b.subarray(p)]);
    }
  }
}

/** Applies `mutations` in order; a 'raw' mutation of something that is not base64 applies to its bytes. */
export function applyMutations(input: Uint8Array, mutations: readonly Mutation[], donors: readonly Uint8Array[]): Buffer {
  let out: Buffer = Buffer.from(input);
  for (const m of mutations) {
    const raw = m.layer === 'raw' ? fromBase64Url(out) : null;
    out = raw === null ? applyByteMutation(out, m, donors) : Buffer.from(toBase64Url(applyByteMutation(raw, m, [])), 'ascii');
  }
  return out;
}

/**
 * Byte strings spread over the whole 0..max range (fast-check's default size would keep them under
 * about 10 bytes, shorter than any header); `size` is set here, not globally, so other suites are unaffected.
 */
export const bytesUpTo = (max: number, min = 0): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max, size: 'max' });
/** Mostly short, sometimes anywhere up to `max`. */
export const someBytes = (max: number): fc.Arbitrary<Uint8Array> => fc.oneof(fc.uint8Array({ maxLength: max }), bytesUpTo(max));

const smallBytes = bytesUpTo(24, 1);
/** Positions: mostly near the start or end of a packet, where the headers and MAC are. */
const position = fc.oneof(fc.nat(64), fc.nat(2048), fc.integer({ min: 0, max: 3 }).map((n) => 0x7fff_fff0 + n));

export const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), at: position, value: fc.oneof(fc.nat(255), fc.constantFrom(0, 0x67, 0x7b, 0x80, 0xff, 0x3d)) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('b64char' as const), at: position, char: fc.nat(63) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: position }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('extend' as const), bytes: fc.oneof({ weight: 3, arbitrary: smallBytes }, { weight: 1, arbitrary: bytesUpTo(1100, 16) }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: position, bytes: smallBytes }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 48 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('repeat' as const), at: position, length: fc.integer({ min: 1, max: 32 }), times: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('splice' as const), donor: fc.nat(), from: position, length: fc.integer({ min: 1, max: 64 }), at: position, overwrite: fc.boolean() }) },
);

export const mutationArb: fc.Arbitrary<Mutation> = fc.tuple(byteMutationArb, fc.constantFrom<Layer>('bytes', 'bytes', 'raw'))
  .map(([m, layer]) => ({ ...m, layer }));

/** One to four mutations: a mutated packet always differs in at least one step (it may still equal the original). */
export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

/* ---------------- keys ---------------- */

/**
 * X25519 public keys of small order (libsodium's blocklist): the shared secret with any of them is
 * all zeros, so every one must be refused.
 */
export const LOW_ORDER_POINTS: readonly Buffer[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  '4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7',
  'd9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
].map((h) => Buffer.from(h, 'hex'));

/** A 32-byte public key: random (almost always valid) or of small order. */
export const publicKeyArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ minLength: X25519_KEY_BYTES, maxLength: X25519_KEY_BYTES }) },
  { weight: 1, arbitrary: fc.constantFrom(...LOW_ORDER_POINTS) },
);

/** How a byte string is written into a JSON field: the canonical form and the ways it can go wrong. */
export type Base64Style = 'canonical' | 'unpadded' | 'standard' | 'noncanonical' | 'whitespace' | 'midpad' | 'double';

export function base64Variant(bytes: Uint8Array, style: Base64Style): string {
  const canonical = toBase64Url(bytes);
  switch (style) {
    case 'canonical':
      return canonical;
    case 'unpadded':
      return canonical.replace(/=+$/, '');
    case 'standard':
      return Buffer.from(bytes).toString('base64');
    case 'noncanonical': {
      // Sets the unused low bits of the last data character: decoders that ignore them see the same bytes.
      const pad = canonical.length - canonical.replace(/=+$/, '').length;
      if (pad === 0) return canonical;
      const i = canonical.length - pad - 1;
      const c = B64_ALPHABET.indexOf(canonical[i]!);
      return `${canonical.slice(0, i)}${B64_ALPHABET[c | (pad === 1 ? 0b11 : 0b1111)]}${canonical.slice(i + 1)}`;
    }
    case 'whitespace':
      return `${canonical.slice(0, 4)} ${canonical.slice(4)}`.slice(0, canonical.length);
    case 'midpad':
      return `${canonical.slice(0, 4)}=${canonical.slice(5)}`;
    case 'double':
      return canonical + canonical;
  }
}

const base64StyleArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Base64Style>('canonical') },
  { weight: 1, arbitrary: fc.constantFrom<Base64Style>('unpadded', 'standard', 'noncanonical', 'whitespace', 'midpad', 'double') },
);

/** Field values that are keys (pubkey, cid, sid) or MACs (conf, cookie) of the right length or not. */
const keyishBytesArb = fc.oneof(
  { weight: 4, arbitrary: publicKeyArb },
  { weight: 1, arbitrary: bytesUpTo(40) },
  { weight: 1, arbitrary: fc.constantFrom(16, 31, 33).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) },
);
export const keyishTextArb = fc.tuple(keyishBytesArb, base64StyleArb).map(([bytes, style]) => JSON.stringify(base64Variant(bytes, style)));

/* ---------------- JSON level ---------------- */

/** JSON text of values chosen to break typed readers: edges of u32, huge, fractional, wrong types. */
const SPECIAL_VALUES = [
  '0', '1', '2', '3', '-1', '-0', '2.0', '2e0', '2.5', '1e400', '-1e400', '1e-400', '4294967295', '4294967296', '-4294967296',
  '9007199254740993', '18446744073709551616', '0.1', '"2"', '"connect"', '"connected"', '"cookie"', '"Connect"', '"connect\\u0000"',
  '"\\ud800"', '"\\u0000"', '""', 'null', 'true', 'false', '[]', '{}', '[2]', '{"cmd": "connect"}', '"=="', '"===="',
];

const nestedArb = fc.tuple(fc.integer({ min: 1, max: 600 }), fc.boolean()).map(([depth, array]) => (array
  ? `${'['.repeat(depth)}${']'.repeat(depth)}`
  : `${'{"a": '.repeat(depth)}1${'}'.repeat(depth)}`));

export const jsonValueTextArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SPECIAL_VALUES) },
  { weight: 4, arbitrary: keyishTextArb },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 2000 }).map((n) => `"${'A'.repeat(n)}"`) },
  { weight: 1, arbitrary: nestedArb },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20, size: 'max' }).map((s) => JSON.stringify(s)) },
);

const FIELD_NAMES = ['cmd', 'pubkey', 'v', 'idx', 'cid', 'cookie', 'pad', 'sid', 'conf', '__proto__', 'constructor', 'toString', '', 'CMD', 'pubkey '];
export const fieldNameArb = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FIELD_NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });

export type JsonMutation =
  | { op: 'drop'; at: number }
  | { op: 'duplicate'; at: number; value: string }
  | { op: 'set'; at: number; value: string }
  | { op: 'add'; key: string; value: string }
  | { op: 'rename'; at: number; key: string }
  /** Takes a field of another packet's JSON (a donor) into this one. */
  | { op: 'splice'; donor: number; at: number }
  | { op: 'reverse' }
  | { op: 'wrap'; how: 'array' | 'object' | 'string' };

export const jsonMutationArb: fc.Arbitrary<JsonMutation> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drop' as const), at: fc.nat(15) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(15), value: jsonValueTextArb }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(15), value: jsonValueTextArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), key: fieldNameArb, value: jsonValueTextArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rename' as const), at: fc.nat(15), key: fieldNameArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('splice' as const), donor: fc.nat(), at: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reverse' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), how: fc.constantFrom<'array' | 'object' | 'string'>('array', 'object', 'string') }) },
);
export const jsonMutationsArb = fc.array(jsonMutationArb, { minLength: 1, maxLength: 4 });

type Entries = Array<[string, string]>;

/** The fields of a JSON object as [key, value JSON text]; [] for anything else. */
export function jsonEntries(text: string): Entries {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
    return Object.entries(value).map(([k, v]) => [k, JSON.stringify(v)]);
  } catch {
    return [];
  }
}

/** Python json.dumps spacing, duplicate keys allowed (JSON.parse keeps the last). */
export const writeEntries = (entries: Entries): string => `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(', ')}}`;

export function applyJsonMutations(text: string, mutations: readonly JsonMutation[], donors: readonly string[]): string {
  let entries = jsonEntries(text);
  let wrapped = (s: string): string => s;
  for (const m of mutations) {
    const i = entries.length === 0 ? -1 : 'at' in m ? m.at % entries.length : -1;
    switch (m.op) {
      case 'drop':
        if (i >= 0) entries.splice(i, 1);
        break;
      case 'duplicate':
        if (i >= 0) entries.push([entries[i]![0], m.value]);
        break;
      case 'set':
        if (i >= 0) entries[i] = [entries[i]![0], m.value];
        break;
      case 'add':
        entries.push([m.key, m.value]);
        break;
      case 'rename':
        if (i >= 0) entries[i] = [m.key, entries[i]![1]];
        break;
      case 'splice': {
        const donor = donors.length > 0 ? jsonEntries(donors[m.donor % donors.length]!) : [];
        const field = donor.length > 0 ? donor[m.at % donor.length] : undefined;
        if (!field) break;
        const same = entries.findIndex(([k]) => k === field[0]);
        if (same >= 0) entries[same] = field;
        else entries.push(field);
        break;
      }
      case 'reverse':
        entries = entries.reverse();
        break;
      case 'wrap': {
        const inner = wrapped;
        wrapped = m.how === 'array' ? (s) => `[${inner(s)}]` : m.how === 'object' ? (s) => `{"msg": ${inner(s)}}` : (s) => JSON.stringify(inner(s));
        break;
      }
    }
  }
  return wrapped(writeEntries(entries));
}
