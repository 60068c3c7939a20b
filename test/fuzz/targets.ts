import { CONNECT_PADDED_LENGTH } from '../../lib/constants.js';
/**
 * Fuzz targets for every parser that touches network input, driven by fast-check:
 *
 *   fernet          Fernet.decrypt / DoCrypt.fdecrypt: only InvalidTokenError, and exactly the
 *                   tokens an independent reference accepts.
 *   handshake       parseHandshake, readInitiation, readResponse, readCookieReply: never throw,
 *                   results well-typed and equal to a reference; encoders round-trip.
 *   frame-header    readFrameHeader: never throws, null iff < 20 bytes, fields as a reference.
 *   server-receive  BittrrtServer.receive on a listening server: no exception escapes, nothing
 *                   invalid is answered or changes the session table, state stays bounded.
 *
 * Inputs are arbitrary bytes plus structured mutations (bit flips, truncation, extension,
 * splicing from other packets; in the token's decoded bytes; at the JSON level, resealed under the
 * public handshake key) of the real packets in test/fixtures/corpus and of live sessions.
 *
 * Each target takes a budget (a number of cases or seconds) and returns a report, or throws a
 * FuzzFailure carrying fast-check's report (seed, path, shrunk counterexample).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import {
  AEAD_OVERHEAD, CMD_CONNECT, CMD_CONNECTED, DEFAULT_MAX_SESSIONS, FRAME_HEADER_BYTES, MAX_HANDSHAKE_DATAGRAM, MIN_V2_PACKET, NET_OBS_KEY,
  SESSION_FRAME_PAYLOAD_BYTES, TOKEN_FIRST_BYTE, X25519_KEY_BYTES,
} from '../../lib/constants.js';
import { CommEncryptor } from '../../lib/crypto/comm-encryptor.js';
import { DoCrypt, type DoCryptForm } from '../../lib/crypto/docrypt.js';
import { Fernet } from '../../lib/crypto/fernet.js';
import { toBase64Url } from '../../lib/encoding.js';
import { InvalidTokenError, LowOrderKeyError } from '../../lib/errors.js';
import type { DropReason } from '../../lib/net/counters.js';
import type { BittrrtServer } from '../../lib/net/server.js';
// The server with its file service, as a deployment runs it: the fuzzer reaches the transfer layer too.
import { createServer, type FileServerOptions as ServerOptions } from '../../lib/transfer/file-server.js';
import type { PeerAddress } from '../../lib/net/session.js';
import {
  Control, encodeFrame, Flag, frameHeaderBytes, readFrameHeader, SHORT_DATA_FLAGS, shortFrameOffset, shortFramePacket, type FrameHeader,
} from '../../lib/protocol/frame.js';
import { TransferFlags } from '../../lib/protocol/transfer.js';
import { encodeHandshake, parseHandshake, type HandshakeMessage, type HandshakeRejection } from '../../lib/protocol/handshake.js';
import { encodeCookieReply, encodeInitiation, encodeResponse, readCookieReply, readInitiation, readResponse, type Initiation, type Response } from '../../lib/protocol/handshake-v2.js';
import { closeSocket, openLoopbackSocket } from '../helpers/udp.js';
import { loadCorpus, type CorpusPacket } from './corpus.js';
import { Forger, framePlaintext, LiveClient, type FrameSpec } from './live.js';
import {
  applyByteMutation, applyJsonMutations, applyMutations, byteMutationArb, bytesUpTo, someBytes, jsonMutationsArb, jsonValueTextArb, keyishTextArb,
  mutationsArb, publicKeyArb, writeEntries, type ByteMutation, type JsonMutation, type Mutation,
} from './mutate.js';

/* ================= driver ================= */

export interface FuzzBudget {
  /** Cases to run (default 20,000 when `seconds` is not given). */
  runs?: number;
  /** Run for this long instead (whole chunks: it may overshoot by one chunk). */
  seconds?: number;
  /** Base seed; each chunk runs fast-check with seed + chunk * 7919. Random by default. */
  seed?: number;
  /** Cases per fast-check run. */
  chunk?: number;
}

export interface FuzzReport {
  target: string;
  cases: number;
  ms: number;
  seed: number;
  chunks: number;
  /** What the cases reached (outcomes, drop reasons...), for coverage. */
  stats: Record<string, number>;
}

export class FuzzFailure extends Error {
  constructor(readonly target: string, readonly chunkSeed: number, readonly baseSeed: number, readonly casesBefore: number, cause: unknown) {
    super(`fuzz target ${target} failed after ${casesBefore} passing cases (base seed ${baseSeed}, this chunk's fast-check seed `
      + `${chunkSeed}; rerun the target with { seed: ${baseSeed} } or replay the chunk with fast-check's seed and path below)\n`
      + `${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'FuzzFailure';
  }
}

type Stats = Record<string, number>;
const bump = (stats: Stats, key: string, n = 1): void => {
  stats[key] = (stats[key] ?? 0) + n;
};

export async function drive(target: string, budget: FuzzBudget, defaultChunk: number, runChunk: (runs: number, seed: number) => void,
  between?: (chunk: number) => Promise<void>): Promise<Omit<FuzzReport, 'stats'>> {
  const seed = budget.seed ?? (Math.floor(Math.random() * 0x7fff_ffff) ^ Date.now()) | 0;
  const total = budget.runs ?? (budget.seconds === undefined ? 20_000 : Infinity);
  const deadline = budget.seconds === undefined ? Infinity : performance.now() + budget.seconds * 1000;
  // A time budget runs in chunks of at most 2000 cases, so the clock is looked at now and then.
  const chunk = budget.chunk ?? (Number.isFinite(total) ? Math.min(defaultChunk, total) : Math.min(defaultChunk, 2000));
  const start = performance.now();
  let cases = 0;
  let chunks = 0;
  while (cases < total && performance.now() < deadline) {
    const runs = Math.min(chunk, total - cases);
    const chunkSeed = (seed + chunks * 7919) | 0;
    try {
      runChunk(runs, chunkSeed);
    } catch (err) {
      throw new FuzzFailure(target, chunkSeed, seed, cases, err);
    }
    cases += runs;
    chunks++;
    if (between) await between(chunks);
  }
  return { target, cases, ms: performance.now() - start, seed, chunks };
}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}

/** `arb` one time in `oneIn`, otherwise null (fc.option's `freq` is the other way round). */
const rarely = <T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const short = (b: Uint8Array, max = 200): string => (b.length > max ? `${hexOf(b.subarray(0, max))}... (${b.length} bytes)` : hexOf(b));

/* ================= shared data ================= */

let corpusCache: CorpusPacket[] | undefined;
function corpus(): CorpusPacket[] {
  corpusCache ??= loadCorpus();
  return corpusCache;
}
const corpusBytes = (): Buffer[] => corpus().map((p) => p.bytes);
const corpusTokens = (): CorpusPacket[] => corpus().filter((p) => p.bytes[0] === TOKEN_FIRST_BYTE);

/** Decrypted JSON of every handshake token in the corpus (connects, answers, cookie replies). */
function corpusJson(): string[] {
  const docrypt = new DoCrypt();
  return corpusTokens().map((p) => docrypt.fdecrypt(p.bytes).plaintext.toString('utf8'));
}

/** Reference strict decoder: padded URL-safe base64, nothing else (independent of lib/encoding.ts). */
const STRICT_BASE64URL = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;
function referenceBase64(value: unknown): Buffer | null {
  if (typeof value !== 'string' || value.length === 0 || !STRICT_BASE64URL.test(value)) return null;
  return Buffer.from(value, 'base64');
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
const bytesEqual = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === undefined || b === undefined ? a === b : Buffer.from(a).equals(Buffer.from(b));

/** A probe for small-order keys: X25519 with any of them gives all zeros, which `agree` refuses. */
const probe = new CommEncryptor();
function isLowOrder(key: Uint8Array): boolean {
  try {
    probe.agree(key).fill(0);
    return false;
  } catch (err) {
    if (err instanceof LowOrderKeyError) return true;
    throw err;
  }
}

/* ================= (a) Fernet / DoCrypt ================= */

const OBS_KEY = Buffer.from(NET_OBS_KEY, 'base64');
const SIGNING_KEY = OBS_KEY.subarray(0, 16);
const ENCRYPTION_KEY = OBS_KEY.subarray(16, 32);

/** Reference Fernet (the spec, written independently of lib/crypto/fernet.ts). */
export function referenceFernet(input: string | Uint8Array, ttl?: { ttlSeconds: number; now: number }): Buffer | null {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  const data = referenceBase64(text);
  if (data === null || data.length < 1 + 8 + 16 + 16 + 32 || (data.length - 57) % 16 !== 0 || data[0] !== 0x80) return null;
  const mac = createHmac('sha256', SIGNING_KEY).update(data.subarray(0, data.length - 32)).digest();
  if (!mac.equals(data.subarray(data.length - 32))) return null;
  if (ttl) {
    const timestamp = data.readBigUInt64BE(1);
    if (timestamp + BigInt(ttl.ttlSeconds) < BigInt(ttl.now) || timestamp > BigInt(ttl.now) + 60n) return null;
  }
  try {
    const decipher = createDecipheriv('aes-128-cbc', ENCRYPTION_KEY, data.subarray(9, 25));
    return Buffer.concat([decipher.update(data.subarray(25, data.length - 32)), decipher.final()]);
  } catch {
    return null;
  }
}

/** A Fernet token built field by field: valid, or wrong in exactly the ways chosen. */
interface ShapedToken {
  version: number;
  timestamp: bigint;
  iv: Uint8Array;
  body: Uint8Array;
  /** 'pkcs7': a real encryption; 'nopad': CBC without padding (bad padding, usually); 'raw': body as ciphertext. */
  cipher: 'pkcs7' | 'nopad' | 'raw';
  mac: 'valid' | 'random' | 'flipped' | 'short';
}

function buildToken(t: ShapedToken): string {
  let ciphertext: Buffer;
  if (t.cipher === 'raw') {
    ciphertext = Buffer.from(t.body);
  } else {
    const cipher = createCipheriv('aes-128-cbc', ENCRYPTION_KEY, t.iv);
    const body = t.cipher === 'nopad' ? t.body.subarray(0, t.body.length - (t.body.length % 16)) : t.body;
    cipher.setAutoPadding(t.cipher === 'pkcs7');
    ciphertext = Buffer.concat([cipher.update(body), cipher.final()]);
  }
  const header = Buffer.alloc(25);
  header[0] = t.version;
  header.writeBigUInt64BE(t.timestamp, 1);
  header.set(t.iv, 9);
  const signed = Buffer.concat([header, ciphertext]);
  let mac = createHmac('sha256', SIGNING_KEY).update(signed).digest();
  if (t.mac === 'random') mac = randomBytes(32);
  if (t.mac === 'flipped') mac[t.body.length % 32]! ^= 0x01;
  if (t.mac === 'short') mac = mac.subarray(0, t.body.length % 32);
  return toBase64Url(Buffer.concat([signed, mac]));
}

const nowSeconds = Math.floor(Date.now() / 1000);
const timestampArb = fc.oneof(
  fc.integer({ min: -200, max: 200 }).map((d) => BigInt(nowSeconds + d)),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, (1n << 53n) + 1n, (1n << 63n), (1n << 64n) - 1n),
);

const shapedTokenArb: fc.Arbitrary<ShapedToken> = fc.record({
  version: fc.oneof({ weight: 8, arbitrary: fc.constant(0x80) }, { weight: 1, arbitrary: fc.nat(255) }),
  timestamp: timestampArb,
  iv: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  body: fc.oneof(bytesUpTo(80), fc.constantFrom('{"cmd": "connect"}', '{', '', '12345678{"a": 1}').map((s) => Buffer.from(s))),
  cipher: fc.constantFrom<ShapedToken['cipher']>('pkcs7', 'pkcs7', 'nopad', 'raw'),
  mac: fc.constantFrom<ShapedToken['mac']>('valid', 'valid', 'valid', 'random', 'flipped', 'short'),
});

/** Strings in the URL-safe alphabet, a multiple of 4 long, padded or not: past the base64 check. */
const base64TextArb = fc.tuple(
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 300, size: 'max' }),
  fc.constantFrom(0, 1, 2),
  fc.boolean(),
).map(([s, pad, versioned]) => {
  const body = (versioned ? `gAAAAA${s}` : s);
  const whole = body.slice(0, body.length - (body.length % 4));
  return pad === 0 || whole.length < 4 ? whole : `${whole.slice(0, whole.length - pad)}${'='.repeat(pad)}`;
});

type FernetCase =
  | { kind: 'string'; text: string }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'base64'; text: string }
  | { kind: 'shaped'; token: ShapedToken }
  | { kind: 'mutated'; source: number; mutations: Mutation[] }
  | { kind: 'sealed'; plaintext: Uint8Array; form: DoCryptForm; salt: bigint };

const fernetCaseArb: fc.Arbitrary<FernetCase> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('string' as const), text: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300, size: 'max' }), fc.string({ maxLength: 300, size: 'max' })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: someBytes(400) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('base64' as const), text: base64TextArb }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('shaped' as const), token: shapedTokenArb }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('mutated' as const), source: fc.nat(), mutations: mutationsArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('sealed' as const),
      plaintext: fc.oneof(bytesUpTo(64), fc.json().map((s) => Buffer.from(s))),
      form: fc.constantFrom<DoCryptForm>('seed', 'salted'),
      salt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
  },
);

/** How the token reaches the decoder: text, datagram bytes, or a view into a larger buffer. */
type Delivery = 'string' | 'buffer' | 'view';

export function fuzzFernet(budget: FuzzBudget = {}): Promise<FuzzReport> {
  const stats: Stats = {};
  const docrypt = new DoCrypt();
  const fernet = new Fernet(NET_OBS_KEY);
  const sources = corpusTokens().map((p) => p.bytes);
  const donors = corpusBytes();

  const materialize = (c: FernetCase): string | Buffer => {
    switch (c.kind) {
      case 'string':
      case 'base64':
        return c.text;
      case 'bytes':
        return Buffer.from(c.bytes);
      case 'shaped':
        return buildToken(c.token);
      case 'mutated':
        return applyMutations(sources[c.source % sources.length]!, c.mutations, donors);
      case 'sealed':
        return docrypt.fencrypt(c.plaintext, { form: c.form, salt: c.salt });
    }
  };
  const deliver = (token: string | Buffer, how: Delivery): string | Buffer => {
    if (how === 'string') return typeof token === 'string' ? token : token.toString('latin1');
    const bytes = typeof token === 'string' ? Buffer.from(token, 'utf8') : token;
    return how === 'buffer' ? bytes : Buffer.concat([Buffer.from('xx'), bytes, Buffer.from('yy')]).subarray(2, 2 + bytes.length);
  };
  const attempt = <T>(fn: () => T): { value: T } | { error: InvalidTokenError } => {
    try {
      return { value: fn() };
    } catch (err) {
      if (err instanceof InvalidTokenError && err.code === 'ERR_INVALID_TOKEN') return { error: err };
      throw new Error(`an error other than InvalidTokenError escaped: ${err instanceof Error ? err.stack : String(err)}`);
    }
  };

  const property = fc.property(
    fernetCaseArb,
    fc.constantFrom<Delivery>('string', 'buffer', 'view'),
    rarely(fc.record({ ttlSeconds: fc.oneof(fc.nat(600), fc.nat()), skew: fc.integer({ min: -1000, max: 1000 }) }), 4),
    (c, how, ttlChoice) => {
      const input = deliver(materialize(c), how);
      const ttl = ttlChoice ? { ttlSeconds: ttlChoice.ttlSeconds, now: nowSeconds + ttlChoice.skew } : undefined;
      const expected = referenceFernet(input, ttl);
      const options = ttl ?? {};

      const raw = attempt(() => fernet.decrypt(input, options));
      const shown = (): string => `${c.kind} input ${typeof input === 'string' ? JSON.stringify(input.slice(0, 200)) : short(input)}`;
      check(('value' in raw) === (expected !== null), () => `Fernet.decrypt ${'value' in raw ? 'accepted' : `refused (${'error' in raw ? raw.error.message : ''})`} `
        + `a token the reference ${expected ? 'accepts' : 'refuses'}: ${shown()}`);
      if ('value' in raw) check(raw.value.equals(expected!), () => `Fernet.decrypt plaintext differs from the reference: ${shown()}`);

      const outer = attempt(() => docrypt.fdecrypt(input, options));
      if (expected === null) {
        check('error' in outer, () => `DoCrypt.fdecrypt accepted what Fernet refuses: ${shown()}`);
      } else if (expected[0] === 0x7b) {
        check('value' in outer && outer.value.form === 'seed' && outer.value.plaintext.equals(expected), () => `seed-form token misread: ${shown()}`);
      } else if (expected.length < 8) {
        check('error' in outer, () => `a salted token shorter than its counter was accepted: ${shown()}`);
      } else {
        check('value' in outer && outer.value.form === 'salted' && outer.value.plaintext.equals(expected.subarray(8)), () => `salted token misread: ${shown()}`);
      }
      bump(stats, 'error' in outer ? `refused: ${outer.error.message}` : `accepted: ${outer.value.form}`);
    },
  );
  return drive('fernet', budget, Infinity, (runs, seed) => fc.assert(property, { numRuns: runs, seed, includeErrorInReport: true }))
    .then((r) => ({ ...r, stats }));
}

/* ================= (b) handshake JSON ================= */

type Reference<T> = T | null;

function referenceParse(bytes: Uint8Array, cmd: HandshakeMessage['cmd']): { ok: true; pubkey: Buffer; fields: Record<string, unknown> } | { ok: false; reason: HandshakeRejection } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: 'bad-utf8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'bad-json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'bad-json' };
  const fields = value as Record<string, unknown>;
  if (!Object.hasOwn(fields, 'cmd') || fields.cmd !== cmd) return { ok: false, reason: 'bad-cmd' };
  const pubkey = Object.hasOwn(fields, 'pubkey') ? referenceBase64(fields.pubkey) : null;
  if (pubkey === null || pubkey.length !== X25519_KEY_BYTES) return { ok: false, reason: 'bad-pubkey' };
  return { ok: true, pubkey, fields };
}

const own = (fields: Record<string, unknown>, key: string): unknown => (Object.hasOwn(fields, key) ? fields[key] : undefined);

function referenceInitiation(fields: Record<string, unknown>): Reference<{ version: number; index: number; cid?: Buffer; cookie?: Buffer }> {
  const v = own(fields, 'v');
  const idx = own(fields, 'idx');
  if (!isU32(v) || v < 2 || !isU32(idx)) return null;
  const cidField = own(fields, 'cid');
  const cid = cidField === undefined ? undefined : referenceBase64(cidField);
  if (cid === null || (cid !== undefined && cid.length !== 32)) return null;
  const cookieField = own(fields, 'cookie');
  const cookie = cookieField === undefined ? undefined : referenceBase64(cookieField);
  if (cookie === null || (cookie !== undefined && cookie.length > 32)) return null;
  return { version: v, index: idx, ...(cid ? { cid } : {}), ...(cookie ? { cookie } : {}) };
}

function referenceResponse(fields: Record<string, unknown>): Reference<{ index: number; sid: Buffer; conf: Buffer }> {
  const idx = own(fields, 'idx');
  if (own(fields, 'v') !== 2 || !isU32(idx)) return null;
  const sid = referenceBase64(own(fields, 'sid'));
  const conf = referenceBase64(own(fields, 'conf'));
  if (sid === null || sid.length !== 32 || conf === null || conf.length !== 16) return null;
  return { index: idx, sid, conf };
}

function referenceCookie(bytes: Uint8Array): Reference<Buffer> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const fields = value as Record<string, unknown>;
  if (own(fields, 'cmd') !== 'cookie') return null;
  const cookie = referenceBase64(own(fields, 'cookie'));
  return cookie !== null && cookie.length <= 32 ? cookie : null;
}

function checkInitiation(init: Initiation, message: HandshakeMessage): void {
  check(Number.isInteger(init.version) && init.version >= 2 && init.version <= 0xffff_ffff, () => `readInitiation version ${init.version}`);
  check(isU32(init.index), () => `readInitiation index ${init.index} is not a u32`);
  check(init.ephemeralPublic === message.pubkey, () => 'readInitiation ephemeral key is not the message pubkey');
  check(init.clientStatic === undefined || (init.clientStatic instanceof Uint8Array && init.clientStatic.length === 32), () => 'readInitiation cid is not 32 bytes');
  check(init.cookie === undefined || (init.cookie instanceof Uint8Array && init.cookie.length >= 1 && init.cookie.length <= 32), () => 'readInitiation cookie is not 1-32 bytes');
}

function checkResponse(response: Response, message: HandshakeMessage): void {
  check(isU32(response.index), () => `readResponse index ${response.index} is not a u32`);
  check(response.ephemeralPublic === message.pubkey, () => 'readResponse ephemeral key is not the message pubkey');
  check(response.serverStatic instanceof Uint8Array && response.serverStatic.length === 32, () => 'readResponse sid is not 32 bytes');
  check(response.confirmation instanceof Uint8Array && response.confirmation.length === 16, () => 'readResponse conf is not 16 bytes');
}

/** Everything the handshake parsers do with one decrypted datagram, checked against the references. */
function checkHandshakePlaintext(bytes: Uint8Array, stats: Stats): void {
  const shown = (): string => JSON.stringify(Buffer.from(bytes).toString('latin1').slice(0, 400));
  for (const cmd of [CMD_CONNECT, CMD_CONNECTED] as const) {
    const got = parseHandshake(bytes, cmd);
    const expected = referenceParse(bytes, cmd);
    check(got.ok === expected.ok, () => `parseHandshake(${cmd}) ok=${got.ok}, reference ok=${expected.ok}: ${shown()}`);
    if (!got.ok || !expected.ok) {
      check(!got.ok && !expected.ok && got.reason === expected.reason, () => `parseHandshake(${cmd}) reason ${got.ok ? '' : got.reason}, reference ${expected.ok ? '' : expected.reason}: ${shown()}`);
      bump(stats, `${cmd}: ${got.ok ? '' : got.reason}`);
      continue;
    }
    const message = got.message;
    check(message.cmd === cmd && message.pubkey instanceof Uint8Array && message.pubkey.length === 32 && bytesEqual(message.pubkey, expected.pubkey),
      () => `parseHandshake(${cmd}) message malformed: ${shown()}`);
    check(typeof message.fields === 'object' && message.fields !== null && message.fields.cmd === cmd, () => `parseHandshake(${cmd}) fields malformed: ${shown()}`);
    // The encoder and parser agree on the key.
    const again = parseHandshake(Buffer.from(encodeHandshake(cmd, message.pubkey)), cmd);
    check(again.ok && bytesEqual(again.message.pubkey, message.pubkey), () => `encodeHandshake does not round-trip: ${shown()}`);

    const init = readInitiation(message);
    const refInit = referenceInitiation(expected.fields);
    check((init === null) === (refInit === null), () => `readInitiation ${init ? 'accepted' : 'refused'} fields the reference ${refInit ? 'accepts' : 'refuses'}: ${shown()}`);
    if (init && refInit) {
      checkInitiation(init, message);
      check(init.version === refInit.version && init.index === refInit.index && bytesEqual(init.clientStatic, refInit.cid) && bytesEqual(init.cookie, refInit.cookie),
        () => `readInitiation differs from the reference: ${shown()}`);
      bump(stats, `${cmd}: v2 initiation`);
    }
    const response = readResponse(message);
    const refResponse = referenceResponse(expected.fields);
    check((response === null) === (refResponse === null), () => `readResponse ${response ? 'accepted' : 'refused'} fields the reference ${refResponse ? 'accepts' : 'refuses'}: ${shown()}`);
    if (response && refResponse) {
      checkResponse(response, message);
      check(response.index === refResponse.index && bytesEqual(response.serverStatic, refResponse.sid) && bytesEqual(response.confirmation, refResponse.conf),
        () => `readResponse differs from the reference: ${shown()}`);
      bump(stats, `${cmd}: v2 response`);
    }
    bump(stats, `${cmd}: ok`);
  }
  const cookie = readCookieReply(bytes);
  const refCookie = referenceCookie(bytes);
  check(bytesEqual(cookie ?? undefined, refCookie ?? undefined), () => `readCookieReply ${cookie ? hexOf(cookie) : 'null'}, reference ${refCookie ? hexOf(refCookie) : 'null'}: ${shown()}`);
  check(cookie === null || (cookie instanceof Uint8Array && cookie.length <= 32), () => 'readCookieReply returned more than 32 bytes');
  if (cookie) bump(stats, 'cookie reply');
}

type HandshakeCase =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'text'; text: string }
  | { kind: 'json'; source: number; json: JsonMutation[]; tail: ByteMutation[] }
  | { kind: 'fields'; entries: Array<[string, string]> }
  | { kind: 'initiation'; init: Initiation }
  | { kind: 'response'; response: Response }
  | { kind: 'cookie'; cookie: Uint8Array };

const initiationArb: fc.Arbitrary<Initiation> = fc.record({
  version: fc.oneof({ weight: 5, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 0xffff_ffff }) }),
  ephemeralPublic: publicKeyArb,
  index: fc.nat({ max: 0xffff_ffff }),
  clientStatic: fc.option(publicKeyArb, { nil: undefined }),
  cookie: fc.option(bytesUpTo(32, 1), { nil: undefined }),
});
const responseArb: fc.Arbitrary<Response> = fc.record({
  ephemeralPublic: publicKeyArb,
  index: fc.nat({ max: 0xffff_ffff }),
  serverStatic: publicKeyArb,
  confirmation: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});

const handshakeCaseArb: fc.Arbitrary<HandshakeCase> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: someBytes(400) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('text' as const), text: fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200, size: 'max' }), fc.json({ maxDepth: 3 })) }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('json' as const), source: fc.nat(), json: jsonMutationsArb, tail: fc.array(byteMutationArb, { maxLength: 2 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('fields' as const),
      entries: fc.array(fc.tuple(fc.constantFrom('cmd', 'pubkey', 'v', 'idx', 'cid', 'cookie', 'sid', 'conf', 'pad'), jsonValueTextArb), { maxLength: 8 })
        .chain((rest) => fc.tuple(fc.constantFrom('"connect"', '"connected"', '"cookie"'), keyishTextArb)
          .map(([cmd, pubkey]): Array<[string, string]> => [['cmd', cmd], ['pubkey', pubkey], ...rest])),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('initiation' as const), init: initiationArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('response' as const), response: responseArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cookie' as const), cookie: bytesUpTo(32, 1) }) },
);

export function fuzzHandshake(budget: FuzzBudget = {}): Promise<FuzzReport> {
  const stats: Stats = {};
  const sources = corpusJson();

  const property = fc.property(handshakeCaseArb, (c) => {
    switch (c.kind) {
      case 'bytes':
        return checkHandshakePlaintext(c.bytes, stats);
      case 'text':
        return checkHandshakePlaintext(Buffer.from(c.text, 'utf8'), stats);
      case 'json': {
        let bytes: Buffer = Buffer.from(applyJsonMutations(sources[c.source % sources.length]!, c.json, sources), 'utf8');
        for (const m of c.tail) bytes = applyByteMutation(bytes, m, []);
        return checkHandshakePlaintext(bytes, stats);
      }
      case 'fields':
        return checkHandshakePlaintext(Buffer.from(writeEntries(c.entries)), stats);
      case 'initiation': {
        // What the client sends must read back as itself (when its keys are well-formed).
        const text = Buffer.from(encodeInitiation(c.init));
        checkHandshakePlaintext(text, stats);
        check(text.length >= CONNECT_PADDED_LENGTH, () => `encodeInitiation is shorter than the padded length: ${text.length}`);
        const parsed = parseHandshake(text, CMD_CONNECT);
        check(parsed.ok, () => 'encodeInitiation output does not parse');
        const back = readInitiation(parsed.message);
        check(back !== null && back.version === c.init.version && back.index === c.init.index && bytesEqual(back.ephemeralPublic, c.init.ephemeralPublic)
          && bytesEqual(back.clientStatic, c.init.clientStatic) && bytesEqual(back.cookie, c.init.cookie), () => `initiation does not round-trip: ${text.toString()}`);
        return;
      }
      case 'response': {
        const text = Buffer.from(encodeResponse(c.response));
        checkHandshakePlaintext(text, stats);
        const parsed = parseHandshake(text, CMD_CONNECTED);
        check(parsed.ok, () => 'encodeResponse output does not parse');
        const back = readResponse(parsed.message);
        check(back !== null && back.index === c.response.index && bytesEqual(back.serverStatic, c.response.serverStatic)
          && bytesEqual(back.confirmation, c.response.confirmation), () => `response does not round-trip: ${text.toString()}`);
        return;
      }
      case 'cookie': {
        const text = Buffer.from(encodeCookieReply(c.cookie));
        checkHandshakePlaintext(text, stats);
        check(bytesEqual(readCookieReply(text) ?? undefined, c.cookie), () => `cookie reply does not round-trip: ${text.toString()}`);
      }
    }
  });
  return drive('handshake', budget, Infinity, (runs, seed) => fc.assert(property, { numRuns: runs, seed, includeErrorInReport: true }))
    .then((r) => ({ ...r, stats }));
}

/* ================= (c) frame header ================= */

export function fuzzFrameHeader(budget: FuzzBudget = {}): Promise<FuzzReport> {
  const stats: Stats = {};
  const property = fc.property(
    fc.oneof(bytesUpTo(40), bytesUpTo(2000)),
    fc.nat(64),
    fc.boolean(),
    (bytes, offset, pooled) => {
      // The frame as a view at an offset into a larger buffer, as the receive path hands it over.
      const backing = pooled ? Buffer.allocUnsafe(offset + bytes.length + 7) : Buffer.alloc(offset + bytes.length + 7, 0xee);
      backing.set(bytes, offset);
      const frame = backing.subarray(offset, offset + bytes.length);
      let header: FrameHeader | null;
      try {
        header = readFrameHeader(frame);
      } catch (err) {
        throw new Error(`readFrameHeader threw on ${short(bytes)}: ${String(err)}`);
      }
      check((header === null) === (bytes.length < FRAME_HEADER_BYTES), () => `readFrameHeader returned ${header === null ? 'null' : 'a header'} for ${bytes.length} bytes`);
      bump(stats, header === null ? 'short' : 'header');
      if (!header) return;
      const b = Buffer.from(bytes);
      check(header.flags === b[0], () => `flags ${header.flags} for ${short(bytes, 20)}`);
      check(header.channel === ((b[1]! << 16) | (b[2]! << 8) | b[3]!), () => `channel ${header.channel} for ${short(bytes, 20)}`);
      check(header.sequence === b.readBigUInt64BE(4) && header.offset === b.readBigUInt64BE(12), () => `sequence/offset for ${short(bytes, 20)}`);
      check(Number.isInteger(header.channel) && header.channel >= 0 && header.channel <= 0xff_ffff, () => `channel ${header.channel} out of range`);
      if (header.flags !== SHORT_DATA_FLAGS) {
        check(encodeFrame(header).equals(b.subarray(0, FRAME_HEADER_BYTES)), () => `header does not round-trip: ${short(bytes, 20)}`);
        return;
      }
      // A short data frame's own fields, read from its 14 bytes.
      check(shortFramePacket(b) === b.readUInt32BE(4) && shortFrameOffset(b) === b.readUIntBE(8, 6), () => `short data frame fields for ${short(bytes, 20)}`);
      check(encodeFrame({ ...header, sequence: BigInt(shortFramePacket(b)), offset: BigInt(shortFrameOffset(b)) }).equals(b.subarray(0, 14)), () => `short header does not round-trip: ${short(bytes, 20)}`);
    },
  );
  return drive('frame-header', budget, Infinity, (runs, seed) => fc.assert(property, { numRuns: runs, seed, includeErrorInReport: true }))
    .then((r) => ({ ...r, stats }));
}

/* ================= (d) the server's receive path ================= */

/**
 * 'default': the server as the CLI runs it. 'crowded': a small session table and tight rate
 * limits, so the fuzzer reaches eviction, cookies (under load) and rate limiting.
 * Both compute handshakes on the socket thread: the oracle checks what each datagram did as
 * soon as receive() returns, and a handshake thread would answer later. The thread hand-off is
 * tested in test/net/handshake-threads.test.ts; every check before it is the same code.
 */
export type ServerProfile = 'default' | 'crowded';
export const SERVER_PROFILES: Record<ServerProfile, ServerOptions> = {
  default: { handshakeThreads: 0 },
  // Every source here is one host (loopback), live clients included, and limits are per host: the
  // tight budget is the global one (per-host limits: test/net/rate-limit.test.ts).
  crowded: { maxSessions: 8, handshakeThreads: 0, rateLimits: { perSourceBurst: 10_000, perSourceRate: 10_000, globalBurst: 64, globalRate: 50 } },
};

const DROP_REASONS: ReadonlySet<DropReason> = new Set<DropReason>([
  'bad-token', 'bad-utf8', 'bad-json', 'bad-cmd', 'bad-pubkey', 'oversized', 'low-order', 'unknown-session', 'bad-auth', 'replay',
  'bad-frame', 'session-limit', 'rate-limit', 'unauthorized', 'seed-refused', 'amplification', 'bad-transfer', 'host-session-limit',
  'stale-connect', 'rekey-limit', 'bad-path-response', 'optimistic-ack', 'expired-keys',
]);

/** Transfer requests a server without a files directory refuses with one answer (never a bandwidth test, which would start sending). */
const refusedTransferRequests = [
  { type: 'offer', name: 'a.bin', size: 10, resume: false, overwrite: false },
  { type: 'offer', name: '../etc/passwd', size: 1, resume: true, overwrite: true },
  { type: 'get', name: 'x', offset: 0, prefix: '' },
].map((m) => Buffer.from(JSON.stringify(m)));

type Pool = 'corpus' | 'live' | 'sealed';

const frameSpecArb: fc.Arbitrary<FrameSpec> = fc.oneof(
  // Heartbeats (some acks, some with other flag bits), mostly with the padded timestamp body (36 bytes).
  { weight: 20, arbitrary: fc.record({ flags: fc.constantFrom(Flag.HEARTBEAT, Flag.HEARTBEAT | Flag.ACK, Flag.HEARTBEAT | Flag.DATA, Flag.HEARTBEAT | Flag.URGENT), body: fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: SESSION_FRAME_PAYLOAD_BYTES, maxLength: SESSION_FRAME_PAYLOAD_BYTES }) }, { weight: 1, arbitrary: bytesUpTo(40) }) }).map(({ flags, body }) => ({ flags, channel: 0, body })) },
  { weight: 15, arbitrary: fc.record({ flags: fc.constantFrom(Flag.DATA, Flag.DATA | Flag.BINARY, Flag.DATA | Flag.UNLOSSY | Flag.ACK), channel: fc.nat(0xff_ffff), body: someBytes(1400) }) },
  // Rekey requests: a real or small-order key and an index; sometimes the wrong length.
  { weight: 15, arbitrary: fc.record({ key: publicKeyArb, index: fc.uint8Array({ minLength: 4, maxLength: 4 }), extra: fc.uint8Array({ maxLength: 3 }), exact: fc.boolean() }).map(({ key, index, extra, exact }) => ({ flags: Flag.CONTROL, channel: 2, body: Buffer.concat([key, index, exact ? Buffer.alloc(0) : extra]) })) },
  { weight: 10, arbitrary: fc.record({ flags: fc.constantFrom(Flag.CONTROL, Flag.CONTROL | Flag.HEARTBEAT, 0xff), channel: fc.oneof(fc.constantFrom(0, 3, 4, 0xff_ffff), fc.integer({ min: 2, max: 0xff_ffff })), body: bytesUpTo(40) }) },
  { weight: 15, arbitrary: fc.record({ flags: fc.nat(0x7f), channel: fc.nat(0xff_ffff), body: bytesUpTo(40) }) },
  { weight: 1, arbitrary: fc.record({ flags: fc.constant(Flag.CONTROL), channel: fc.constant(1), body: fc.uint8Array({ maxLength: 8 }) }) },
  // Path challenges and responses: mostly the 8 bytes they carry, sometimes another length.
  { weight: 8, arbitrary: fc.record({ channel: fc.constantFrom(Control.PATH_CHALLENGE, Control.PATH_RESPONSE), body: fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: SESSION_FRAME_PAYLOAD_BYTES, maxLength: SESSION_FRAME_PAYLOAD_BYTES }) }, { weight: 1, arbitrary: bytesUpTo(40) }) }).map(({ channel, body }) => ({ flags: Flag.CONTROL, channel, body })) },
  // The transfer layer: control messages (refusable requests, JSON-ish junk), acknowledgements and data for unknown transfers.
  { weight: 10, arbitrary: fc.record({
    flags: fc.constantFrom(TransferFlags.CONTROL, TransferFlags.ACK, TransferFlags.DATA, TransferFlags.SHORT_DATA, Flag.UNLOSSY),
    channel: fc.oneof(fc.constant(2), fc.nat(0xff_ffff)),
    body: fc.oneof(fc.constantFrom(...refusedTransferRequests), fc.json().map((j) => Buffer.from(j)), bytesUpTo(60)),
  }) },
).chain(({ flags, channel, body }) => fc.record({
  // A short data frame's offset field holds 48 bits.
  header: fc.record({ flags: fc.constant(flags), channel: fc.constant(channel), sequence: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), offset: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << (flags === TransferFlags.SHORT_DATA ? 48n : 64n)) - 1n })) }),
  body: fc.constant(body),
  cut: rarely(fc.nat(19), 20),
}));

type ReceiveInput =
  | { kind: 'bytes'; bytes: Uint8Array; lead: 'none' | 'token' | 'index'; donor: number }
  | { kind: 'mutate'; pool: Pool; source: number; mutations: Mutation[] }
  | { kind: 'replay'; pool: Pool; source: number }
  | { kind: 'reseal'; source: number; json: JsonMutation[]; text: ByteMutation[]; form: DoCryptForm; salt: bigint }
  | { kind: 'connect'; version: 1 | 2; pubkey: Uint8Array; cid: Uint8Array | undefined; cookie: Uint8Array | undefined; index: number; form: DoCryptForm; pad: boolean }
  | { kind: 'frame'; frame: FrameSpec; mutations: Mutation[] | null };

const poolArb = fc.constantFrom<Pool>('corpus', 'corpus', 'live', 'sealed');
const receiveInputArb: fc.Arbitrary<ReceiveInput> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.oneof(bytesUpTo(64), bytesUpTo(1500)), lead: fc.constantFrom<'none' | 'token' | 'index'>('none', 'token', 'index'), donor: fc.nat() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('mutate' as const), pool: poolArb, source: fc.nat(), mutations: mutationsArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), pool: poolArb, source: fc.nat() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('reseal' as const), source: fc.nat(), json: jsonMutationsArb, text: fc.array(byteMutationArb, { maxLength: 1 }), form: fc.constantFrom<DoCryptForm>('seed', 'salted'), salt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('connect' as const),
      version: fc.constantFrom<1 | 2>(1, 2, 2),
      pubkey: publicKeyArb,
      cid: rarely(publicKeyArb, 3).map((k) => k ?? undefined),
      cookie: rarely(fc.uint8Array({ minLength: 16, maxLength: 16 }), 5).map((c) => c ?? undefined),
      index: fc.nat({ max: 0xffff_ffff }),
      form: fc.constantFrom<DoCryptForm>('seed', 'salted'),
      pad: fc.constantFrom(true, true, true, true, false),
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('frame' as const), frame: frameSpecArb, mutations: rarely(mutationsArb, 3) }) },
);
const receiveStepArb = fc.record({ input: receiveInputArb, from: fc.nat() });
const receiveRunArb = fc.array(receiveStepArb, { minLength: 1, maxLength: 3 });

interface Snapshot {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  handshakes: number;
  retransmittedConnects: number;
  cookiesSent: number;
  pathChallenges: number;
  unvalidatedBytesOut: number;
  dropped: number;
  sessions: number;
  drops: Map<DropReason, number>;
}

function snapshot(server: BittrrtServer): Snapshot {
  const c = server.counters;
  return {
    packetsIn: c.packetsIn, packetsOut: c.packetsOut, bytesIn: c.bytesIn, bytesOut: c.bytesOut, handshakes: c.handshakes,
    retransmittedConnects: c.retransmittedConnects, cookiesSent: c.cookiesSent, pathChallenges: c.pathChallenges, unvalidatedBytesOut: c.unvalidatedBytesOut,
    dropped: c.dropped, sessions: server.sessionCount, drops: new Map(c.drops),
  };
}

/** What a datagram is, by an oracle that knows the (public) handshake key and holds the forger's keys. */
type Expectation =
  | { kind: 'invalid' }
  | { kind: 'connect'; acceptable: boolean; v2: boolean; pubkeyId: string }
  | { kind: 'frame'; spec: FrameSpec }
  | { kind: 'live-replay' };

class ReceiveHarness {
  readonly stats: Stats = {};
  forger: Forger | null = null;
  live: { v2: LiveClient | null; v1: LiveClient | null } = { v2: null, v1: null };
  /** Canonical pubkeys of connects the server accepted: only these may get a retransmitted answer. */
  readonly answered = new Set<string>();
  readonly maxSessions: number;
  readonly #oracle = new DoCrypt();
  readonly #docrypt = new DoCrypt();
  readonly #corpus = corpusBytes();
  readonly #json = corpusJson();
  #livePool: Buffer[] = [];
  #liveSet = new Set<string>();
  /** Times a session we expected to live (default profile) was gone. */
  unexpectedLoss = 0;
  #forgerClosedByFrame = false;
  /** Where the forger's server session sent before the datagram under test. */
  #remoteBefore: PeerAddress | null = null;

  constructor(readonly server: BittrrtServer, readonly port: number, readonly profile: ServerProfile, readonly sinks: Socket[]) {
    this.maxSessions = SERVER_PROFILES[profile].maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  /** Between chunks: revive the live sessions, give them fresh traffic, rebuild the live pool. */
  async refresh(chunk: number): Promise<void> {
    if (this.forger && !this.forger.alive) {
      if (this.profile === 'default' && !this.#forgerClosedByFrame) this.unexpectedLoss++;
      await this.forger.close();
      this.forger = null;
    }
    this.#forgerClosedByFrame = false;
    this.forger ??= await Forger.open(this.server, this.port, 20).catch(() => null);
    if (!this.forger) bump(this.stats, 'forger handshake failed');
    for (const version of [2, 1] as const) {
      const key = version === 2 ? 'v2' : 'v1';
      let client = this.live[key];
      if (client && !client.alive) {
        if (this.profile === 'default' && version === 2) this.unexpectedLoss++;
        await client.close();
        client = null;
      }
      client ??= await LiveClient.open(this.port, version).catch(() => null);
      this.live[key] = client;
      await client?.exercise(chunk).catch(() => undefined);
    }
    this.#livePool = [...(this.live.v2?.packets() ?? []), ...(this.live.v1?.packets() ?? [])];
    this.#liveSet = new Set(this.#livePool.map(hexOf));
    for (const packet of this.#livePool) {
      const connect = this.classifyToken(packet);
      if (connect?.kind === 'connect') this.answered.add(connect.pubkeyId);
    }
    // Let what the live clients sent land before the next synchronous chunk.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }

  get ports(): number[] {
    return [...this.sinks.map((s) => s.address().port), this.live.v2?.address.port ?? 9, this.live.v1?.address.port ?? 9, this.forger?.address.port ?? 9];
  }

  pool(pool: Pool): Buffer[] {
    if (pool === 'live' && this.#livePool.length > 0) return this.#livePool;
    if (pool === 'sealed' && this.forger && this.forger.delivered.length > 0) return this.forger.delivered;
    return this.#corpus;
  }

  /** The datagram for an input, and for an authentic sealed frame its spec. */
  materialize(input: ReceiveInput): { datagram: Buffer; frame: FrameSpec | null } {
    switch (input.kind) {
      case 'bytes': {
        const bytes = Buffer.from(input.bytes);
        if (input.lead === 'token' && bytes.length > 0) bytes[0] = TOKEN_FIRST_BYTE;
        if (input.lead === 'index') {
          // The receiver index of a live session (or a dead one): routed to it, then it must fail the AEAD.
          const donors = [...this.pool('sealed'), ...this.pool('live')].filter((p) => p.length >= 4 && p[0] !== TOKEN_FIRST_BYTE);
          const donor = donors[input.donor % Math.max(1, donors.length)];
          if (donor) donor.copy(bytes, 0, 0, Math.min(4, bytes.length));
        }
        return { datagram: bytes, frame: null };
      }
      case 'mutate': {
        const pool = this.pool(input.pool);
        return { datagram: applyMutations(pool[input.source % pool.length]!, input.mutations, this.#corpus), frame: null };
      }
      case 'replay': {
        const pool = this.pool(input.pool);
        return { datagram: Buffer.from(pool[input.source % pool.length]!), frame: null };
      }
      case 'reseal': {
        let json: Buffer = Buffer.from(applyJsonMutations(this.#json[input.source % this.#json.length]!, input.json, this.#json), 'utf8');
        for (const m of input.text) json = applyByteMutation(json, m, []);
        return { datagram: Buffer.from(this.#docrypt.fencrypt(json, { form: input.form, salt: input.salt }), 'ascii'), frame: null };
      }
      case 'connect': {
        let json = input.version === 1
          ? encodeHandshake(CMD_CONNECT, input.pubkey)
          : encodeInitiation({ version: 2, ephemeralPublic: input.pubkey, index: input.index, clientStatic: input.cid, cookie: input.cookie });
        if (!input.pad) json = json.replace(/, "pad": "\.*"/, '');
        return { datagram: Buffer.from(this.#docrypt.fencrypt(json, { form: input.form }), 'ascii'), frame: null };
      }
      case 'frame': {
        if (!this.forger) return { datagram: Buffer.alloc(0), frame: null };
        const sealed = this.forger.seal(framePlaintext(input.frame));
        if (!input.mutations) return { datagram: sealed, frame: input.frame };
        const mutated = applyMutations(sealed, input.mutations, this.#corpus);
        // A mutation can leave the packet as it was: then it is the authentic frame.
        return { datagram: mutated, frame: mutated.equals(sealed) ? input.frame : null };
      }
    }
  }

  /** For a token: whether it is a connect, and whether the server may accept it. */
  classifyToken(datagram: Buffer): Expectation | null {
    if (datagram.length > MAX_HANDSHAKE_DATAGRAM || datagram[0] !== TOKEN_FIRST_BYTE) return null;
    let plaintext: Buffer;
    try {
      plaintext = this.#oracle.fdecrypt(datagram).plaintext;
    } catch {
      return null;
    }
    const parsed = parseHandshake(plaintext, CMD_CONNECT);
    if (!parsed.ok) return null;
    const init = readInitiation(parsed.message);
    const lowOrder = isLowOrder(parsed.message.pubkey) || (init?.clientStatic !== undefined && isLowOrder(init.clientStatic));
    const shapeOk = init ? plaintext.length >= CONNECT_PADDED_LENGTH : true; // allowSeed: both profiles serve version 1
    return { kind: 'connect', acceptable: shapeOk && !lowOrder, v2: init !== null && shapeOk, pubkeyId: toBase64Url(parsed.message.pubkey) };
  }

  classify(datagram: Buffer, frame: FrameSpec | null): Expectation {
    // A cut frame whose header is incomplete is invalid (only a short data frame's header fits in fewer than 20 bytes).
    if (frame && this.forger?.alive && datagram.length >= MIN_V2_PACKET && datagram.length >= AEAD_OVERHEAD + frameHeaderBytes(frame.header.flags)) {
      return { kind: 'frame', spec: frame };
    }
    const token = this.classifyToken(datagram);
    if (token) return token;
    if (this.#liveSet.has(hexOf(datagram))) return { kind: 'live-replay' };
    return { kind: 'invalid' };
  }

  /** Feeds one datagram through the whole receive path and checks what the server did. */
  feed(input: ReceiveInput, from: number): void {
    const { datagram, frame } = this.materialize(input);
    const ports = this.ports;
    const rinfo: PeerAddress = { address: '127.0.0.1', port: ports[from % ports.length]! };
    const expectation = this.classify(datagram, frame);
    const remote = this.forger?.serverSession.remote;
    this.#remoteBefore = remote ? { ...remote } : null;
    const before = snapshot(this.server);
    try {
      this.server.receive(datagram, rinfo);
    } catch (err) {
      throw new Error(`an exception escaped server.receive for ${input.kind} datagram ${short(datagram)}: ${err instanceof Error ? err.stack : String(err)}`);
    }
    const after = snapshot(this.server);
    const d = {
      packetsOut: after.packetsOut - before.packetsOut, handshakes: after.handshakes - before.handshakes,
      retransmitted: after.retransmittedConnects - before.retransmittedConnects, cookies: after.cookiesSent - before.cookiesSent,
      dropped: after.dropped - before.dropped, sessions: after.sessions - before.sessions,
      unvalidatedOut: after.unvalidatedBytesOut - before.unvalidatedBytesOut, challenges: after.pathChallenges - before.pathChallenges,
    };
    const reasons = [...after.drops].filter(([r, n]) => n !== (before.drops.get(r) ?? 0)).map(([r]) => r);
    const what = (): string => `${expectation.kind} (${input.kind}) datagram of ${datagram.length} bytes from port ${rinfo.port}: ${short(datagram)}\n`
      + `  deltas ${JSON.stringify(d)}, drop reasons ${JSON.stringify(reasons)}, sessions ${before.sessions} -> ${after.sessions}`;

    // Every datagram: counted once, at most one drop reason, known reasons, bounded state, no amplification.
    check(after.packetsIn - before.packetsIn === 1 && after.bytesIn - before.bytesIn === datagram.length, () => `input counters off: ${what()}`);
    check(d.dropped >= 0 && d.dropped <= 1 && reasons.length === d.dropped, () => `dropped ${d.dropped} times: ${what()}`);
    check(reasons.every((r) => DROP_REASONS.has(r)), () => `unknown drop reason: ${what()}`);
    check(after.sessions <= this.maxSessions, () => `session table over its bound ${this.maxSessions}: ${what()}`);
    check(d.handshakes <= 1 && d.sessions <= d.handshakes, () => `sessions appeared without a handshake: ${what()}`);
    check(d.unvalidatedOut <= datagram.length, () => `an unvalidated answer larger than its request: ${what()}`);
    bump(this.stats, `input: ${expectation.kind}`);
    for (const r of reasons) bump(this.stats, `drop: ${r}`);

    switch (expectation.kind) {
      case 'invalid':
        check(d.packetsOut === 0, () => `answered an invalid datagram: ${what()}`);
        check(d.handshakes === 0 && d.sessions === 0, () => `an invalid datagram changed the session table: ${what()}`);
        check(d.dropped === 1, () => `an invalid datagram was not counted as dropped: ${what()}`);
        return;
      case 'live-replay':
        // A live client's own packet, maybe still in flight: version 1 has no replay protection.
        check(d.packetsOut <= 1 && d.handshakes === 0 && d.sessions <= 0, () => `a replayed live packet did too much: ${what()}`);
        return;
      case 'connect':
        return this.checkConnect(expectation, d, what);
      case 'frame':
        return this.checkFrame(expectation.spec, datagram, rinfo, d, reasons, what);
    }
  }

  private checkConnect(e: Extract<Expectation, { kind: 'connect' }>, d: Record<string, number>, what: () => string): void {
    if (e.acceptable) {
      // A reply, and maybe a CLOSE to the session it evicted.
      check(d.packetsOut! <= 2, () => `a connect caused ${d.packetsOut} datagrams: ${what()}`);
      check(d.packetsOut === 0 || d.handshakes! + d.retransmitted! + d.cookies! === 1, () => `a connect was answered without a handshake, cookie or retransmission: ${what()}`);
      check(d.sessions! >= 0, () => `a connect evicted a session without taking its place: ${what()}`);
      if (d.handshakes === 1) this.answered.add(e.pubkeyId);
      bump(this.stats, d.handshakes === 1 ? 'connect: accepted' : d.retransmitted === 1 ? 'connect: retransmission' : d.cookies === 1 ? 'connect: cookie' : 'connect: refused');
      return;
    }
    // Not acceptable (small-order key, unpadded version 2): no session, and no answer except a
    // cookie (sent before any key is looked at) or the stored answer for a key already accepted.
    check(d.handshakes === 0 && d.sessions === 0, () => `a connect that must be refused changed the session table: ${what()}`);
    check(d.packetsOut === d.cookies! + d.retransmitted! && d.packetsOut! <= 1, () => `a connect that must be refused was answered: ${what()}`);
    check(d.cookies === 0 || e.v2, () => `a cookie for something other than a version-2 connect: ${what()}`);
    check(d.retransmitted === 0 || this.answered.has(e.pubkeyId), () => `a "retransmission" answer for a key never accepted: ${what()}`);
    bump(this.stats, d.cookies ? 'refusable connect: cookie sent' : d.retransmitted ? 'refusable connect: stored answer resent' : 'refusable connect: dropped');
  }

  private checkFrame(spec: FrameSpec, datagram: Buffer, rinfo: PeerAddress, d: Record<string, number>, reasons: DropReason[], what: () => string): void {
    const forger = this.forger!;
    const session = forger.serverSession;
    const { flags, channel } = spec.header;
    const body = spec.body;
    let out: number | 'at most one' = 0;
    let drop: number | 'any' = 0;
    let closes = false;
    let branch: string;
    if (flags & Flag.CONTROL) {
      if (channel === 1) {
        closes = true;
        branch = 'close';
      } else if (channel === Control.REKEY_INIT && body.length === SESSION_FRAME_PAYLOAD_BYTES) {
        // Refused while a rotation is pending or one was answered within the interval; else
        // answered, unless the key is low-order.
        const limited = reasons.includes('rekey-limit');
        const low = !limited && isLowOrder(body.subarray(0, 32));
        out = limited || low ? 0 : 1;
        drop = limited || low ? 1 : 0;
        branch = limited ? 'rekey-init limited' : low ? 'rekey-init low-order' : 'rekey-init';
      } else if (channel === Control.PATH_CHALLENGE && body.length === SESSION_FRAME_PAYLOAD_BYTES) {
        out = 1;
        branch = 'path challenge';
      } else if (channel === Control.PATH_RESPONSE && body.length === SESSION_FRAME_PAYLOAD_BYTES) {
        // It answers no challenge of ours: the fuzzer never sees one.
        drop = 1;
        check(reasons.includes('bad-path-response'), () => `an unsolicited path response was not counted: ${what()}`);
        branch = 'path response';
      } else {
        drop = 1;
        branch = 'control other';
      }
    } else if (flags & Flag.HEARTBEAT) {
      if (body.length !== SESSION_FRAME_PAYLOAD_BYTES) {
        drop = 1;
        branch = 'heartbeat bad length';
      } else if (!(flags & Flag.ACK)) {
        out = 1;
        branch = 'heartbeat';
      } else {
        drop = 'any';
        branch = 'heartbeat ack';
      }
    } else if (flags & Flag.UNLOSSY) {
      // The transfer layer answers a refusable request once, and drops what it cannot use.
      drop = 'any';
      out = 'at most one';
      branch = 'transfer';
    } else if (flags & Flag.DATA) {
      branch = 'data';
    } else {
      drop = 1;
      branch = 'no known flag';
    }
    bump(this.stats, `authentic frame: ${branch}`);
    // A frame from an address the session does not send to draws at most one path challenge there.
    const before = this.#remoteBefore;
    const elsewhere = before !== null && (before.address !== rinfo.address || before.port !== rinfo.port);
    check(d.challenges! <= (elsewhere ? 1 : 0), () => `${d.challenges} path challenges for a frame from ${elsewhere ? 'a new' : 'the validated'} address: ${what()}`);
    if (d.challenges) bump(this.stats, 'authentic frame from a new address: challenged');
    const answers = d.packetsOut! - d.challenges!;
    check(out === 'at most one' ? answers <= 1 : answers === out, () => `authentic ${branch} frame: expected ${out} datagrams out, got ${d.packetsOut}: ${what()}`);
    check(drop === 'any' || d.dropped === drop, () => `authentic ${branch} frame: expected ${drop} drops: ${what()}`);
    check(d.handshakes === 0, () => `a frame made a handshake: ${what()}`);
    if (closes) {
      check(session.closed && d.sessions === -1, () => `a CLOSE frame did not close the session: ${what()}`);
      this.#forgerClosedByFrame = true;
      return;
    }
    check(!session.closed && d.sessions === 0 && session.confirmed, () => `an authentic frame ended the session: ${what()}`);
    // Traffic moves only to an address that answered a challenge, which no fuzzed datagram can.
    check(before !== null && session.remote.address === before.address && session.remote.port === before.port,
      () => `the session moved to ${session.remote.port} without a path check: ${what()}`);
    if (reasons.includes('low-order')) check(branch === 'rekey-init low-order', () => `low-order drop outside a rekey: ${what()}`);
    forger.remember(datagram);
  }

  async close(): Promise<void> {
    await this.forger?.close();
    await this.live.v2?.close();
    await this.live.v1?.close();
  }
}

export interface ReceiveBudget extends FuzzBudget {
  profile?: ServerProfile;
}

export async function fuzzServerReceive(budget: ReceiveBudget = {}): Promise<FuzzReport> {
  const profile = budget.profile ?? 'default';
  const server = createServer(SERVER_PROFILES[profile]);
  const errors: Error[] = [];
  server.on('error', (err) => errors.push(err));
  const { port } = await server.listen(0, '127.0.0.1');
  const sinks = await Promise.all([0, 1, 2, 3].map(() => openLoopbackSocket()));
  for (const sink of sinks) sink.on('message', () => {});
  const harness = new ReceiveHarness(server, port, profile, sinks);
  try {
    await harness.refresh(0);
    const property = fc.property(receiveRunArb, (steps) => {
      for (const { input, from } of steps) harness.feed(input, from);
    });
    const report = await drive(`server-receive (${profile})`, budget, 500, (runs, seed) => fc.assert(property, { numRuns: runs, seed, includeErrorInReport: true }),
      async (chunk) => {
        check(errors.length === 0, () => `the server emitted an error: ${errors[0]?.stack}`);
        await harness.refresh(chunk);
      });
    check(errors.length === 0, () => `the server emitted an error: ${errors[0]?.stack}`);
    // Fuzzing must not have broken the sessions it did not legitimately end.
    if (profile === 'default') {
      check(harness.unexpectedLoss === 0, () => `${harness.unexpectedLoss} live session(s) ended during fuzzing`);
      const live = harness.live.v2;
      check(live !== null && live.alive, () => 'the live version-2 client is gone');
      const rtt = await live.session.ping(2000).catch((err: unknown) => err);
      check(typeof rtt === 'number', () => `the live version-2 session no longer answers a ping: ${String(rtt)}`);
    }
    const stats = { ...harness.stats, 'sessions at end': server.sessionCount, 'server handshakes': server.counters.handshakes };
    return { ...report, stats };
  } finally {
    await harness.close();
    await server.close();
    for (const sink of sinks) await closeSocket(sink);
  }
}

/* ================= registry ================= */

export interface TargetEntry {
  name: string;
  run(budget: FuzzBudget): Promise<FuzzReport>;
}

export const TARGETS: readonly TargetEntry[] = [
  { name: 'fernet', run: fuzzFernet },
  { name: 'handshake', run: fuzzHandshake },
  { name: 'frame-header', run: fuzzFrameHeader },
  { name: 'server-receive', run: (b) => fuzzServerReceive({ ...b, profile: 'default' }) },
  { name: 'server-receive-crowded', run: (b) => fuzzServerReceive({ ...b, profile: 'crowded' }) },
];
