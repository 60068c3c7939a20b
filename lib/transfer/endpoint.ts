import { basename, dirname } from 'node:path';
import {
  DEFAULT_MAX_DATAGRAM, LIST_SCAN_NAMES, MAX_BANDWIDTH_SECONDS, MAX_DATAGRAM, MAX_TRANSFER_MESSAGE_BYTES, MIN_TRANSFER_DATAGRAM, PART_SUFFIX, TRANSFER_OVERHEAD,
  TRANSFER_STALL_MS,
} from '../constants.js';
import { InvalidInputError } from '../errors.js';
import { clock } from '../time.js';
import type { FrameHandler, Session } from '../net/session.js';
import { decodeAck, decodeMessage, encodeMessage, TransferFlags, type ListEntry, type TransferMessage, type TransferMessageType } from '../protocol/transfer.js';
import { DiscardSink } from './bandwidth.js';
import { ControlChannel } from './control.js';
import { describeFsError, FileSink, FileSource, sameDigest, TransferFileError } from './files.js';
import { fileNameProblem, lastComponent, relativePathProblem } from './names.js';
import { exists, PeerRequests, sizeProblem } from './peer-requests.js';
import { sessionPort, type TransferPort } from './port.js';
import { StreamSink } from './stream-sink.js';
import { freeBytes, roomProblem } from './quota.js';
import { StreamReceiver, type ByteSink } from './receiver.js';
import { patternSource, TransferStreams } from './streams.js';
import { TransferTable } from './table.js';
import { PeerWatch } from './peer-silence.js';
import { asTransferFailure, PeerSilentError, TransferError } from './transfer-error.js';
import type { TransferRecord } from './transfer-state.js';
import type { BandwidthOptions, DownloadOptions, TransferEndpointOptions, TransferResult, UploadOptions } from './types.js';

export { TransferError };
export type { BandwidthOptions, DownloadOptions, TransferEndpointOptions, TransferEvent, TransferResult, UploadOptions } from './types.js';

/**
 * File transfer over one version-2 session: uploads, downloads and bandwidth tests, started by
 * either side. This is the session's frame handler and the public API; the parts are
 * control.ts (control messages, sent again until answered, and cached answers), table.ts (the
 * transfers by id), streams.ts (the two halves of a transfer: StreamSender/StreamReceiver and
 * the `done`/`result` exchange), peer-requests.ts (answering the transfers the peer starts) and
 * transfer-state.ts (each transfer's state). One endpoint per session; a server's FileService
 * makes one for a session when its first transfer frame arrives.
 */
export class TransferEndpoint implements FrameHandler {
  readonly #port: TransferPort;
  readonly #options: TransferEndpointOptions;
  readonly #table: TransferTable;
  readonly #control: ControlChannel;
  readonly #streams: TransferStreams;
  readonly #peer: PeerRequests;
  readonly #watch: PeerWatch | undefined;
  /** The request that makes the peer hash a file now, if any (#peerHashes). */
  #peerHashing: Promise<unknown> = Promise.resolve();

  /** `session`: a version-2 session (TransferError for a version-1 one), or any TransferPort. */
  constructor(session: Session | TransferPort, options: TransferEndpointOptions = {}) {
    const port = 'version' in session ? sessionPort(session) : session;
    const maxBody = checkMaxDatagram(options.maxDatagram ?? DEFAULT_MAX_DATAGRAM) - TRANSFER_OVERHEAD;
    const stallMs = options.stallMs ?? TRANSFER_STALL_MS;
    this.#port = port;
    this.#options = options;
    this.#table = new TransferTable(port.role);
    this.#control = new ControlChannel(port, stallMs);
    this.#streams = new TransferStreams(port, this.#control, this.#table, maxBody, stallMs);
    this.#peer = new PeerRequests(port, this.#control, this.#table, this.#streams, options);
    const silenceMs = options.peerSilenceMs;
    this.#watch = silenceMs === undefined || port.lastReceived === undefined ? undefined
      : new PeerWatch(silenceMs, () => port.lastReceived ?? clock(), () => this.#ours().length > 0, () => {
        for (const transfer of this.#ours()) this.#control.stopWith(transfer, new PeerSilentError(silenceMs));
      });
    port.attach(this);
  }

  sessionClosed(): void {
    this.#watch?.stop();
    this.cancel('the session closed');
  }

  /** The transfers this side started that still run (the ones a silent peer holds up). */
  #ours(): TransferRecord[] {
    return [...this.#table.live()].filter((transfer) => transfer.startedByUs);
  }

  /** Transfers in progress. */
  get active(): number {
    return this.#table.active;
  }

  /* ---------------- starting transfers ---------------- */

  /** Sends the file at `path`; resolves once the receiver has checked its hash and put it in place. */
  async upload(path: string, options: UploadOptions = {}): Promise<TransferResult> {
    const name = options.as ?? basename(path);
    // `as` may be a relative path: a file of a directory tree being sent.
    const problem = relativePathProblem(name);
    if (problem) throw new InvalidInputError(`cannot send as ${JSON.stringify(name)}: ${problem}`);
    const transfer = this.#start('send', name);
    let source: FileSource | undefined;
    try {
      source = await FileSource.open(path, false);
      this.#control.checkStopped(transfer);
      const { size } = source;
      const overwrite = options.overwrite ?? false;
      const offer = {
        type: 'offer', name, size, resume: options.resume ?? false, overwrite,
        ...(overwrite || options.skipUnchanged === false ? {} : { ifChanged: true as const }),
        ...(options.metadata === false ? {} : source.metadata),
        short: true,
      } as const;
      const accepted = await this.#control.request(transfer, offer, 'accept');
      transfer.peerReadsShortData = accepted.short === true;
      if (accepted.held) return await this.#proveUnchanged(transfer, source);
      let { offset } = accepted;
      const held = offset;
      // Continuing a part file is the user's choice, as for downloads: never on the receiver's word alone.
      if (offset > 0 && !offer.resume) throw new TransferError('the receiver offered to continue a partial upload, which this upload did not ask for (refused)');
      if (offset > 0) {
        // The receiver has a part file: it continues only if that is the start of this file.
        const prefix = offset <= size ? await source.prefixDigest(offset, this.#streams.stopControl(transfer)) : '';
        this.#control.checkStopped(transfer);
        if (prefix === '') throw new TransferError(`the receiver's part file is longer than the file sent (${name})`);
        const asked = offset;
        ({ offset } = await this.#peerHashes(() => this.#control.request(transfer, { type: 'resume', offset, prefix }, 'resumed')));
        if (offset !== asked && offset !== 0) throw new TransferError('the receiver answered the resume with an impossible offset');
        if (offset === 0) {
          // It was not: a fresh read, so the hash covers the file from its first byte.
          await source.close();
          source = await FileSource.open(path, false);
          this.#control.checkStopped(transfer);
        }
      }
      const result = await this.#streams.send(transfer, source, offset, size, options);
      return { ...result, restarted: held > 0 && offset === 0 };
    } catch (err) {
      const failure = asTransferFailure(err);
      this.#streams.abandon(transfer, failure);
      throw failure;
    } finally {
      await source?.close();
    }
  }

  /**
   * The receiver holds a file of this name and size: it learns our file's SHA-256 (never the other
   * way round) and says whether its copy is the same; no data moves. Refused as existing if not.
   */
  async #proveUnchanged(transfer: TransferRecord, source: FileSource): Promise<TransferResult> {
    const started = clock();
    const { size } = source;
    await source.prefixDigest(size, this.#streams.stopControl(transfer));
    this.#control.checkStopped(transfer);
    const stats = { packets: 0, retransmits: 0, srtt: null, minRtt: null };
    const sha256 = source.digest();
    // Bounded in total like any wait for a file's check: a receiver that answers `checking` for ever is given up.
    const answer = await this.#peerHashes(() => this.#control.request(transfer, { type: 'done', size, sha256, stats }, 'result', this.#streams.checkWaitMs(size)));
    this.#streams.finish(transfer, answer.ok ? undefined : answer.reason);
    if (!answer.ok) throw TransferError.fromPeer('refused', answer.reason);
    return { name: transfer.name, direction: 'send', size, offset: size, seconds: (clock() - started) / 1000, sha256, stats, restarted: false, unchanged: 1 };
  }

  /**
   * Fetches `name` (a file of the peer's directory, or a relative path to one in a tree) into
   * `options.out` (default: its last component, in the current directory).
   */
  async download(name: string, options: DownloadOptions = {}): Promise<TransferResult> {
    const problem = relativePathProblem(name);
    if (problem) throw new InvalidInputError(`cannot get ${JSON.stringify(name)}: ${problem}`);
    const out = options.out ?? lastComponent(name);
    const stream = options.to;
    const transfer = this.#start('receive', name);
    // A part file is opened before asking only to resume it; otherwise nothing is created (or
    // emptied) until the peer has agreed to send.
    let opened: FileSink | undefined;
    let ready: Promise<FileSink | StreamSink> | undefined;
    try {
      if (!stream && !options.overwrite && (await exists(out))) throw new TransferFileError(`${out}: already exists (use --overwrite to replace it)`);
      if (!stream && options.resume && (await exists(`${out}${PART_SUFFIX}`))) opened = await FileSink.open(out, true);
      // Measured before asking: once the sender has accepted, the receiver must exist within this turn.
      const free = stream ? Number.MAX_SAFE_INTEGER
        : await freeBytes(dirname(out)).catch((err: unknown) => { throw new TransferFileError(describeFsError(err, dirname(out))); });
      this.#control.checkStopped(transfer);
      const held = opened?.length ?? 0;
      const ask = () => this.#control.request(transfer, { type: 'get', name, offset: held, short: true }, 'accept');
      // With a part file, the sender hashes that much of its file before it answers.
      const answer = await (held > 0 ? this.#peerHashes(ask) : ask());
      if (answer.offset !== held && answer.offset !== 0) throw new TransferError('the sender proposed an impossible start offset');
      const tooBig = sizeProblem(name, answer.size, this.#options.maxSize, 'the limit (--max-size)');
      if (tooBig !== undefined) throw new TransferError(tooBig);
      const noRoom = roomProblem(answer.size - answer.offset, free);
      if (noRoom !== undefined) throw new TransferError(`${noRoom}; free some space or choose another --out`);
      let start = answer.offset;
      if (start > 0) {
        // The server proved what its file starts with; we decide, and it waits for the decision.
        if (answer.prefix === '') throw new TransferError('the sender offered to resume without proving its file\'s start');
        start = sameDigest(opened!.prefixDigest(), answer.prefix) ? held : 0;
        const { offset } = await this.#control.request(transfer, { type: 'continue', offset: start }, 'resumed');
        if (offset !== start) throw new TransferError('the sender answered the resume with an impossible offset');
      }
      // The sender starts at once: the receiver must exist before this turn of the event loop
      // ends, so the file is opened (or emptied) behind it and the first writes wait for that.
      const partFile = opened;
      ready = stream ? Promise.resolve(stream) : partFile && start === held ? Promise.resolve(partFile)
        : partFile ? partFile.restart().then(() => partFile) : FileSink.open(out, false);
      ready.then((sink) => { if (sink instanceof FileSink) opened = sink; }, () => undefined);
      const pending = ready;
      const sink: ByteSink = { write: async (chunks) => (await pending).write(chunks) };
      transfer.receiver = new StreamReceiver(this.#streams.link(transfer.id), sink, start, answer.size);
      const result = await this.#streams.receive(transfer, sink, start, answer.size, options, async (done) => {
        await (await pending).finish(done.sha256, options.overwrite ?? false, { mtime: answer.mtime, mode: answer.mode });
      });
      return { ...result, restarted: held > 0 && start === 0 };
    } catch (err) {
      const failure = asTransferFailure(err);
      this.#streams.abandon(transfer, failure);
      throw failure;
    } finally {
      await ready?.catch(() => undefined);
      await opened?.close();
    }
  }

  /**
   * What the peer offers for download (a server with allowDownload), page by page, in name order:
   * its top directory's files or, given `dir` (a relative path, '' for the top), that directory's
   * files and subdirectories (entries with `dir`). The peer's answers are hostile like everything
   * else: names a download could not use are left out and listed in `refused`, with why, and at
   * most LIST_SCAN_NAMES entries are taken (then `truncated`).
   */
  async list(dir?: string): Promise<{ entries: ListEntry[]; truncated: boolean; refused: string[] }> {
    const problem = dir ? relativePathProblem(dir) : null;
    if (problem) throw new InvalidInputError(`cannot list ${JSON.stringify(dir)}: ${problem}`);
    const entries: ListEntry[] = [];
    const refused: string[] = [];
    let truncated = false;
    let after = '';
    for (let page = 0; page < LIST_SCAN_NAMES; page++) {
      const request = { type: 'list', after, ...(dir === undefined ? {} : { dir }) } as const;
      // The peer drops a request longer than a control message: say so rather than wait for nothing.
      if (encodeMessage(request).length > MAX_TRANSFER_MESSAGE_BYTES) throw new TransferError(`cannot list ${dir}: its path is too long to ask for`);
      const answer = await this.#ask('receive', '', request, 'listing');
      if (dir && !answer.tree) throw new TransferError(`the peer lists no directories (an older version): cannot list ${dir}`, { origin: 'peer' });
      for (const entry of answer.entries) {
        const unusable = fileNameProblem(entry.name);
        if (unusable !== null) refused.push(`${JSON.stringify(entry.name)}: ${unusable}`);
        else if (entry.name > after) entries.push(entry);
      }
      truncated ||= answer.truncated;
      // A page must move forward: a peer cannot keep us asking for ever.
      if (answer.next === '' || answer.next <= after || entries.length >= LIST_SCAN_NAMES) return { entries, truncated: truncated || answer.next !== '', refused };
      after = answer.next;
    }
    return { entries, truncated: true, refused };
  }

  /** Makes the directory `name` (a relative path, with its parents) in the peer's directory: an empty directory of a tree being sent. */
  async makeDirectory(name: string): Promise<void> {
    const problem = relativePathProblem(name);
    if (problem) throw new InvalidInputError(`cannot make the directory ${JSON.stringify(name)}: ${problem}`);
    await this.#ask('send', name, { type: 'mkdir', name }, 'accept');
  }

  /** One request and its answer on a transfer of their own (no stream): finished on the answer, abandoned on a failure. */
  async #ask<T extends TransferMessageType>(direction: TransferRecord['direction'], name: string, request: TransferMessage,
    answer: T): Promise<Extract<TransferMessage, { type: T }>> {
    const transfer = this.#start(direction, name);
    try {
      const reply = await this.#control.request(transfer, request, answer);
      this.#streams.finish(transfer);
      return reply;
    } catch (err) {
      const failure = asTransferFailure(err);
      this.#streams.abandon(transfer, failure);
      throw failure;
    }
  }

  /** A bandwidth test: 'up' sends for `seconds`, 'down' asks the peer to send. */
  async bandwidth(direction: 'up' | 'down', seconds: number, options: BandwidthOptions = {}): Promise<TransferResult> {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_BANDWIDTH_SECONDS) {
      throw new InvalidInputError(`a bandwidth test lasts 1-${MAX_BANDWIDTH_SECONDS} whole seconds`);
    }
    const transfer = this.#start(direction === 'up' ? 'send' : 'receive', '');
    const asked = clock();
    try {
      const answer = await this.#control.request(transfer, { type: 'bandwidth', direction, seconds, short: true }, 'accept');
      if (answer.offset !== 0) throw new TransferError('the peer answered the bandwidth test wrongly');
      transfer.peerReadsShortData = answer.short === true;
      const progress = { onProgress: options.onProgress };
      // A peer that keeps sending (or never answers `done`) must not keep a script waiting forever.
      const deadline = this.#streams.bandwidthDeadline(transfer, seconds);
      try {
        if (direction === 'up') return await this.#streams.send(transfer, patternSource(), 0, null, progress, seconds);
        return await this.#streams.receive(transfer, new DiscardSink(), 0, null, { ...progress, startedAt: asked }, async () => undefined);
      } finally {
        clearTimeout(deadline);
      }
    } catch (err) {
      const failure = asTransferFailure(err);
      this.#streams.abandon(transfer, failure);
      throw failure;
    }
  }

  /** Stops every transfer in progress and tells the peer (Ctrl-C); part files stay for --resume. */
  cancel(reason: string): void {
    for (const transfer of this.#table.live()) this.#control.stop(transfer, reason);
  }

  /**
   * Runs `request`, one that makes the peer hash a file before it answers (a resume's prefix, the
   * check of a file it already holds), after any such request of ours still waiting: a peer hashes
   * for one client host at a time (HASH_JOBS_PER_HOST) and refuses a second at once, and a tree
   * moves several files together (moveFiles).
   */
  #peerHashes<T>(request: () => Promise<T>): Promise<T> {
    const turn = this.#peerHashing.then(request);
    this.#peerHashing = turn.catch(() => undefined);
    return turn;
  }

  /** A transfer we start: registered before any wait, so cancel() reaches it from the start. */
  #start(direction: TransferRecord['direction'], name: string): TransferRecord {
    if (this.#port.closed) throw new TransferError('the session is closed');
    const transfer = this.#table.start(direction, name);
    this.#watch?.wake();
    return transfer;
  }

  /* ---------------- frames from the peer ---------------- */

  receiveFrame(flags: number, id: number, sequence: number, offset: number, body: Buffer): void {
    const transfer = this.#table.get(id);
    switch (flags) {
      case TransferFlags.DATA:
      case TransferFlags.SHORT_DATA:
        if (transfer?.receiver?.onData(sequence, offset, body, flags === TransferFlags.SHORT_DATA) !== 'ok') this.#port.drop('bad-transfer');
        return;
      case TransferFlags.ACK: {
        const ack = transfer?.sender ? decodeAck(body) : null;
        if (!ack) return this.#port.drop('bad-transfer');
        if (!transfer!.sender!.onAck(sequence, offset, ack)) this.#port.drop('optimistic-ack');
        return;
      }
      case TransferFlags.CONTROL: {
        const message = decodeMessage(body);
        if (!message) return this.#port.drop('bad-transfer');
        return this.#onMessage(id, transfer, message);
      }
      default:
        return this.#port.drop('bad-transfer');
    }
  }

  #onMessage(id: number, transfer: TransferRecord | undefined, message: TransferMessage): void {
    if (transfer && this.#control.deliver(transfer, message)) return;
    switch (message.type) {
      case 'offer':
      case 'get':
      case 'list':
      case 'mkdir':
      case 'bandwidth': {
        // A new transfer the peer starts: its id has the peer's parity. A repeat while we prepare is
        // ignored; a repeat of one we refused gets the same refusal.
        if (transfer) return;
        const refusal = this.#control.refusal(id);
        if (refusal !== undefined) return this.#control.send(id, { type: 'reject', reason: refusal });
        if (!this.#table.isPeers(id)) return this.#port.drop('bad-transfer');
        return void this.#peer.answerStart(id, message);
      }
      case 'resume':
        // Only the one question of an upload the peer offered; answerResume stops a transfer asked too late.
        if (transfer?.sink && transfer.receiver && !transfer.startedByUs && !transfer.is('resuming') && transfer.stopReason === undefined) {
          return void this.#peer.answerResume(transfer, message);
        }
        return;
      case 'done':
        // Repeated while the file is synced and checked: the sender should keep waiting.
        if (!transfer) return this.#port.drop('bad-transfer');
        if (transfer.is('finishing') || transfer.is('checking')) this.#control.send(id, { type: 'checking' });
        return;
      case 'checking':
        if (!transfer) return this.#port.drop('bad-transfer');
        transfer.keepAlive?.();
        return;
      case 'abort':
        if (transfer) this.#control.stop(transfer, `the peer aborted: ${message.reason}`, true);
        return;
      default:
        // An answer nobody waits for (a late duplicate), or a message for a transfer we do not know.
        if (!transfer) this.#port.drop('bad-transfer');
    }
  }
}

/** `maxDatagram` if it is a datagram size transfers can use; InvalidInputError otherwise. */
export function checkMaxDatagram(maxDatagram: number): number {
  if (!Number.isInteger(maxDatagram) || maxDatagram < MIN_TRANSFER_DATAGRAM || maxDatagram > MAX_DATAGRAM) {
    throw new InvalidInputError(`datagram size must be ${MIN_TRANSFER_DATAGRAM}-${MAX_DATAGRAM} bytes`);
  }
  return maxDatagram;
}
