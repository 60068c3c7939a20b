import { EventEmitter } from 'node:events';
import type { SecureSession, SessionService } from '../net/secure-session.js';
import type { FrameHandler, Session } from '../net/session.js';
import { BandwidthPolicy } from './bandwidth.js';
import { ReceiveBudget } from './budget.js';
import { checkMaxDatagram, TransferEndpoint, type TransferEndpointOptions, type TransferEvent } from './endpoint.js';
import { processHashLimiter, type HashLimiter } from './hashing.js';
import { DiskQuota } from './quota.js';

/**
 * What a server's file service serves and how much it lets each client use. Without `dir` every
 * transfer but a bandwidth test is refused, with a reason the client shows.
 */
export interface FileServiceOptions {
  /** The directory uploads go to (and downloads come from, with allowDownload). */
  dir?: string;
  allowDownload?: boolean;
  /** Largest UDP payload of a transfer datagram (default DEFAULT_MAX_DATAGRAM). */
  maxDatagram?: number;
  /** A transfer whose peer is silent this long fails (default TRANSFER_STALL_MS). */
  stallMs?: number;
  /** Bounds received data held in memory, per host and in all (default DEFAULT_RECEIVE_BUDGET_BYTES). */
  receiveBudget?: ReceiveBudget;
  /** Limits bandwidth tests (default DEFAULT_BANDWIDTH_LIMITS). */
  bandwidthPolicy?: BandwidthPolicy;
  /** false refuses uploads that would replace a file (default true). */
  allowOverwrite?: boolean;
  /** Refuses larger uploads, in bytes (default: no limit). */
  maxSize?: number;
  /** Bounds each client's bytes in `dir` (default DEFAULT_CLIENT_QUOTA_BYTES). */
  diskQuota?: DiskQuota;
  /** Bounds the prefix hashing resumes cause (default: the one limiter of this process). */
  hashLimiter?: HashLimiter;
}

export interface FileServiceEvents {
  /** A transfer a client started began, finished or failed. */
  transfer: [TransferEvent, Session];
}

/**
 * File transfer as a service of a server's sessions (net/server.ts's `service`): one
 * TransferEndpoint per version-2 session, made when its first transfer frame arrives. It owns
 * what all those sessions share: the upload directory, the names being received into it and who
 * made each part file, the receive budget, the disk quota, the bandwidth-test policy and the
 * hashing slots; and it reports every transfer a client starts.
 */
export class FileService extends EventEmitter<FileServiceEvents> implements SessionService {
  readonly receiveBudget: ReceiveBudget;
  readonly bandwidthPolicy: BandwidthPolicy;
  readonly diskQuota: DiskQuota;
  readonly hashLimiter: HashLimiter;
  /** Names being uploaded into the directory (by nameKey), across all sessions: two uploads never write one part file. */
  readonly busyNames = new Map<string, { finished: boolean }>();
  /** Who made each part file in the directory (by nameKey), across all sessions; it lives as long as the service. */
  readonly partOwners = new Map<string, string>();
  /** Who made each finished upload, the latest REMEMBERED_FILE_MAKERS of them. */
  readonly fileMakers = new Map<string, string>();
  readonly #options: FileServiceOptions;

  constructor(options: FileServiceOptions = {}) {
    super();
    // Checked now: endpoints are made inside the socket handler, where a throw would crash.
    if (options.maxDatagram !== undefined) checkMaxDatagram(options.maxDatagram);
    this.#options = options;
    this.receiveBudget = options.receiveBudget ?? new ReceiveBudget();
    this.bandwidthPolicy = options.bandwidthPolicy ?? new BandwidthPolicy();
    this.diskQuota = options.diskQuota ?? new DiskQuota();
    this.hashLimiter = options.hashLimiter ?? processHashLimiter;
  }

  get dir(): string | undefined {
    return this.#options.dir;
  }

  handlerFor(session: SecureSession): FrameHandler {
    return new TransferEndpoint(session, this.endpointOptions((event) => this.emit('transfer', event, session)));
  }

  /** The options of an endpoint that answers as this service, sharing its state. */
  endpointOptions(onEvent?: (event: TransferEvent) => void): TransferEndpointOptions {
    return {
      ...this.#options,
      receiveBudget: this.receiveBudget,
      bandwidthPolicy: this.bandwidthPolicy,
      diskQuota: this.diskQuota,
      hashLimiter: this.hashLimiter,
      busyNames: this.busyNames,
      partOwners: this.partOwners,
      fileMakers: this.fileMakers,
      onEvent,
    };
  }
}
