import { randomFillSync } from 'node:crypto';
import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { toBase64Url } from '../encoding.js';
import {
  CONTROL_RETRY_MS, DEFAULT_MAX_DATAGRAM, MAX_BANDWIDTH_SECONDS, MAX_CHECK_WAIT_MS, MAX_DATAGRAM, MAX_TRANSFER_ID, MIN_CHECK_BYTES_PER_SECOND,
  MIN_TRANSFER_DATAGRAM, PART_SUFFIX, RECEIVE_WINDOW_BYTES, TRANSFER_OVERHEAD, TRANSFER_STALL_MS,
} from '../constants.js';
import { InvalidInputError } from '../errors.js';
import {
  decodeAck, decodeMessage, encodeAck, encodeMessage, TransferFlags, type SenderStats, type TransferMessage, type TransferMessageType,
} from '../protocol/transfer.js';
import type { FrameHandler, Session } from '../net/session.js';
import { DiscardSink, PatternSource, type BandwidthPolicy } from './bandwidth.js';
import type { Grant, ReceiveBudget } from './budget.js';
import { describeFsError, FileSink, FileSource, sameDigest, TransferFileError } from './files.js';
import { processHashLimiter, type HashControl, type HashLimiter } from './hashing.js';
import { formatBytes, freeBytes, roomProblem, type Claim, type DiskQuota } from './quota.js';
import { clock, type FrameLink } from './link.js';
import { fileName, fileNameProblem, foldsCase, nameKey } from './names.js';
import { StreamReceiver, type ByteSink } from './receiver.js';
import { StreamSender, type ByteSource } from './sender.js';
import { sessionPort, type TransferPort } from './port.js';
import { TransferError } from './transfer-error.js';

export { TransferError };

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
   * own. A server passes one map to every session's endpoint; it lives as long as the server.
   */
  partOwners?: Map<string, string>;
  /** Take offers that ask to replace an existing file (default true; a server may refuse them). */
  allowOverwrite?: boolean;
  /** Hears about transfers the peer starts (a server logs them). */
  onEvent?: (event: TransferEvent) => void;
  /** A transfer whose peer is silent this long fails (default TRANSFER_STALL_MS, 30 s). */
  stallMs?: number;
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
  | { kind: 'failed'; id: number; direction: 'receive' | 'send'; name: string; reason: string };

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
}

export interface UploadOptions {
  /** Name on the server (default: the file's base name). */
  as?: string;
  /** Continue from the server's part file, if its bytes match this file's. */
  resume?: boolean;
  /** Replace an existing file of that name. */
  overwrite?: boolean;
  /** Bytes acknowledged so far (from the start offset), and the whole size. */
  onProgress?: (done: number, total: number) => void;
  /** Called once the receiver says where the data starts (so progress can count resumed bytes). */
  onStart?: (offset: number, size: number) => void;
}

export interface DownloadOptions extends Omit<UploadOptions, 'as'> {
  /** Where to write (default: the name, in the current directory). */
  out?: string;
}

export interface BandwidthOptions {
  onProgress?: (bytes: number) => void;
}

/** Most transfers one peer may have going at once on our side. */
const MAX_TRANSFERS_PER_SESSION = 16;
/** Finished transfers remembered, to answer a repeated `done` or acknowledge a late retransmission. */
const FINISHED_REMEMBERED = 64;

type DoneMessage = Extract<TransferMessage, { type: 'done' }>;

/** A transfer the peer started, running (a wrapper: an async function would wait for a bare promise). */
interface Started {
  run: Promise<TransferResult>;
  size: number;
  offset: number;
}

interface Waiter {
  types: readonly TransferMessageType[];
  resolve(message: TransferMessage): void;
}

/** One transfer on this endpoint, whichever side started it. */
interface Transfer {
  readonly id: number;
  readonly direction: 'send' | 'receive';
  readonly name: string;
  readonly startedByUs: boolean;
  sender?: StreamSender;
  receiver?: StreamReceiver;
  sink?: FileSink;
  /** Our answer to each request type the peer sent, repeated when the request is. */
  readonly answers: Map<TransferMessageType, TransferMessage>;
  /** A message of the peer's that the transfer waits for. */
  waiter?: Waiter;
  retry?: NodeJS.Timeout;
  /** A resume question is being answered (the part file may be emptied meanwhile). */
  resuming?: boolean;
  /** Receiver: `done` arrived; the file is being synced and checked. */
  finishing?: boolean;
  /** A message went to the peer about this transfer (so an abort means something to it). */
  contacted: boolean;
  /** Sender waiting for `result`: the receiver says it is still checking. */
  keepAlive?: () => void;
  /** Why it must stop (abort, Ctrl-C, session closed), once told: checked after every wait. */
  stopped?: string;
  /** Ends the current wait at once; a stop between waits is noted in `stopped`. */
  interrupt?: (reason: string) => void;
  finished: boolean;
}

/**
 * File transfer over one version-2 session: uploads, downloads and bandwidth tests, started by
 * either side. Control messages (protocol/transfer.ts) are sent again until answered; file bytes
 * travel in StreamSender/StreamReceiver. One endpoint per session; a server makes one for a
 * session when its first transfer frame arrives.
 */
export class TransferEndpoint implements FrameHandler {
  readonly #port: TransferPort;
  readonly #options: TransferEndpointOptions;
  readonly #maxBody: number;
  readonly #stallMs: number;
  readonly #transfers = new Map<number, Transfer>();
  /** Requests refused lately, by id, with the reason. */
  readonly #refused = new Map<number, string>();
  #nextId: number;

  /** `session`: a version-2 session (TransferError for a version-1 one), or any TransferPort. */
  constructor(session: Session | TransferPort, options: TransferEndpointOptions = {}) {
    const port = 'version' in session ? sessionPort(session) : session;
    this.#port = port;
    this.#options = options;
    this.#maxBody = checkMaxDatagram(options.maxDatagram ?? DEFAULT_MAX_DATAGRAM) - TRANSFER_OVERHEAD;
    this.#stallMs = options.stallMs ?? TRANSFER_STALL_MS;
    this.#nextId = port.role === 'client' ? 1 : 2;
    port.attach(this);
  }

  sessionClosed(): void {
    this.cancel('the session closed');
  }

  /** Transfers in progress. */
  get active(): number {
    let n = 0;
    for (const transfer of this.#transfers.values()) if (!transfer.finished) n++;
    return n;
  }

  /* ---------------- starting transfers ---------------- */

  /** Sends the file at `path`; resolves once the receiver has checked its hash and put it in place. */
  async upload(path: string, options: UploadOptions = {}): Promise<TransferResult> {
    const name = options.as ?? basename(path);
    const problem = fileNameProblem(name);
    if (problem) throw new InvalidInputError(`cannot send as ${JSON.stringify(name)}: ${problem}`);
    const transfer = this.#start('send', name);
    let source: FileSource | undefined;
    try {
      source = await FileSource.open(path, false);
      this.#checkStopped(transfer);
      const { size } = source;
      const offer = { type: 'offer', name, size, resume: options.resume ?? false, overwrite: options.overwrite ?? false } as const;
      let { offset } = await this.#request(transfer, offer, 'accept');
      const held = offset;
      // Continuing a part file is the user's choice, as for downloads: never on the receiver's word alone.
      if (offset > 0 && !offer.resume) throw new TransferError('the receiver offered to continue a partial upload, which this upload did not ask for (refused)');
      if (offset > 0) {
        // The receiver has a part file: it continues only if that is the start of this file.
        const prefix = offset <= size ? await source.prefixDigest(offset, this.#stopControl(transfer)) : '';
        this.#checkStopped(transfer);
        if (prefix === '') throw new TransferError(`the receiver's part file is longer than ${path}`);
        const asked = offset;
        ({ offset } = await this.#request(transfer, { type: 'resume', offset, prefix }, 'resumed'));
        if (offset !== asked && offset !== 0) throw new TransferError('the receiver answered the resume with an impossible offset');
        if (offset === 0) {
          // It was not: a fresh read, so the hash covers the file from its first byte.
          await source.close();
          source = await FileSource.open(path, false);
          this.#checkStopped(transfer);
        }
      }
      const result = await this.#send(transfer, source, offset, size, options);
      return { ...result, restarted: held > 0 && offset === 0 };
    } catch (err) {
      this.#abandon(transfer, err as Error);
      throw err;
    } finally {
      await source?.close();
    }
  }

  /** Fetches `name` from the peer's directory into `options.out` (default ./name). */
  async download(name: string, options: DownloadOptions = {}): Promise<TransferResult> {
    const problem = fileNameProblem(name);
    if (problem) throw new InvalidInputError(`cannot get ${JSON.stringify(name)}: ${problem}`);
    const out = options.out ?? name;
    const transfer = this.#start('receive', name);
    // A part file is opened before asking only to resume it; otherwise nothing is created (or
    // emptied) until the peer has agreed to send.
    let opened: FileSink | undefined;
    let ready: Promise<FileSink> | undefined;
    try {
      if (!options.overwrite && (await exists(out))) throw new TransferFileError(`${out}: already exists (use --overwrite to replace it)`);
      if (options.resume && (await exists(`${out}${PART_SUFFIX}`))) opened = await FileSink.open(out, true);
      // Measured before asking: once the sender has accepted, the receiver must exist within this turn.
      const free = await freeBytes(dirname(out)).catch((err: unknown) => { throw new TransferFileError(describeFsError(err, dirname(out))); });
      this.#checkStopped(transfer);
      const held = opened?.length ?? 0;
      const answer = await this.#request(transfer, { type: 'get', name, offset: held }, 'accept');
      if (answer.offset !== held && answer.offset !== 0) throw new TransferError('the sender proposed an impossible start offset');
      const tooBig = this.#sizeProblem(name, answer.size, 'the limit (--max-size)');
      if (tooBig !== undefined) throw new TransferError(tooBig);
      const noRoom = roomProblem(answer.size - answer.offset, free);
      if (noRoom !== undefined) throw new TransferError(`${noRoom}; free some space or choose another --out`);
      let start = answer.offset;
      if (start > 0) {
        // The server proved what its file starts with; we decide, and it waits for the decision.
        if (answer.prefix === '') throw new TransferError('the sender offered to resume without proving its file\'s start');
        start = sameDigest(opened!.prefixDigest(), answer.prefix) ? held : 0;
        const { offset } = await this.#request(transfer, { type: 'continue', offset: start }, 'resumed');
        if (offset !== start) throw new TransferError('the sender answered the resume with an impossible offset');
      }
      // The sender starts at once: the receiver must exist before this turn of the event loop
      // ends, so the file is opened (or emptied) behind it and the first writes wait for that.
      const partFile = opened;
      ready = partFile && start === held ? Promise.resolve(partFile)
        : partFile ? partFile.restart().then(() => partFile) : FileSink.open(out, false);
      ready.then((sink) => { opened = sink; }, () => undefined);
      const pending = ready;
      const sink: ByteSink = { write: async (chunks) => (await pending).write(chunks) };
      transfer.receiver = new StreamReceiver(this.#link(transfer.id), sink, start, answer.size);
      const result = await this.#receive(transfer, sink, start, answer.size, options, async (done) => {
        await (await pending).finish(done.sha256, options.overwrite ?? false);
      });
      return { ...result, restarted: held > 0 && start === 0 };
    } catch (err) {
      this.#abandon(transfer, err as Error);
      throw err;
    } finally {
      await ready?.catch(() => undefined);
      await opened?.close();
    }
  }

  /** A bandwidth test: 'up' sends for `seconds`, 'down' asks the peer to send. */
  async bandwidth(direction: 'up' | 'down', seconds: number, options: BandwidthOptions = {}): Promise<TransferResult> {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_BANDWIDTH_SECONDS) {
      throw new InvalidInputError(`a bandwidth test lasts 1-${MAX_BANDWIDTH_SECONDS} whole seconds`);
    }
    const transfer = this.#start(direction === 'up' ? 'send' : 'receive', '');
    try {
      const answer = await this.#request(transfer, { type: 'bandwidth', direction, seconds }, 'accept');
      if (answer.offset !== 0) throw new TransferError('the peer answered the bandwidth test wrongly');
      const progress = { onProgress: options.onProgress };
      // A peer that keeps sending (or never answers `done`) must not keep a script waiting forever.
      const deadline = this.#bandwidthDeadline(transfer, seconds);
      try {
        if (direction === 'up') return await this.#send(transfer, patternSource(), 0, null, progress, seconds);
        return await this.#receive(transfer, new DiscardSink(), 0, null, progress, async () => undefined);
      } finally {
        clearTimeout(deadline);
      }
    } catch (err) {
      this.#abandon(transfer, err as Error);
      throw err;
    }
  }

  /** Stops a bandwidth test that runs past its seconds plus the stall time (either side, whoever started it). */
  #bandwidthDeadline(transfer: Transfer, seconds: number): NodeJS.Timeout {
    return setTimeout(() => this.#stop(transfer, 'the bandwidth test ran past its time'), seconds * 1000 + this.#stallMs);
  }

  /** Stops every transfer in progress and tells the peer (Ctrl-C); part files stay for --resume. */
  cancel(reason: string): void {
    for (const transfer of this.#transfers.values()) {
      if (!transfer.finished) this.#stop(transfer, reason);
    }
  }

  /* ---------------- the two halves of a transfer ---------------- */

  /** Runs a StreamSender from `offset`, then `done` until the receiver answers. `seconds` makes it open-ended (bandwidth). */
  async #send(transfer: Transfer, source: ByteSource & { digest?(): string }, offset: number, size: number | null,
    options: Pick<UploadOptions, 'onProgress' | 'onStart'>, seconds?: number): Promise<TransferResult> {
    const started = clock();
    const sender = new StreamSender(this.#link(transfer.id), source, offset, size, this.#stallMs);
    transfer.sender = sender;
    options.onStart?.(offset, size ?? 0);
    if (options.onProgress) sender.on('progress', (acked) => options.onProgress!(acked, (size ?? 0) - offset));
    const endTimer = seconds === undefined ? undefined : setTimeout(() => sender.end(), seconds * 1000);
    let done: DoneMessage;
    let answer: Extract<TransferMessage, { type: 'result' }>;
    try {
      await this.#wait<void>(transfer, (resolve, reject) => {
        sender.once('complete', resolve);
        sender.once('error', reject);
        sender.start();
      });
      done = { type: 'done', size: offset + sender.acked, sha256: source.digest?.() ?? '', stats: sender.stats };
      answer = await this.#request(transfer, done, 'result', this.#checkWaitMs(done.size - offset));
    } catch (err) {
      this.#abandon(transfer, err as Error);
      throw err;
    } finally {
      clearTimeout(endTimer);
    }
    const total = done.size;
    this.#finish(transfer);
    if (!answer.ok) throw new TransferError(`the receiver refused the file: ${answer.reason}`);
    return {
      name: transfer.name, direction: 'send', size: total, offset, seconds: (clock() - started) / 1000, sha256: done.sha256, stats: done.stats,
      restarted: false,
    };
  }

  /** Runs a StreamReceiver from `offset` until the sender's `done`, then `finish` and answers `result`. */
  async #receive(transfer: Transfer, sink: ByteSink, offset: number, size: number | null,
    options: Pick<UploadOptions, 'onProgress' | 'onStart'>, finish: (done: DoneMessage) => Promise<void>): Promise<TransferResult> {
    const started = clock();
    const receiver = transfer.receiver ?? new StreamReceiver(this.#link(transfer.id), sink, offset, size);
    transfer.receiver = receiver;
    options.onStart?.(offset, size ?? 0);
    if (options.onProgress) receiver.on('progress', (written) => options.onProgress!(written, (size ?? 0) - offset));
    let watchdog: NodeJS.Timeout | undefined;
    let done: DoneMessage;
    try {
      done = await this.#wait<DoneMessage>(transfer, (resolve, reject) => {
        receiver.once('error', reject);
        // The sending side has its timers; this side only waits, so it gives up on a silent peer.
        watchdog = setInterval(() => {
          if (clock() - receiver.lastActivity > this.#stallMs) reject(new TransferError(`the peer sent nothing for ${formatSeconds(this.#stallMs)}`));
        }, this.#stallMs / 10);
        // `done` comes once the sender has every byte acknowledged; the disk may still be writing.
        transfer.waiter = {
          types: ['done'],
          resolve: (message) => {
            const last = message as DoneMessage;
            transfer.finishing = true;
            if (receiver.setSize(last.size) === 'refused') return reject(new TransferError('the sender announced a different size'));
            if (receiver.complete) resolve(last);
            else receiver.once('complete', () => resolve(last));
          },
        };
      });
    } catch (err) {
      this.#abandon(transfer, err as Error);
      // A write in progress finishes, so the part file holds exactly a prefix of the file.
      await receiver.drain();
      throw err;
    } finally {
      clearInterval(watchdog);
    }
    let outcome: Extract<TransferMessage, { type: 'result' }>;
    try {
      await finish(done);
      outcome = { type: 'result', ok: true, reason: '' };
    } catch (err) {
      outcome = { type: 'result', ok: false, reason: describeFsError(err, transfer.name) };
    }
    this.#answer(transfer, 'done', outcome);
    this.#finish(transfer);
    if (!outcome.ok) throw new TransferError(outcome.reason);
    return {
      name: transfer.name, direction: 'receive', size: done.size, offset: receiver.start, seconds: (clock() - started) / 1000,
      sha256: done.sha256, stats: done.stats, restarted: false,
    };
  }

  /* ---------------- answering the peer ---------------- */

  receiveFrame(flags: number, id: number, sequence: number, offset: number, body: Buffer): void {
    const transfer = this.#transfers.get(id);
    switch (flags) {
      case TransferFlags.DATA:
        if (transfer?.receiver?.onData(sequence, offset, body) !== 'ok') this.#drop();
        return;
      case TransferFlags.ACK: {
        const ack = transfer?.sender ? decodeAck(body) : null;
        if (!ack) return this.#drop();
        if (!transfer!.sender!.onAck(sequence, offset, ack)) this.#port.drop('optimistic-ack');
        return;
      }
      case TransferFlags.CONTROL: {
        const message = decodeMessage(body);
        if (!message) return this.#drop();
        return this.#onMessage(id, transfer, message);
      }
      default:
        return this.#drop();
    }
  }

  #onMessage(id: number, transfer: Transfer | undefined, message: TransferMessage): void {
    const repeated = transfer?.answers.get(message.type);
    if (repeated) return this.#sendMessage(id, repeated);
    if (transfer?.waiter?.types.includes(message.type)) {
      const { waiter } = transfer;
      transfer.waiter = undefined;
      clearTimeout(transfer.retry);
      return waiter.resolve(message);
    }
    switch (message.type) {
      case 'offer':
      case 'get':
      case 'bandwidth':
        // A new transfer the peer starts: its id has the peer's parity. A repeat while we prepare is
        // ignored; a repeat of one we refused gets the same refusal.
        if (transfer) return;
        if (this.#refused.has(id)) return this.#sendMessage(id, { type: 'reject', reason: this.#refused.get(id)! });
        if (id % 2 === this.#nextId % 2) return this.#drop();
        return void this.#answerStart(id, message);
      case 'resume':
        if (transfer?.sink && transfer.receiver && !transfer.startedByUs && !transfer.resuming) return void this.#answerResume(transfer, message);
        return;
      case 'done':
        // Repeated while the file is synced and checked: the sender should keep waiting.
        if (!transfer) return this.#drop();
        if (transfer.finishing) this.#sendMessage(id, { type: 'checking' });
        return;
      case 'checking':
        if (!transfer) return this.#drop();
        transfer.keepAlive?.();
        return;
      case 'abort':
        if (transfer && !transfer.finished) this.#stop(transfer, `the peer aborted: ${message.reason}`);
        return;
      default:
        // An answer nobody waits for (a late duplicate), or a message for a transfer we do not know.
        if (!transfer) this.#drop();
    }
  }

  async #answerStart(id: number, request: Extract<TransferMessage, { type: 'offer' | 'get' | 'bandwidth' }>): Promise<void> {
    if (this.#options.answerPeer === false) return this.#refuse(id, 'this side does not take transfers it did not start');
    if (this.active >= MAX_TRANSFERS_PER_SESSION) return this.#refuse(id, 'too many transfers at once on this session');
    const direction = request.type === 'offer' || (request.type === 'bandwidth' && request.direction === 'up') ? 'receive' : 'send';
    // Counted from now, before any wait: a burst of requests cannot pass the limit together.
    const transfer = this.#add(id, direction, request.type === 'bandwidth' ? '' : request.name, false);
    let started: Started;
    try {
      started = await this.#prepare(transfer, request);
    } catch (err) {
      this.#transfers.delete(id);
      // Refused before it started: the peer hears why, in the words it used for the file.
      return this.#refuse(id, err instanceof TransferError || err instanceof TransferFileError ? err.message : describeFsError(err, transfer.name));
    }
    return this.#report(transfer, started);
  }

  /** Checks a request the peer made and sets the transfer going; throws to refuse it. */
  async #prepare(transfer: Transfer, request: Extract<TransferMessage, { type: 'offer' | 'get' | 'bandwidth' }>): Promise<Started> {
    if (request.type === 'bandwidth') {
      const admitted = this.#options.bandwidthPolicy?.admit(this.#port.peerHost, request.seconds) ?? (() => undefined);
      if (typeof admitted === 'string') throw new TransferError(admitted);
      try {
        const started = this.#startBandwidth(transfer, request);
        started.run = started.run.finally(admitted);
        return started;
      } catch (err) {
        admitted();
        throw err;
      }
    }
    const { dir } = this.#options;
    if (dir === undefined) throw new TransferError('this server accepts no files (start it with --dir)');
    if (request.type === 'get' && !this.#options.allowDownload) throw new TransferError('this server serves no downloads (start it with --allow-download)');
    const checked = fileName(request.name);
    if ('problem' in checked) throw new TransferError(`refused name ${JSON.stringify(request.name)}: ${checked.problem}`);
    const { name } = checked;
    return request.type === 'offer' ? this.#prepareUpload(transfer, dir, { ...request, name }) : this.#prepareDownload(transfer, dir, { ...request, name });
  }

  /** A bandwidth test the peer asked for, admitted by the policy: sets it going. */
  #startBandwidth(transfer: Transfer, request: Extract<TransferMessage, { type: 'bandwidth' }>): Started {
    if (request.direction === 'down') {
      this.#answer(transfer, 'bandwidth', { type: 'accept', offset: 0, size: 0, prefix: '' });
      return { run: this.#send(transfer, patternSource(), 0, null, {}, request.seconds), size: 0, offset: 0 };
    }
    // The peer sends: it gets the time it asked for, and the stall time to finish.
    const grant = this.#reserve(RECEIVE_WINDOW_BYTES);
    const sink = new DiscardSink();
    transfer.receiver = this.#receiverFor(transfer, sink, 0, null, grant);
    const deadline = this.#bandwidthDeadline(transfer, request.seconds);
    this.#answer(transfer, 'bandwidth', { type: 'accept', offset: 0, size: 0, prefix: '' });
    const run = this.#receive(transfer, sink, 0, null, {}, async () => undefined).finally(() => {
      clearTimeout(deadline);
      grant?.release();
    });
    return { run, size: 0, offset: 0 };
  }

  /** `offer.name` is the NFC name. */
  async #prepareUpload(transfer: Transfer, dir: string, offer: Extract<TransferMessage, { type: 'offer' }>): Promise<Started> {
    if (offer.overwrite && this.#options.allowOverwrite === false) throw new TransferError('this server does not replace existing files (refused --overwrite)');
    const tooBig = this.#sizeProblem(offer.name, offer.size, 'what this server takes');
    if (tooBig !== undefined) throw new TransferError(tooBig);
    const key = nameKey(offer.name, await foldsCase(dir));
    this.#checkStopped(transfer);
    const busy = this.#options.busyNames ?? new Map<string, { finished: boolean }>();
    if (busy.has(key)) throw new TransferError(`${offer.name} is being received from another transfer`);
    // Before any disk work: a client over its share of memory is refused at once.
    const grant = this.#reserve(Math.min(RECEIVE_WINDOW_BYTES, offer.size));
    busy.set(key, transfer);
    const owners = this.#options.partOwners ?? new Map<string, string>();
    const owner = this.#partOwner();
    let sink: FileSink | undefined;
    let claim: Claim | undefined;
    try {
      const path = join(dir, offer.name);
      // Someone else's part file is neither resumed (its length would show), emptied nor replaced.
      const recorded = owners.get(key);
      if (recorded !== undefined && recorded !== owner && (await exists(`${path}${PART_SUFFIX}`))) {
        throw new TransferError(`${offer.name} is a partial upload of another client; choose another name`);
      }
      if (!offer.overwrite && (await exists(path))) throw new TransferError(`${offer.name} already exists on the server (use --overwrite)`);
      // Before the part file is touched: a client over its quota, or a disk without room, is told so, not ENOSPC halfway.
      const held = offer.resume ? ((await lstat(`${path}${PART_SUFFIX}`).catch(() => undefined))?.size ?? 0) : 0;
      claim = await this.#claimRoom(dir, key, owner, offer.size, Math.max(0, offer.size - held));
      this.#checkStopped(transfer);
      // Hashing a part file to resume it reads it all: bounded like any prefix hash a peer causes.
      sink = offer.resume && (await exists(`${path}${PART_SUFFIX}`))
        ? await this.#limitedHash(transfer, (control) => FileSink.open(path, true, offer.name, control))
        : await FileSink.open(path, offer.resume, offer.name);
      owners.set(key, owner);
      if (sink.length > offer.size) await sink.restart();
      this.#checkStopped(transfer);
    } catch (err) {
      busy.delete(key);
      grant?.release();
      claim?.release();
      await sink?.close();
      throw err;
    }
    const opened = sink;
    transfer.sink = opened;
    transfer.receiver = this.#receiverFor(transfer, opened, opened.length, offer.size, grant);
    this.#answer(transfer, 'offer', { type: 'accept', offset: opened.length, size: offer.size, prefix: '' });
    const offset = opened.length;
    const run = this.#receive(transfer, opened, offset, offer.size, {}, async (done) => {
      if (done.size !== offer.size) throw new TransferError(`the sender sent ${done.size} bytes, not the ${offer.size} it offered`);
      await opened.finish(done.sha256, offer.overwrite);
      // In place: there is no part file left to own.
      owners.delete(key);
    }).finally(async () => {
      grant?.release();
      claim?.release();
      await opened.close();
      busy.delete(key);
    });
    return { run, size: offer.size, offset };
  }

  /** The uploader says what the start of its file hashes to: continue the part file, or empty it. */
  async #answerResume(transfer: Transfer, question: Extract<TransferMessage, { type: 'resume' }>): Promise<void> {
    const sink = transfer.sink!;
    const receiver = transfer.receiver!;
    transfer.resuming = true;
    // Checked before anything is emptied: data flowing, or the file being checked, means a confused or hostile peer.
    if (transfer.finishing || !receiver.untouched) return this.#stop(transfer, 'the sender asked to resume too late');
    if (question.offset === sink.length && sameDigest(sink.prefixDigest(), question.prefix)) {
      return this.#answer(transfer, 'resume', { type: 'resumed', offset: sink.length });
    }
    try {
      await sink.restart();
    } catch (err) {
      return this.#stop(transfer, describeFsError(err, transfer.name));
    }
    if (!receiver.restartAt(0)) return this.#stop(transfer, 'the sender sent data before the answer to its resume');
    this.#answer(transfer, 'resume', { type: 'resumed', offset: 0 });
  }

  async #prepareDownload(transfer: Transfer, dir: string, get: Extract<TransferMessage, { type: 'get' }>): Promise<Started> {
    const path = join(dir, get.name);
    let source = await FileSource.open(path, true, get.name);
    let offset = 0;
    try {
      if (get.offset > 0 && get.offset <= source.size) {
        // The downloader holds a part file: prove what our file starts with, and let it decide.
        const prefix = await this.#limitedHash(transfer, (control) => source.prefixDigest(get.offset, control));
        this.#checkStopped(transfer);
        this.#answer(transfer, 'get', { type: 'accept', offset: get.offset, size: source.size, prefix });
        const decision = await this.#awaitRequest(transfer, 'continue');
        if (decision.offset !== get.offset && decision.offset !== 0) throw new TransferError('the downloader asked to continue at an impossible offset');
        offset = decision.offset;
        if (offset === 0) {
          // A fresh read, so the hash covers the file from its first byte.
          await source.close();
          source = await FileSource.open(path, true, get.name);
        }
        this.#answer(transfer, 'continue', { type: 'resumed', offset });
      } else {
        this.#answer(transfer, 'get', { type: 'accept', offset: 0, size: source.size, prefix: '' });
      }
      this.#checkStopped(transfer);
    } catch (err) {
      await source.close();
      throw err;
    }
    const opened = source;
    const run = this.#send(transfer, opened, offset, opened.size, {}).finally(() => opened.close());
    return { run, size: opened.size, offset };
  }

  /**
   * Who owns the part files this peer starts: its identity, when the handshake proved one (it
   * resumes from anywhere, and nobody else on its host can); else its host (hostKey of its
   * address), what stays the same when an anonymous client reconnects (PROTOCOL.md §8).
   */
  #partOwner(): string {
    const identity = this.#port.peerIdentity;
    return identity ? `identity ${toBase64Url(identity)}` : `host ${this.#port.peerHost}`;
  }

  /** Why a file of `size` bytes is too big to receive, if it is (`limit` says whose limit it is). */
  #sizeProblem(name: string, size: number, limit: string): string | undefined {
    const max = this.#options.maxSize;
    return max !== undefined && size > max ? `${name} is ${formatBytes(size)}, larger than ${limit}: ${formatBytes(max)}` : undefined;
  }

  /**
   * Counts an upload against its owner's quota and the directory's free space (less what running
   * uploads have yet to write); throws the refusal. Without a quota, only the free space is checked.
   */
  async #claimRoom(dir: string, key: string, owner: string, size: number, needed: number): Promise<Claim | undefined> {
    let free: number;
    try {
      free = await freeBytes(dir);
    } catch (err) {
      throw new TransferError(`cannot tell the free space: ${describeFsError(err, 'the directory')}`);
    }
    const quota = this.#options.diskQuota;
    const claim = quota ? quota.claim(key, owner, size, needed, free) : roomProblem(needed, free);
    if (typeof claim === 'string') throw new TransferError(claim);
    return claim;
  }

  /**
   * Runs a prefix hash the peer's request causes under the hash limiter (refused, with the reason,
   * when its host or the process is at the limit), stopped between blocks once the transfer is.
   */
  async #limitedHash<T>(transfer: Transfer, work: (control: HashControl) => Promise<T>): Promise<T> {
    const limiter = this.#options.hashLimiter ?? processHashLimiter;
    const release = limiter.admit(this.#port.peerHost);
    if (typeof release === 'string') throw new TransferError(release);
    try {
      return await work({ ...this.#stopControl(transfer), hashed: (bytes) => { limiter.hashedBytes += bytes; } });
    } finally {
      release();
    }
  }

  /** Stops a hash of our own between blocks once the transfer is stopped (Ctrl-C, the peer's abort). */
  #stopControl(transfer: Transfer): HashControl {
    return { stopped: () => transfer.stopped, hashed: () => undefined };
  }

  /**
   * Reserves `bytes` of the server's receive budget for the peer's host; throws (a refusal with
   * the reason) when they do not fit; undefined without a budget (every window is full).
   */
  #reserve(bytes: number): Grant | undefined {
    const budget = this.#options.receiveBudget;
    if (!budget) return undefined;
    const grant = budget.reserve(this.#port.peerHost, bytes);
    if (typeof grant === 'string') throw new TransferError(grant);
    return grant;
  }

  /** A receiver whose window is its grant (the full window without one), reporting what it holds to the budget. */
  #receiverFor(transfer: Transfer, sink: ByteSink, start: number, size: number | null, grant: Grant | undefined): StreamReceiver {
    const receiver = new StreamReceiver(this.#link(transfer.id), sink, start, size, grant?.bytes ?? RECEIVE_WINDOW_BYTES);
    if (grant) grant.held = () => receiver.held;
    return receiver;
  }

  /** Tells the optional listener how a transfer the peer started went. */
  async #report(transfer: Transfer, { run, size, offset }: Started): Promise<void> {
    const { onEvent } = this.#options;
    onEvent?.({ kind: 'started', id: transfer.id, direction: transfer.direction, name: transfer.name, size, offset });
    try {
      const result = await run;
      onEvent?.({ kind: 'finished', id: transfer.id, result });
    } catch (err) {
      onEvent?.({ kind: 'failed', id: transfer.id, direction: transfer.direction, name: transfer.name, reason: (err as Error).message });
    }
  }

  /* ---------------- plumbing ---------------- */

  /** A transfer we start: registered before any wait, so cancel() reaches it from the start. */
  #start(direction: Transfer['direction'], name: string): Transfer {
    if (this.#port.closed) throw new TransferError('the session is closed');
    return this.#add(this.#allocateId(), direction, name, true);
  }

  #add(id: number, direction: Transfer['direction'], name: string, startedByUs: boolean): Transfer {
    const transfer: Transfer = { id, direction, name, startedByUs, answers: new Map(), finished: false, contacted: !startedByUs };
    this.#transfers.set(id, transfer);
    return transfer;
  }

  #allocateId(): number {
    for (let tries = 0; tries < MAX_TRANSFER_ID; tries++) {
      const id = this.#nextId;
      this.#nextId = this.#nextId + 2 > MAX_TRANSFER_ID ? this.#nextId % 2 || 2 : this.#nextId + 2;
      if (!this.#transfers.has(id)) return id;
    }
    throw new TransferError('no free transfer id');
  }

  /** Tells a transfer to stop: its current wait ends now, or the next check throws. */
  #stop(transfer: Transfer, reason: string): void {
    transfer.stopped ??= reason;
    transfer.interrupt?.(reason);
  }

  #checkStopped(transfer: Transfer): void {
    if (transfer.stopped !== undefined) throw new TransferError(transfer.stopped);
  }

  /** Waits for `body` to settle, ending early (rejecting) when the transfer is stopped. */
  #wait<T>(transfer: Transfer, body: (resolve: (value: T) => void, reject: (err: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (transfer.stopped !== undefined) return reject(new TransferError(transfer.stopped));
      transfer.interrupt = (reason) => reject(new TransferError(reason));
      body(resolve, reject);
    }).finally(() => {
      transfer.interrupt = undefined;
      transfer.waiter = undefined;
    });
  }

  /** Waits for the peer's request of `type` about a transfer it started; gives up after the stall time. */
  #awaitRequest<T extends TransferMessageType>(transfer: Transfer, type: T): Promise<Extract<TransferMessage, { type: T }>> {
    let timer: NodeJS.Timeout | undefined;
    return this.#wait<Extract<TransferMessage, { type: T }>>(transfer, (resolve, reject) => {
      timer = setTimeout(() => reject(new TransferError(`the peer sent no ${type} for ${formatSeconds(this.#stallMs)}`)), this.#stallMs);
      transfer.waiter = { types: [type], resolve: (message) => resolve(message as Extract<TransferMessage, { type: T }>) };
    }).finally(() => clearTimeout(timer));
  }

  /**
   * How long a sender waits for `result` after `done`, `checking` answers or not: the stall time
   * plus the bytes sent at MIN_CHECK_BYTES_PER_SECOND (the receiver syncs and hashes them), at
   * most MAX_CHECK_WAIT_MS.
   */
  #checkWaitMs(bytes: number): number {
    return Math.min(MAX_CHECK_WAIT_MS, this.#stallMs + (bytes * 1000) / MIN_CHECK_BYTES_PER_SECOND);
  }

  /**
   * Sends `message` until an answer of `type` (or a refusal) arrives; gives up after the stall time
   * without a sign of life, and after `totalMs` (when given) whatever the peer says.
   */
  #request<T extends TransferMessageType>(transfer: Transfer, message: TransferMessage, type: T, totalMs?: number): Promise<Extract<TransferMessage, { type: T }>> {
    const first = clock();
    let started = first;
    let delay = CONTROL_RETRY_MS;
    return this.#wait<Extract<TransferMessage, { type: T }>>(transfer, (resolve, reject) => {
      const send = (): void => {
        if (this.#port.closed) return reject(new TransferError('the session closed'));
        if (clock() - started > this.#stallMs) return reject(new TransferError(`no answer from the peer for ${formatSeconds(this.#stallMs)}`));
        if (totalMs !== undefined && clock() - first > totalMs) {
          return reject(new TransferError(`the receiver was still checking the file after ${formatSeconds(totalMs)}; gave up (try again, or with --resume)`));
        }
        transfer.contacted = true;
        this.#sendMessage(transfer.id, message);
        transfer.retry = setTimeout(send, delay);
        delay = Math.min(delay * 1.5, 2000);
      };
      transfer.keepAlive = () => {
        started = clock();
      };
      transfer.waiter = {
        types: [type, 'reject', 'abort'],
        resolve: (answer) => {
          if (answer.type === 'reject') return reject(new TransferError(`the peer refused: ${answer.reason}`));
          if (answer.type === 'abort') return reject(new TransferError(`the peer aborted: ${answer.reason}`));
          resolve(answer as Extract<TransferMessage, { type: T }>);
        },
      };
      send();
    }).finally(() => {
      clearTimeout(transfer.retry);
      transfer.keepAlive = undefined;
    });
  }

  #answer(transfer: Transfer, to: TransferMessageType, answer: TransferMessage): void {
    transfer.answers.set(to, answer);
    this.#sendMessage(transfer.id, answer);
  }

  /** Refuses a request; a repeat of it (already in flight) gets the same answer. */
  #refuse(id: number, reason: string): void {
    this.#refused.set(id, reason);
    if (this.#refused.size > FINISHED_REMEMBERED) this.#refused.delete(this.#refused.keys().next().value!);
    this.#sendMessage(id, { type: 'reject', reason });
  }

  #sendMessage(id: number, message: TransferMessage): void {
    this.#port.sendFrame({ flags: TransferFlags.CONTROL, channel: id, sequence: 0, offset: 0 }, encodeMessage(message));
  }

  #link(id: number): FrameLink {
    const port = this.#port;
    return {
      maxBody: this.#maxBody,
      data: (packet, offset, payload) => port.sendFrame(
        { flags: TransferFlags.DATA, channel: id, sequence: packet, offset }, payload),
      ack: (largest, cumulative, ack) => port.sendFrame(
        { flags: TransferFlags.ACK, channel: id, sequence: Math.max(0, largest), offset: cumulative }, encodeAck(ack)),
    };
  }

  /** The transfer ended well: remembered for a while, to answer repeats (a completed receiver still acknowledges). */
  #finish(transfer: Transfer): void {
    transfer.finished = true;
    transfer.sender?.stop();
    this.#forgetOldest();
  }

  /** The transfer failed: streams stopped, the peer told (unless it told us), files closed by their owners. */
  #abandon(transfer: Transfer, err: Error): void {
    if (transfer.finished) return;
    transfer.finished = true;
    transfer.stopped ??= err.message;
    clearTimeout(transfer.retry);
    transfer.sender?.stop();
    transfer.receiver?.stop();
    // Not when the peer knows nothing of it yet (a local error would only tell it our paths), nor when it ended it.
    if (transfer.contacted && !(err instanceof TransferError && err.message.startsWith('the peer'))) {
      this.#sendMessage(transfer.id, { type: 'abort', reason: err.message });
    }
    this.#forgetOldest();
  }

  #forgetOldest(): void {
    let excess = this.#transfers.size - FINISHED_REMEMBERED - this.active;
    for (const [id, transfer] of this.#transfers) {
      if (excess <= 0) return;
      if (!transfer.finished) continue;
      this.#transfers.delete(id);
      excess--;
    }
  }

  #drop(): void {
    this.#port.drop('bad-transfer');
  }
}

/** `maxDatagram` if it is a datagram size transfers can use; InvalidInputError otherwise. */
export function checkMaxDatagram(maxDatagram: number): number {
  if (!Number.isInteger(maxDatagram) || maxDatagram < MIN_TRANSFER_DATAGRAM || maxDatagram > MAX_DATAGRAM) {
    throw new InvalidInputError(`datagram size must be ${MIN_TRANSFER_DATAGRAM}-${MAX_DATAGRAM} bytes`);
  }
  return maxDatagram;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function patternSource(): PatternSource {
  return new PatternSource((block) => randomFillSync(block));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
