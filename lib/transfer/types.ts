import type { SenderStats } from '../protocol/transfer.js';
import type { BandwidthPolicy } from './bandwidth.js';
import type { ReceiveBudget } from './budget.js';
import type { HashLimiter } from './hashing.js';
import type { DiskQuota } from './quota.js';
import type { StreamSink } from './stream-sink.js';

export interface TransferEndpointOptions {
  /** Directory that takes uploads (and serves downloads with allowDownload); without it, offers are refused. */
  dir?: string;
  allowDownload?: boolean;
  /** Largest UDP payload of a transfer datagram (default DEFAULT_MAX_DATAGRAM). */
  maxDatagram?: number;
  /**
   * Names being received into `dir` now (by nameKey: NFC, case-folded where the file system
   * folds case), and by which transfer. A server passes one map to every session's endpoint, so
   * two uploads never write one part file.
   */
  busyNames?: Map<string, { finished: boolean }>;
  /**
   * Who made each part file in `dir` (by name key): a peer may resume, empty or replace only its
   * own. A server passes one map to every session's endpoint; an entry goes when its file is in place.
   */
  partOwners?: Map<string, string>;
  /**
   * Who made each finished upload in `dir` (by name key), the latest REMEMBERED_FILE_MAKERS of
   * them: only its maker (or anyone, with allowDownload) may have a copy it sends again compared
   * with it (`ifChanged`). Shared by a server's endpoints, as partOwners.
   */
  fileMakers?: Map<string, string>;
  /** Take offers that ask to replace an existing file (default true; a server may refuse them). */
  allowOverwrite?: boolean;
  /** Hears about transfers the peer starts (a server logs them). */
  onEvent?: (event: TransferEvent) => void;
  /** A transfer whose peer is silent this long fails (default TRANSFER_STALL_MS, 30 s). */
  stallMs?: number;
  /**
   * While transfers this side started run, a peer that sends nothing at all (no acknowledgement,
   * data, control message or heartbeat answer) for this long is taken for stopped, or its path for
   * down: they fail with PeerSilentError (ERR_PEER_SILENT), sooner than the stall time. Set it to
   * PEER_SILENCE_HEARTBEATS (3) of the session's heartbeat intervals (15 s at the default 5 s),
   * which a live peer always answers; default: no such watch.
   */
  peerSilenceMs?: number;
  /** Take transfers the peer starts (default true; a CLI client says false: only what it asked for). */
  answerPeer?: boolean;
  /**
   * Memory for data received in transfers the peer starts, shared by every session of a server
   * and counted per host (hostKey of the peer's address): each such transfer reserves its receive
   * window here or is refused. Without it, every transfer gets a full window.
   */
  receiveBudget?: ReceiveBudget;
  /** Which bandwidth tests the peer may start, shared by every session of a server; without it, any. */
  bandwidthPolicy?: BandwidthPolicy;
  /** Bounds the prefix hashing resumes the peer asks for (default: the one limiter of this process). */
  hashLimiter?: HashLimiter;
  /** Largest file this side receives, in bytes (uploads the peer offers, downloads we ask for); default: no limit. */
  maxSize?: number;
  /**
   * Per-owner quota and pending bytes of uploads into `dir`, shared by every session of a server.
   * Without it, uploads are checked against the free space only.
   */
  diskQuota?: DiskQuota;
}

/** A transfer the peer started, as it begins and ends. */
export type TransferEvent =
  | { kind: 'started'; id: number; direction: 'receive' | 'send'; name: string; size: number; offset: number }
  | { kind: 'finished'; id: number; result: TransferResult }
  | { kind: 'failed'; id: number; direction: 'receive' | 'send'; name: string; reason: string }
  /** Refused before it started (the name exists, a quota, the budget...): the peer was told `reason`. */
  | { kind: 'refused'; id: number; direction: 'receive' | 'send'; name: string; reason: string };

export interface TransferResult {
  /** The file's name on the receiving side ('' for a bandwidth test). */
  name: string;
  direction: 'send' | 'receive';
  /** Size of the whole file (or of the bandwidth test's stream). */
  size: number;
  /** Where this run started: bytes the receiver already had (resume). */
  offset: number;
  seconds: number;
  /** SHA-256 (hex) of the whole file, checked by the receiver; '' for a bandwidth test. */
  sha256: string;
  /** The sending side's counts: datagrams sent, how many were retransmissions, RTT. */
  stats: SenderStats;
  /** A resume found a part file that was not the start of this file: it was emptied and everything sent. */
  restarted: boolean;
  /**
   * Files the receiver already held, the same (size and SHA-256), so none of their bytes moved:
   * 1 for such a file (its `offset` is then its size), a count for a tree; absent when none.
   */
  unchanged?: number;
}

export interface UploadOptions {
  /** Name on the server (default: the file's base name). */
  as?: string;
  /** Continue from the server's part file, if its bytes match this file's. */
  resume?: boolean;
  /** Replace an existing file of that name. */
  overwrite?: boolean;
  /**
   * Upload without `overwrite`: a file the receiver already holds, the same size and SHA-256,
   * resolves with `unchanged: 1` and sends nothing, instead of being refused as existing
   * (default true; the receiver decides whether it compares: PROTOCOL.md).
   */
  skipUnchanged?: boolean;
  /**
   * Upload: tell the receiver the file's modification time and permission bits, which it keeps
   * (bounded by its umask). Default true; false for a file that only stands in for another (a
   * spooled pipe). Downloads always keep what the sender tells.
   */
  metadata?: boolean;
  /** Bytes acknowledged so far (from the start offset), and the whole size. */
  onProgress?: (done: number, total: number) => void;
  /** Called once the receiver says where the data starts (so progress can count resumed bytes). */
  onStart?: (offset: number, size: number) => void;
}

export interface DownloadOptions extends Omit<UploadOptions, 'as'> {
  /** Where to write (default: the name, in the current directory). */
  out?: string;
  /**
   * Write the file to this stream as it arrives instead (`out`, `resume` and `overwrite` are
   * then unused): the hash is checked at the end, and a mismatch rejects, after the bytes went out.
   */
  to?: StreamSink;
}

export interface BandwidthOptions {
  onProgress?: (bytes: number) => void;
}
