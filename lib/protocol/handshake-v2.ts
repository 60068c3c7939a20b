import {
  CMD_CONNECT, CMD_CONNECTED, CMD_COOKIE, CONFIRM_BYTES, CONNECT_PADDED_LENGTH, COOKIE_MAX_BYTES, PROTOCOL_VERSION, X25519_KEY_BYTES,
} from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { encodeHandshake, type HandshakeFields, type HandshakeMessage } from './handshake.js';
import { readJsonObject } from './json.js';

/**
 * Version 2's handshake fields, on top of the seed's JSON messages (codecs only: the key
 * agreement over them is lib/net/handshake/key-agreement.ts):
 *
 *   connect   {"cmd", "pubkey": E_c, "v": 2, "idx": I_c, ["cid": C], ["cookie"], "pad"}
 *   connected {"cmd", "pubkey": E_s, "v": 2, "idx": I_s, "sid": S, "conf"}
 *   cookie    {"cmd", "cookie"}   (the server's answer under load)
 */

export interface Initiation {
  /** The version the client asked for (bound into the transcript: a forged one fails). */
  version: number;
  ephemeralPublic: Uint8Array;
  index: number;
  clientStatic?: Uint8Array;
  cookie?: Uint8Array;
}

export interface Response {
  ephemeralPublic: Uint8Array;
  index: number;
  serverStatic: Uint8Array;
  confirmation: Uint8Array;
}

const isIndex = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff_ffff;

function optionalKey(value: unknown): Uint8Array | undefined | null {
  if (value === undefined) return undefined;
  const key = typeof value === 'string' ? fromBase64Url(value) : null;
  return key?.length === X25519_KEY_BYTES ? key : null;
}

/** The client's `connect` JSON, padded to CONNECT_PADDED_LENGTH. */
export function encodeInitiation(init: Initiation): string {
  const fields: Record<string, string | number> = { v: init.version, idx: init.index };
  if (init.clientStatic) fields.cid = toBase64Url(init.clientStatic);
  if (init.cookie) fields.cookie = toBase64Url(init.cookie);
  const unpadded = encodeHandshake(CMD_CONNECT, init.ephemeralPublic, { ...fields, pad: '' });
  return encodeHandshake(CMD_CONNECT, init.ephemeralPublic, { ...fields, pad: '.'.repeat(Math.max(0, CONNECT_PADDED_LENGTH - unpadded.length)) });
}

/** Version-2 fields of a parsed `connect`; null when the client offered no (valid) version 2. */
export function readInitiation(message: HandshakeMessage): Initiation | null {
  const { v, idx, cid, cookie } = message.fields;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < PROTOCOL_VERSION || v > 0xffff_ffff || !isIndex(idx)) return null;
  const clientStatic = optionalKey(cid);
  if (clientStatic === null) return null;
  let cookieBytes: Uint8Array | undefined;
  if (cookie !== undefined) {
    const decoded = typeof cookie === 'string' ? fromBase64Url(cookie) : null;
    if (decoded === null || decoded.length > COOKIE_MAX_BYTES) return null;
    cookieBytes = decoded;
  }
  return { version: v, ephemeralPublic: message.pubkey, index: idx, clientStatic, cookie: cookieBytes };
}

export function encodeResponse(response: Response): string {
  return encodeHandshake(CMD_CONNECTED, response.ephemeralPublic, {
    v: PROTOCOL_VERSION,
    idx: response.index,
    sid: toBase64Url(response.serverStatic),
    conf: toBase64Url(response.confirmation),
  } satisfies HandshakeFields);
}

/** Version-2 fields of a parsed `connected`; null when the server answered with the seed's protocol. */
export function readResponse(message: HandshakeMessage): Response | null {
  const { v, idx, sid, conf } = message.fields;
  if (v !== PROTOCOL_VERSION || !isIndex(idx)) return null;
  const serverStatic = optionalKey(sid);
  const confirmation = typeof conf === 'string' ? fromBase64Url(conf) : null;
  if (!serverStatic || confirmation?.length !== CONFIRM_BYTES) return null;
  return { ephemeralPublic: message.pubkey, index: idx, serverStatic, confirmation };
}

/** The server's cookie answer (see CookieJar). Short, so it is never larger than the `connect` it answers. */
export function encodeCookieReply(cookie: Uint8Array): string {
  return `{"cmd": "${CMD_COOKIE}", "cookie": "${toBase64Url(cookie)}"}`;
}

/** The cookie of a decrypted cookie answer; null for anything else. Never throws. */
export function readCookieReply(plaintext: Uint8Array): Uint8Array | null {
  const json = readJsonObject(plaintext);
  if (!json.ok) return null;
  const { cmd, cookie } = json.fields;
  if (cmd !== CMD_COOKIE || typeof cookie !== 'string') return null;
  const bytes = fromBase64Url(cookie);
  return bytes !== null && bytes.length <= COOKIE_MAX_BYTES ? bytes : null;
}
