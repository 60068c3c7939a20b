import { CMD_CONNECT, CMD_CONNECTED, X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url, toBase64Url } from '../encoding.js';
import { readJsonObject } from './json.js';

/** Why a handshake datagram was dropped; each reason has its own counter. */
export type HandshakeRejection = 'bad-token' | 'bad-utf8' | 'bad-json' | 'bad-cmd' | 'bad-pubkey';

export interface HandshakeMessage {
  cmd: typeof CMD_CONNECT | typeof CMD_CONNECTED;
  pubkey: Uint8Array;
  /** Every field of the JSON object, including ones this version does not use. */
  fields: Readonly<Record<string, unknown>>;
}

export type ParsedHandshake = { ok: true; message: HandshakeMessage } | { ok: false; reason: HandshakeRejection };

/** Extra handshake fields: the original ignores any it does not know. */
export type HandshakeFields = Readonly<Record<string, string | number>>;

/** JSON text of a value as Python's json.dumps writes it: everything outside ' '..'~' escaped. */
function pythonJson(value: string | number): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Serialises a handshake message the way the original's `json.dumps` does, spaces and ASCII
 * escapes included, so our datagrams look like the original's on the wire.
 */
export function encodeHandshake(cmd: HandshakeMessage['cmd'], pubkey: Uint8Array, extra: HandshakeFields = {}): string {
  const entries: Array<[string, string | number]> = [['cmd', cmd], ['pubkey', toBase64Url(pubkey)], ...Object.entries(extra)];
  return `{${entries.map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(', ')}}`;
}

/** Parses the decrypted text of a handshake datagram; never throws. */
export function parseHandshake(plaintext: Uint8Array, expectedCmd: HandshakeMessage['cmd']): ParsedHandshake {
  const json = readJsonObject(plaintext);
  if (!json.ok) return json;
  const { fields } = json;
  if (fields.cmd !== expectedCmd) return { ok: false, reason: 'bad-cmd' };
  const pubkey = typeof fields.pubkey === 'string' ? fromBase64Url(fields.pubkey) : null;
  if (pubkey === null || pubkey.length !== X25519_KEY_BYTES) return { ok: false, reason: 'bad-pubkey' };
  return { ok: true, message: { cmd: expectedCmd, pubkey, fields } };
}
