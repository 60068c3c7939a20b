import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PART_SUFFIX, RECEIVE_WINDOW_BYTES, REMEMBERED_FILE_MAKERS, TRANSFER_STALL_MS } from '../constants.js';
import { toBase64Url } from '../encoding.js';
import { clock } from '../time.js';
import type { TransferMessage } from '../protocol/transfer.js';
import { formatBytes } from '../units.js';
import { DiscardSink } from './bandwidth.js';
import type { Grant } from './budget.js';
import { formatSeconds, type ControlChannel } from './control.js';
import { describeFsError, FileSink, FileSource, sameDigest, TransferFileError } from './files.js';
import { processHashLimiter, type HashControl } from './hashing.js';
import { listPage, type ListingPage } from './listing.js';
import { checkDirectories, makeDirectories } from './tree.js';
import { foldsCase, nameKey, relativePath } from './names.js';
import type { TransferPort } from './port.js';
import { freeBytes, roomProblem, type Claim } from './quota.js';
import { patternSource, type TransferStreams } from './streams.js';
import type { TransferTable } from './table.js';
import { asTransferFailure, TransferError } from './transfer-error.js';
import type { TransferRecord } from './transfer-state.js';
import type { TransferEndpointOptions, TransferResult } from './types.js';

/** A transfer the peer started, running (a wrapper: an async function would wait for a bare promise). */
interface Started {
  run: Promise<TransferResult>;
  size: number;
  offset: number;
}

/** The requests the peer may start a transfer with. */
export type StartRequest = Extract<TransferMessage, { type: 'offer' | 'get' | 'bandwidth' | 'list' | 'mkdir' }>;

/**
 * Answering the transfers the peer starts on one session (the file service's side of it): its
 * offers (uploads into `dir`), gets (downloads from it) and bandwidth tests are checked against
 * the names, sizes, quotas, budgets and limits in `options` (shared by every session of a
 * server: file-service.ts) and refused with a reason, or accepted and run.
 */
export class PeerRequests {
  readonly #port: TransferPort;
  readonly #control: ControlChannel;
  readonly #table: TransferTable;
  readonly #streams: TransferStreams;
  readonly #options: TransferEndpointOptions;

  constructor(port: TransferPort, control: ControlChannel, table: TransferTable, streams: TransferStreams, options: TransferEndpointOptions) {
    this.#port = port;
    this.#control = control;
    this.#table = table;
    this.#streams = streams;
    this.#options = options;
  }

  async answerStart(id: number, request: StartRequest): Promise<void> {
    if (this.#options.answerPeer === false) return this.#control.refuse(id, 'this side does not take transfers it did not start');
    if (this.#table.full) return this.#control.refuse(id, 'too many transfers at once on this session');
    if (request.type === 'list') return this.#answerList(id, request.after, request.dir);
    if (request.type === 'mkdir') return this.#answerMkdir(id, request.name);
    const direction = request.type === 'offer' || (request.type === 'bandwidth' && request.direction === 'up') ? 'receive' : 'send';
    // Counted from now, before any wait: a burst of requests cannot pass the limit together.
    const transfer = this.#table.add(id, direction, request.type === 'bandwidth' ? '' : request.name, false);
    transfer.peerReadsShortData = request.short === true;
    let started: Started;
    try {
      started = await this.#prepare(transfer, request);
    } catch (err) {
      this.#table.delete(id);
      // Refused before it started: the peer hears why, in the words it used for the file.
      const reason = err instanceof TransferError || err instanceof TransferFileError ? err.message : describeFsError(err, transfer.name);
      this.#options.onEvent?.({ kind: 'refused', id, direction: transfer.direction, name: transfer.name, reason });
      return this.#control.refuse(id, reason);
    }
    return this.#report(transfer, started);
  }

  /** Checks a request the peer made and sets the transfer going; throws to refuse it. */
  async #prepare(transfer: TransferRecord, request: Exclude<StartRequest, { type: 'list' | 'mkdir' }>): Promise<Started> {
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
    // Either may name a file inside a tree: a relative path, every component checked.
    const checked = relativePath(request.name);
    if ('problem' in checked) throw new TransferError(`refused name ${JSON.stringify(request.name)}: ${checked.problem}`);
    const { name } = checked;
    return request.type === 'offer' ? this.#prepareUpload(transfer, dir, { ...request, name }) : this.#prepareDownload(transfer, dir, { ...request, name });
  }

  /**
   * One page of the download directory's listing, or of the directory `tree` inside it (subdirectories
   * included): answered (and kept for a repeat of the request) at once.
   */
  async #answerList(id: number, after: string, tree: string | undefined): Promise<void> {
    const { dir } = this.#options;
    if (dir === undefined || !this.#options.allowDownload) {
      return this.#control.refuse(id, 'this server serves no downloads, so it lists nothing (start it with --allow-download)');
    }
    const checked = tree ? relativePath(tree) : { name: '' };
    if ('problem' in checked) return this.#control.refuse(id, `refused name ${JSON.stringify(tree)}: ${checked.problem}`);
    const transfer = this.#table.add(id, 'send', checked.name, false);
    let page: ListingPage;
    try {
      page = await listPage(dir, after, tree === undefined ? undefined : checked.name.split('/').filter(Boolean));
    } catch (err) {
      this.#table.delete(id);
      const shown = checked.name === '' ? 'the directory' : checked.name;
      return this.#control.refuse(id, err instanceof TransferError ? err.message : `cannot list ${shown}: ${describeFsError(err, shown)}`);
    }
    this.#control.answer(transfer, 'list', page);
    this.#streams.finish(transfer);
  }

  /** An empty directory of an uploaded tree: made (with its parents) and answered at once. */
  async #answerMkdir(id: number, name: string): Promise<void> {
    const { dir } = this.#options;
    if (dir === undefined) return this.#control.refuse(id, 'this server accepts no files (start it with --dir)');
    const checked = relativePath(name);
    if ('problem' in checked) return this.#control.refuse(id, `refused name ${JSON.stringify(name)}: ${checked.problem}`);
    const transfer = this.#table.add(id, 'receive', checked.name, false);
    try {
      await makeDirectories(dir, checked.name.split('/'));
    } catch (err) {
      this.#table.delete(id);
      return this.#control.refuse(id, (err as Error).message);
    }
    this.#control.answer(transfer, 'mkdir', { type: 'accept', offset: 0, size: 0, prefix: '' });
    this.#streams.finish(transfer);
  }

  /** A bandwidth test the peer asked for, admitted by the policy: sets it going. */
  #startBandwidth(transfer: TransferRecord, request: Extract<TransferMessage, { type: 'bandwidth' }>): Started {
    if (request.direction === 'down') {
      this.#control.answer(transfer, 'bandwidth', { type: 'accept', offset: 0, size: 0, prefix: '', short: true });
      return { run: this.#streams.send(transfer, patternSource(), 0, null, {}, request.seconds), size: 0, offset: 0 };
    }
    // The peer sends: it gets the time it asked for, and the stall time to finish.
    const grant = this.#reserve(RECEIVE_WINDOW_BYTES);
    const sink = new DiscardSink();
    transfer.receiver = this.#streams.receiverFor(transfer, sink, 0, null, grant);
    const deadline = this.#streams.bandwidthDeadline(transfer, request.seconds);
    this.#control.answer(transfer, 'bandwidth', { type: 'accept', offset: 0, size: 0, prefix: '', short: true });
    const run = this.#streams.receive(transfer, sink, 0, null, {}, async () => undefined).finally(() => {
      clearTimeout(deadline);
      grant?.release();
    });
    return { run, size: 0, offset: 0 };
  }

  /** `offer.name` is the NFC name. */
  async #prepareUpload(transfer: TransferRecord, dir: string, offer: Extract<TransferMessage, { type: 'offer' }>): Promise<Started> {
    if (offer.overwrite && this.#options.allowOverwrite === false) throw new TransferError('this server does not replace existing files (refused --overwrite)');
    const tooBig = sizeProblem(offer.name, offer.size, this.#options.maxSize, 'what this server takes');
    if (tooBig !== undefined) throw new TransferError(tooBig);
    const key = nameKey(offer.name, await foldsCase(dir));
    this.#control.checkStopped(transfer);
    const busy = this.#options.busyNames ?? new Map<string, { finished: boolean }>();
    if (busy.has(key)) {
      // Most often the client's own earlier run, killed: its transfer lasts until the stall time.
      const stall = formatSeconds(this.#options.stallMs ?? TRANSFER_STALL_MS);
      throw new TransferError(`${offer.name} is being received from another transfer (an interrupted one ends after ${stall} without data: then try again)`);
    }
    const owners = this.#options.partOwners ?? new Map<string, string>();
    const makers = this.#options.fileMakers ?? new Map<string, string>();
    const owner = this.#partOwner();
    const path = join(dir, offer.name);
    if (offer.ifChanged && !offer.overwrite) {
      const held = await this.#offerComparison(transfer, path, offer, makers.get(key) === owner);
      if (held) return held;
    }
    // Before any disk work: a client over its share of memory is refused at once.
    const grant = this.#reserve(Math.min(RECEIVE_WINDOW_BYTES, offer.size));
    busy.set(key, transfer);
    let sink: FileSink | undefined;
    let claim: Claim | undefined;
    try {
      // Someone else's part file is neither resumed (its length would show), emptied nor replaced.
      const recorded = owners.get(key);
      if (recorded !== undefined && recorded !== owner && (await exists(`${path}${PART_SUFFIX}`))) {
        throw new TransferError(`${offer.name} is a partial upload of another client; choose another name`);
      }
      if (!offer.overwrite && (await exists(path))) throw new TransferError(`${offer.name} already exists on the server (use --overwrite)`);
      // Before the part file is touched: a client over its quota, or a disk without room, is told so, not ENOSPC halfway.
      const held = offer.resume ? ((await lstat(`${path}${PART_SUFFIX}`).catch(() => undefined))?.size ?? 0) : 0;
      claim = await this.#claimRoom(dir, key, owner, offer.size, Math.max(0, offer.size - held));
      // A file inside a tree: its directories first, each a real directory of `dir`.
      if (offer.name.includes('/')) await makeDirectories(dir, offer.name.split('/').slice(0, -1));
      this.#control.checkStopped(transfer);
      // Hashing a part file to resume it reads it all: bounded like any prefix hash a peer causes.
      sink = offer.resume && (await exists(`${path}${PART_SUFFIX}`))
        ? await this.#limitedHash(transfer, (control) => FileSink.open(path, true, offer.name, control))
        : await FileSink.open(path, offer.resume, offer.name);
      owners.set(key, owner);
      if (sink.length > offer.size) await sink.restart();
      this.#control.checkStopped(transfer);
    } catch (err) {
      busy.delete(key);
      grant?.release();
      claim?.release();
      await sink?.close();
      throw err;
    }
    const opened = sink;
    transfer.sink = opened;
    transfer.receiver = this.#streams.receiverFor(transfer, opened, opened.length, offer.size, grant);
    this.#control.answer(transfer, 'offer', { type: 'accept', offset: opened.length, size: offer.size, prefix: '', short: true });
    const offset = opened.length;
    const run = this.#streams.receive(transfer, opened, offset, offer.size, {}, async (done) => {
      if (done.size !== offer.size) throw new TransferError(`the sender sent ${done.size} bytes, not the ${offer.size} it offered`);
      await opened.finish(done.sha256, offer.overwrite, { mtime: offer.mtime, mode: offer.mode });
      // In place: there is no part file left to own; its maker may have a copy it sends again compared (ifChanged).
      owners.delete(key);
      rememberMaker(makers, key, owner);
    }).finally(async () => {
      grant?.release();
      claim?.release();
      await opened.close();
      busy.delete(key);
    });
    return { run, size: offer.size, offset };
  }

  /**
   * An offer (`ifChanged`) of a file `path` already holds with the same size: answered `held`, and
   * the uploader's `done` then says its SHA-256, which is compared with the held file's (hashed
   * under the hash limiter, as a resume's prefix is); no data moves. Undefined, so the offer is
   * refused as existing as before, when the sizes differ, or when this peer may not learn whether a
   * file is the same: only its maker (`madeByPeer`: a recent upload since this server started) or, with
   * allowDownload, anyone, since anyone could read the file anyway.
   */
  async #offerComparison(transfer: TransferRecord, path: string, offer: Extract<TransferMessage, { type: 'offer' }>,
    madeByPeer: boolean): Promise<Started | undefined> {
    if (!madeByPeer && !this.#options.allowDownload) return undefined;
    const stat = await lstat(path).catch(() => undefined);
    if (!stat?.isFile() || stat.size !== offer.size) return undefined;
    this.#control.checkStopped(transfer);
    this.#control.answer(transfer, 'offer', { type: 'accept', offset: offer.size, size: offer.size, prefix: '', held: true });
    return { run: this.#compareHeld(transfer, path, offer), size: offer.size, offset: offer.size };
  }

  async #compareHeld(transfer: TransferRecord, path: string, offer: Extract<TransferMessage, { type: 'offer' }>): Promise<TransferResult> {
    const started = clock();
    try {
      const done = await this.#control.awaitRequest(transfer, 'done');
      // A repeated `done` is answered `checking` from here on (endpoint.ts), so the uploader waits for the hash.
      transfer.to({ kind: 'finishing' });
      transfer.to({ kind: 'checking' });
      const same = done.size === offer.size && await this.#limitedHash(transfer, async (control) => {
        const held = await FileSource.open(path, true, offer.name);
        try {
          await held.prefixDigest(offer.size, control);
          return sameDigest(held.digest(), done.sha256);
        } finally {
          await held.close();
        }
      });
      const reason = same ? '' : `${offer.name} already exists on the server and differs from the file sent (use --overwrite)`;
      this.#control.answer(transfer, 'done', { type: 'result', ok: same, reason });
      this.#streams.finish(transfer, same ? undefined : reason);
      if (!same) throw new TransferError(reason);
      return {
        name: offer.name, direction: 'receive', size: offer.size, offset: offer.size, seconds: (clock() - started) / 1000,
        sha256: done.sha256, stats: done.stats, restarted: false, unchanged: 1,
      };
    } catch (err) {
      const failure = asTransferFailure(err);
      this.#streams.abandon(transfer, failure);
      throw failure;
    }
  }

  /** The uploader says what the start of its file hashes to: continue the part file, or empty it. */
  async answerResume(transfer: TransferRecord, question: Extract<TransferMessage, { type: 'resume' }>): Promise<void> {
    const sink = transfer.sink!;
    const receiver = transfer.receiver!;
    // Checked before anything is emptied: data flowing, or the file being checked, means a confused or hostile peer.
    if (!transfer.is('open') || !receiver.untouched) return this.#control.stop(transfer, 'the sender asked to resume too late');
    transfer.to({ kind: 'resuming' });
    if (question.offset === sink.length && sameDigest(sink.prefixDigest(), question.prefix)) {
      return this.#control.answer(transfer, 'resume', { type: 'resumed', offset: sink.length });
    }
    try {
      await sink.restart();
    } catch (err) {
      return this.#control.stop(transfer, describeFsError(err, transfer.name));
    }
    if (!receiver.restartAt(0)) return this.#control.stop(transfer, 'the sender sent data before the answer to its resume');
    this.#control.answer(transfer, 'resume', { type: 'resumed', offset: 0 });
  }

  /** `get.name` is the NFC path; every directory on its way must be a real one, and the file is not a link. */
  async #prepareDownload(transfer: TransferRecord, dir: string, get: Extract<TransferMessage, { type: 'get' }>): Promise<Started> {
    await checkDirectories(dir, get.name.split('/').slice(0, -1));
    const path = join(dir, get.name);
    let source = await FileSource.open(path, true, get.name);
    let offset = 0;
    try {
      if (get.offset > 0 && get.offset <= source.size) {
        // The downloader holds a part file: prove what our file starts with, and let it decide.
        const prefix = await this.#limitedHash(transfer, (control) => source.prefixDigest(get.offset, control));
        this.#control.checkStopped(transfer);
        this.#control.answer(transfer, 'get', { type: 'accept', offset: get.offset, size: source.size, prefix, ...source.metadata, short: true });
        const decision = await this.#control.awaitRequest(transfer, 'continue');
        if (decision.offset !== get.offset && decision.offset !== 0) throw new TransferError('the downloader asked to continue at an impossible offset');
        offset = decision.offset;
        if (offset === 0) {
          // A fresh read, so the hash covers the file from its first byte.
          await source.close();
          source = await FileSource.open(path, true, get.name);
        }
        this.#control.answer(transfer, 'continue', { type: 'resumed', offset });
      } else {
        this.#control.answer(transfer, 'get', { type: 'accept', offset: 0, size: source.size, prefix: '', ...source.metadata, short: true });
      }
      this.#control.checkStopped(transfer);
    } catch (err) {
      await source.close();
      throw err;
    }
    const opened = source;
    const run = this.#streams.send(transfer, opened, offset, opened.size, {}).finally(() => opened.close());
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
  async #limitedHash<T>(transfer: TransferRecord, work: (control: HashControl) => Promise<T>): Promise<T> {
    const limiter = this.#options.hashLimiter ?? processHashLimiter;
    const release = limiter.admit(this.#port.peerHost);
    if (typeof release === 'string') throw new TransferError(release);
    try {
      return await work({ ...this.#streams.stopControl(transfer), hashed: (bytes) => { limiter.hashedBytes += bytes; } });
    } finally {
      release();
    }
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

  /** Tells the optional listener how a transfer the peer started went. */
  async #report(transfer: TransferRecord, { run, size, offset }: Started): Promise<void> {
    const { onEvent } = this.#options;
    onEvent?.({ kind: 'started', id: transfer.id, direction: transfer.direction, name: transfer.name, size, offset });
    try {
      const result = await run;
      onEvent?.({ kind: 'finished', id: transfer.id, result });
    } catch (err) {
      onEvent?.({ kind: 'failed', id: transfer.id, direction: transfer.direction, name: transfer.name, reason: (err as Error).message });
    }
  }
}

/** Why a file of `size` bytes is too big to receive under `max`, if it is (`limit` says whose limit it is). */
export function sizeProblem(name: string, size: number, max: number | undefined, limit: string): string | undefined {
  return max !== undefined && size > max ? `${name} is ${formatBytes(size)}, larger than ${limit}: ${formatBytes(max)}` : undefined;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Records `owner` as the latest maker of `key`, forgetting the oldest past REMEMBERED_FILE_MAKERS. */
export function rememberMaker(makers: Map<string, string>, key: string, owner: string): void {
  makers.delete(key);
  makers.set(key, owner);
  for (const oldest of makers.keys()) {
    if (makers.size <= REMEMBERED_FILE_MAKERS) break;
    makers.delete(oldest);
  }
}
