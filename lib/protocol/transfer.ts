import { readSafeU64, writeSafeU64 } from '../bytes.js';
import { MAX_BANDWIDTH_SECONDS, MAX_FILE_NAME_BYTES, MAX_PATH_BYTES, MAX_SACK_RANGES, MAX_TRANSFER_MESSAGE_BYTES } from '../constants.js';
import { UNPRINTABLE } from '../encoding.js';
import { Flag, SHORT_DATA_FLAGS } from './frame.js';
import { readJsonObject } from './json.js';

/**
 * The file-transfer layer's frames, inside version-2 sessions. Every one carries UNLOSSY; the
 * frame channel is the transfer id. Three kinds, told apart by the other flags:
 *   DATA|BINARY   file bytes: sequence = packet number (new for every transmission), offset = byte offset
 *   DATA          the same in a short data frame (frame.ts): to a peer whose offer, get, bandwidth
 *                 or accept said `"short":true`, "I read them"
 *   ACK|FLOW_CONTROL  acknowledgement: sequence = largest packet number received, offset = every byte
 *                 below it received; body = window end (8) || ack delay in µs (4) || SACK spans (8 + 8 each)
 *   URGENT        a control message: JSON (below)
 */
export const TransferFlags = {
  DATA: Flag.UNLOSSY | Flag.DATA | Flag.BINARY,
  SHORT_DATA: SHORT_DATA_FLAGS,
  ACK: Flag.UNLOSSY | Flag.ACK | Flag.FLOW_CONTROL,
  CONTROL: Flag.UNLOSSY | Flag.URGENT,
} as const;

export interface Acknowledgement {
  /** Sender may send bytes below this offset (flow control). */
  windowEnd: number;
  /** Microseconds between receiving the largest packet and sending this acknowledgement. */
  delayMicros: number;
  /** Received spans above the cumulative offset, lowest first. */
  spans: Array<[number, number]>;
}

const ACK_FIXED_BYTES = 12;
const SPAN_BYTES = 16;

/** How many SACK spans fit in an acknowledgement of at most `bodyBytes`. */
export function spansThatFit(bodyBytes: number): number {
  return Math.max(0, Math.min(MAX_SACK_RANGES, Math.floor((bodyBytes - ACK_FIXED_BYTES) / SPAN_BYTES)));
}

/** Bytes of an acknowledgement's body with `spans` spans. */
export function ackBytes(spans: number): number {
  return ACK_FIXED_BYTES + spans * SPAN_BYTES;
}

export function encodeAck(ack: Acknowledgement): Buffer {
  const body = Buffer.allocUnsafe(ackBytes(ack.spans.length));
  writeSafeU64(body, 0, ack.windowEnd);
  body.writeUInt32BE(Math.min(0xffff_ffff, Math.max(0, Math.round(ack.delayMicros))), 8);
  let at = ACK_FIXED_BYTES;
  for (const [start, end] of ack.spans) {
    writeSafeU64(body, at, start);
    writeSafeU64(body, at + 8, end);
    at += SPAN_BYTES;
  }
  return body;
}

/**
 * Reads an acknowledgement body; null if malformed (wrong length, spans unordered or empty, offsets
 * past 2^53: offsets are numbers on both sides, exact below 2^53, which no file reaches).
 */
export function decodeAck(body: Buffer): Acknowledgement | null {
  if (body.length < ACK_FIXED_BYTES || (body.length - ACK_FIXED_BYTES) % SPAN_BYTES !== 0) return null;
  const count = (body.length - ACK_FIXED_BYTES) / SPAN_BYTES;
  if (count > MAX_SACK_RANGES) return null;
  const windowEnd = readSafeU64(body, 0);
  if (windowEnd < 0) return null;
  const spans: Array<[number, number]> = [];
  let previousEnd = -1;
  for (let at = ACK_FIXED_BYTES; at < body.length; at += SPAN_BYTES) {
    const start = readSafeU64(body, at);
    const end = readSafeU64(body, at + 8);
    if (start < 0 || end < 0 || start <= previousEnd || end <= start) return null;
    spans.push([start, end]);
    previousEnd = end;
  }
  return { windowEnd, delayMicros: body.readUInt32BE(8), spans };
}

/* ---------------- control messages ---------------- */

/** Counts a sender reports with `done`, so the receiver can show them too. */
export interface SenderStats {
  packets: number;
  retransmits: number;
  /** Smoothed and minimum RTT in ms (null before any sample). */
  srtt: number | null;
  minRtt: number | null;
}

/**
 * What a receiver keeps of a file besides its bytes (as rsync -a, scp -p): the modification time
 * in whole milliseconds since 1970, and the permission bits (0-0o777; never setuid, setgid or
 * sticky). Optional on the wire: an older peer neither sends nor reads them.
 */
export interface FileMetadata {
  mtime?: number;
  mode?: number;
}

/**
 * A file a server offers: its name, size in bytes, and modification time in ms since 1970; or,
 * with `dir`, a directory (size 0), listed only to a request that names a `dir`.
 */
export interface ListEntry {
  name: string;
  size: number;
  mtime: number;
  dir?: true;
}

/** Most entries one listing message may carry (a page fits in MAX_TRANSFER_MESSAGE_BYTES anyway). */
export const MAX_LIST_ENTRIES = 64;

/**
 * `short`, in the messages that start a transfer and in their `accept`: the sender of the message
 * reads short data frames (frame.ts), so file data may come to it in them; absent from older peers,
 * which then get the original's frames.
 */
export interface ShortData {
  short?: true;
}

/**
 * Requests are sent again until answered; the answer to a repeated request is repeated. The
 * side that starts a transfer sends offer, get or bandwidth; the sending side sends resume and
 * done (answered by resumed, and by result, with checking meanwhile); either side may send
 * abort, which has no answer.
 */
export type TransferMessage =
  /**
   * Upload: I will send `name` (`size` bytes); `resume` asks to continue a part file. `mtime` and
   * `mode` (FileMetadata) are the file's, for the receiver to keep; absent from older peers.
   * `ifChanged` (without `overwrite`): if you already hold a file of this name and size, let me
   * prove mine is the same rather than refuse it (`accept` with `held`); absent from older peers.
   */
  | ({ type: 'offer'; name: string; size: number; resume: boolean; overwrite: boolean; ifChanged?: true } & FileMetadata & ShortData)
  /**
   * Download: send me `name` (a file, or a relative path to a file in a directory tree); I hold
   * `offset` bytes of a part file of it (0: none). The
   * downloader never tells its part file's hash: the server proves its file's start instead
   * (`accept`'s `prefix`), and the downloader decides with `continue`.
   */
  | ({ type: 'get'; name: string; offset: number } & ShortData)
  /**
   * What the server offers for download, one page: the files whose names sort after `after`
   * ('' for the first page), in code-unit order. With `dir` (a relative path, '' for the top),
   * the files of that directory and its subdirectories (entries with `dir`): a tree download
   * walks a tree so, one directory at a time. Absent from older peers, which list the top only.
   */
  | { type: 'list'; after: string; dir?: string }
  /**
   * The answer to list, within one control message: `next` is the `after` of the next page ('' at
   * the end); `truncated`: the directory holds more names than the server reads for a listing;
   * `tree`: this is the directory the request named, subdirectories included (an older server,
   * which ignores `dir`, never says so).
   */
  | { type: 'listing'; entries: ListEntry[]; next: string; truncated: boolean; tree?: true }
  /** Upload of a directory tree: make the (empty) directory `name`, a relative path, with its parents; answered by accept. */
  | { type: 'mkdir'; name: string }
  /** Bandwidth test for `seconds`: 'up' = the starter sends, 'down' = the starter receives. */
  | ({ type: 'bandwidth'; direction: 'up' | 'down'; seconds: number } & ShortData)
  /**
   * The answer to offer/get/bandwidth: data starts at `offset` (for an offer: the receiver's part
   * file holds that much); `size` (get) is the file's. For a get with offset > 0, `prefix` is the
   * SHA-256 of the file's first `offset` bytes and nothing is sent until the downloader's
   * `continue`; otherwise `prefix` is empty. `held` (to an offer with `ifChanged`): the receiver
   * holds a file of that name and size (`offset` = `size`): the uploader sends no data, only
   * `done` with its file's SHA-256, and the `result` says whether the two are the same.
   */
  | ({ type: 'accept'; offset: number; size: number; prefix: string; held?: true } & FileMetadata & ShortData)
  /** Downloader, after an accept that proved a prefix: start at `offset`, the offset proved (its part file matches) or 0 (it does not). */
  | { type: 'continue'; offset: number }
  /** The answer to resume and to continue: data starts at `offset`, the offset asked (the part file matches) or 0 (it was emptied). */
  | { type: 'resumed'; offset: number }
  /** The receiver's answer to a repeated `done` while it syncs and checks the file: wait on. */
  | { type: 'checking' }
  | { type: 'reject'; reason: string }
  /**
   * Uploader, after an accept with offset > 0: the SHA-256 of its file's first `offset` bytes.
   * The receiver continues if its part file matches, else empties it; it answers accept. The
   * receiver never tells its part file's hash: that would let anyone who offers the same name
   * extend someone else's partial upload (SHA-256 length extension) without knowing its bytes.
   */
  | { type: 'resume'; offset: number; prefix: string }
  /** Sender: every byte is sent (a file) or acknowledged (a bandwidth test); the whole stream has this size and SHA-256 (empty for a bandwidth test). */
  | { type: 'done'; size: number; sha256: string; stats: SenderStats }
  /** Receiver's answer to done: the file is in place, or why not. */
  | { type: 'result'; ok: boolean; reason: string }
  | { type: 'abort'; reason: string };

export type TransferMessageType = TransferMessage['type'];

const MAX_REASON_CHARS = 200;

/** A reason as the peer will accept it: no control characters, at most MAX_REASON_CHARS. */
function printable(reason: string): string {
  const clean = reason.replace(new RegExp(UNPRINTABLE.source, 'g'), '?');
  return clean.length > MAX_REASON_CHARS ? `${clean.slice(0, MAX_REASON_CHARS - 3)}...` : clean;
}

export function encodeMessage(message: TransferMessage): Buffer {
  const fitted = 'reason' in message ? { ...message, reason: printable(message.reason) } : message;
  return Buffer.from(JSON.stringify(fitted), 'utf8');
}

const HEX_DIGEST = /^(?:[0-9a-f]{64})?$/;

/** Parses a control message from a peer; null if it is not exactly one of the shapes above. */
export function decodeMessage(body: Buffer): TransferMessage | null {
  if (body.length > MAX_TRANSFER_MESSAGE_BYTES) return null;
  const json = readJsonObject(body);
  if (!json.ok) return null;
  const m = json.fields;
  switch (m.type) {
    case 'offer': {
      const meta = metadata(m);
      const short = shortData(m);
      if (m.ifChanged !== undefined && m.ifChanged !== true) return null;
      return meta && short && isPath(m.name) && isOffset(m.size) && typeof m.resume === 'boolean' && typeof m.overwrite === 'boolean'
        ? { type: 'offer', name: m.name, size: m.size, resume: m.resume, overwrite: m.overwrite, ...(m.ifChanged ? { ifChanged: true } : {}), ...meta, ...short }
        : null;
    }
    case 'get': {
      const short = shortData(m);
      return short && isPath(m.name) && isOffset(m.offset) ? { type: 'get', name: m.name, offset: m.offset, ...short } : null;
    }
    case 'mkdir':
      return isPath(m.name) ? { type: 'mkdir', name: m.name } : null;
    case 'list':
      if (!isCursor(m.after) || (m.dir !== undefined && m.dir !== '' && !isPath(m.dir))) return null;
      return m.dir === undefined ? { type: 'list', after: m.after } : { type: 'list', after: m.after, dir: m.dir };
    case 'listing': {
      if (!Array.isArray(m.entries) || m.entries.length > MAX_LIST_ENTRIES || !isCursor(m.next) || typeof m.truncated !== 'boolean') return null;
      if (m.tree !== undefined && m.tree !== true) return null;
      const entries = m.entries.map(listEntry);
      if (!entries.every((e): e is ListEntry => e !== null)) return null;
      return { type: 'listing', entries, next: m.next, truncated: m.truncated, ...(m.tree ? { tree: true } : {}) };
    }
    case 'bandwidth': {
      const short = shortData(m);
      return short && (m.direction === 'up' || m.direction === 'down') && typeof m.seconds === 'number' && Number.isInteger(m.seconds)
        && m.seconds >= 1 && m.seconds <= MAX_BANDWIDTH_SECONDS ? { type: 'bandwidth', direction: m.direction, seconds: m.seconds, ...short } : null;
    }
    case 'accept': {
      const meta = metadata(m);
      const short = shortData(m);
      if (m.held !== undefined && (m.held !== true || m.offset !== m.size)) return null;
      return meta && short && isOffset(m.offset) && isOffset(m.size) && m.offset <= m.size && isDigest(m.prefix)
        ? { type: 'accept', offset: m.offset, size: m.size, prefix: m.prefix, ...(m.held ? { held: true } : {}), ...meta, ...short } : null;
    }
    case 'continue':
      return isOffset(m.offset) ? { type: 'continue', offset: m.offset } : null;
    case 'resumed':
      return isOffset(m.offset) ? { type: 'resumed', offset: m.offset } : null;
    case 'checking':
      return { type: 'checking' };
    case 'resume':
      return isOffset(m.offset) && m.offset > 0 && isDigest(m.prefix) && m.prefix !== '' ? { type: 'resume', offset: m.offset, prefix: m.prefix } : null;
    case 'reject':
    case 'abort':
      return isReason(m.reason) ? { type: m.type, reason: m.reason } : null;
    case 'done':
      return isOffset(m.size) && isDigest(m.sha256) && isStats(m.stats) ? { type: 'done', size: m.size, sha256: m.sha256, stats: m.stats } : null;
    case 'result':
      return typeof m.ok === 'boolean' && isReason(m.reason) ? { type: 'result', ok: m.ok, reason: m.reason } : null;
    default:
      return null;
  }
}

/** A message's optional `short`, checked: null when present and not `true`. */
function shortData(m: Record<string, unknown>): ShortData | null {
  if (m.short === undefined) return {};
  return m.short === true ? { short: true } : null;
}

/** The optional metadata fields of a message, checked; null when one is present and malformed. */
function metadata(m: Record<string, unknown>): FileMetadata | null {
  const meta: FileMetadata = {};
  if (m.mtime !== undefined) {
    if (!isOffset(m.mtime)) return null;
    meta.mtime = m.mtime;
  }
  if (m.mode !== undefined) {
    if (!isOffset(m.mode) || m.mode > MAX_FILE_MODE) return null;
    meta.mode = m.mode;
  }
  return meta;
}

/** The permission bits a peer may ask for: rwx for owner, group and others, nothing above. */
const MAX_FILE_MODE = 0o777;

function isOffset(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isDigest(v: unknown): v is string {
  return typeof v === 'string' && HEX_DIGEST.test(v);
}

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= MAX_FILE_NAME_BYTES;
}

/** A file name, or a relative path of names (an upload into a tree); the receiver checks its components. */
function isPath(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= MAX_PATH_BYTES;
}

/** A name to list after: '' or a name (a peer's names reach a terminal, so nothing unprintable). */
function isCursor(v: unknown): v is string {
  return v === '' || (isName(v) && !UNPRINTABLE.test(v));
}

function listEntry(v: unknown): ListEntry | null {
  if (typeof v !== 'object' || v === null) return null;
  const e = v as Record<string, unknown>;
  if (!isName(e.name) || UNPRINTABLE.test(e.name) || !isOffset(e.size) || !isOffset(e.mtime) || (e.dir !== undefined && e.dir !== true)) return null;
  return { name: e.name, size: e.size, mtime: e.mtime, ...(e.dir ? { dir: true } : {}) };
}

function isReason(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_REASON_CHARS && !UNPRINTABLE.test(v);
}

function isRtt(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
}

function isStats(v: unknown): v is SenderStats {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return isOffset(s.packets) && isOffset(s.retransmits) && isRtt(s.srtt) && isRtt(s.minRtt);
}
