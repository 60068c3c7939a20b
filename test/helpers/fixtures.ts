import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Test fixtures live in test/fixtures/ of the source tree, not next to the compiled tests in
 * dist/test/, so they are found from the working directory (mocha runs from the project root).
 * The walk up from process.cwd() lets a test also run from a subdirectory.
 */
export function fixturePath(name: string): string {
  let dir = process.cwd();
  for (let depth = 0; depth < 16; depth++) {
    const candidate = path.join(dir, 'test', 'fixtures', name);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`fixture ${name} not found under test/fixtures/ from ${process.cwd()} or any parent directory`);
}

/** Parses a JSON fixture from test/fixtures/. */
export function loadFixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as T;
}

/** Hex text to bytes (fixtures store byte strings as hex). */
export function unhex(text: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new Error(`not a hex byte string: ${text}`);
  return Buffer.from(text, 'hex');
}

/** Bytes to hex text, so assertions compare strings and failures print readably. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Epoch seconds of an ISO date string (the Fernet spec vectors' `now`). */
export function epochSeconds(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not a date: ${iso}`);
  return Math.floor(ms / 1000);
}

export interface CommMessageVector {
  plaintext: string;
  associated_data: string;
  nonce: string;
  encrypted: string;
}

export interface FramedMessageVector {
  flags: number;
  channel: number;
  sequence: number;
  offset: number;
  payload: string;
  nonce: string;
  encrypted: string;
}

export interface CommEncryptorVector {
  secret_a: string;
  public_a: string;
  public_a_b64url: string;
  secret_b: string;
  public_b: string;
  shared_secret: string;
  derived_key: string;
  messages: CommMessageVector[];
  framed_message: FramedMessageVector;
}

export interface DoCryptSeedVector {
  json: string;
  time: number;
  iv: string;
  token: string;
}

export interface DoCryptSaltedVector extends DoCryptSeedVector {
  salt: number;
}

export interface PythonFixture {
  about: string;
  net_obs_key: string;
  hkdf: { hash: string; salt: null; info_ascii: string; length: number };
  docrypt_seed: DoCryptSeedVector[];
  docrypt_salted: DoCryptSaltedVector[];
  comm_encryptor: CommEncryptorVector[];
}

export function loadPythonFixture(): PythonFixture {
  return loadFixture<PythonFixture>('python-bittrrt.json');
}

export interface FernetGenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}

export interface FernetVerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}

export interface FernetInvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}
