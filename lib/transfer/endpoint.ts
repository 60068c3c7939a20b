import { randomFillSync } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  CONTROL_RETRY_MS, DEFAULT_MAX_DATAGRAM, MAX_DATAGRAM, MAX_TRANSFER_ID, MIN_TRANSFER_DATAGRAM, PART_SUFFIX, TRANSFER_OVERHEAD,
  TRANSFER_STALL_MS,
} from '../constants.js';
import { BittrrtError, InvalidInputError } from '../errors.js';
import {
  decodeAck, decodeMessage, encodeAck, encodeMessage, TransferFlags, type SenderStats, type TransferMessage, type TransferMessageType,
} from '../protocol/transfer.js';
import type { SecureSession } from '../net/secure-session.js';
import type { FrameHandler, Session } from '../net/session.js';
import { DiscardSink, PatternSource } from './bandwidth.js';
import { describeFsError, FileSink, FileSource, TransferFileError } from './files.js';
import { clock, type FrameLink } from './link.js';
import { fileNameProblem } from './names.js';
import { StreamReceiver, type ByteSink } from './receiver.js';
import { StreamSender, type ByteSource } from './sender.js';

/** A transfer failed: refused by the peer, aborted, or broken by the session or a file. */
export class TransferError extends BittrrtError {
  constructor(message: string) {
    super('ERR_TRANSFER', message);
  }
}

export interface TransferEndpointOptions {
  /** Directory that takes uploads (and serves downloads with allowDownload); without it, offers are refused. */
  dir?: string;
  allowDownload?: boolean;
  /** Largest UDP payload of a transfer datagram (default DEFAULT_MAX_DATAGRAM). */
  maxDatagram?: number;
  /**
   * Names being received into `dir` now, and by which transfer. A server passes one map to
   * every session's endpoint, so two uploads never write one part file.
   */
  busyNames?: Map<string, { finished: boolean }>;
  /** Hears about transfers the peer starts (a server logs them). */
  onEvent?: (event: TransferEvent) => void;
  /** A transfer whose peer is silent this long fails (default TRANSFER_STALL_MS, 30 s). */
  stallMs?: number;
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

interface Waiter {
  types: readonly TransferMessageType[];
  resolve(message: TransferMessage): void;
  reject(err: Error): void;
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
  /** A request of ours waiting for its answer. */
  waiter?: Waiter;
  retry?: NodeJS.Timeout;
  /** A restart request is being carried out (the part file emptied). */
  restarting?: boolean;
  finished: boolean;
  /** Fails the transfer from outside (abort, session close). */
  fail(reason: string): void;
}

/**
 * File transfer over one version-2 session: uploads, downloads and bandwidth tests, started by
 * either side. Control messages (protocol/transfer.ts) are sent again until answered; file bytes
 * travel in StreamSender/StreamReceiver. One endpoint per session; a server makes one for a
 * session when its first transfer frame arrives.
 */
export class TransferEndpoint implements FrameHandler {
  readonly #session: SecureSession;
  readonly #options: TransferEndpointOptions;
  readonly #maxBody: number;
  readonly #stallMs: number;
  readonly #transfers = new Map<number, Transfer>();
  #nextId: number;

  constructor(session: Session, options: TransferEndpointOptions = {}) {
    if (session.version !== 2) throw new TransferError('file transfer needs a version-2 session; this peer speaks only the original protocol');
    this.#session = session as SecureSession;
    this.#options = options;
    const maxDatagram = options.maxDatagram ?? DEFAULT_MAX_DATAGRAM;
    if (!Number.isInteger(maxDatagram) || maxDatagram < MIN_TRANSFER_DATAGRAM || maxDatagram > MAX_DATAGRAM) {
      throw new InvalidInputError(`datagram size must be ${MIN_TRANSFER_DATAGRAM}-${MAX_DATAGRAM} bytes`);
    }
    this.#maxBody = maxDatagram - TRANSFER_OVERHEAD;
    this.#stallMs = options.stallMs ?? TRANSFER_STALL_MS;
    this.#nextId = session.role === 'client' ? 1 : 2;
    this.#session.frameHandler = this;
    this.#session.once('close', () => this.cancel('the session closed'));
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
    let source = await FileSource.open(path, false);
    const transfer = this.#add(this.#allocateId(), 'send', name, true);
    try {
      const size = source.size;
      const offer = { type: 'offer', name, size, resume: options.resume ?? false, overwrite: options.overwrite ?? false } as const;
      let answer = await this.#request(transfer, offer, 'accept');
      if (answer.offset > 0 && (answer.offset > size || (await source.prefixDigest(answer.offset)) !== answer.prefix)) {
        // The server's part file is not the start of this file: it starts over.
        await source.close();
        source = await FileSource.open(path, false);
        answer = await this.#request(transfer, { type: 'restart' }, 'accept');
        if (answer.offset !== 0) throw new TransferError('the receiver did not restart');
      }
      return await this.#send(transfer, source, answer.offset, size, options);
    } catch (err) {
      this.#abandon(transfer, err as Error);
      throw err;
    } finally {
      await source.close();
    }
  }

  /** Fetches `name` from the peer's directory into `options.out` (default ./name). */
  async download(name: string, options: DownloadOptions = {}): Promise<TransferResult> {
    const problem = fileNameProblem(name);
    if (problem) throw new InvalidInputError(`cannot get ${JSON.stringify(name)}: ${problem}`);
    const out = options.out ?? name;
    if (!options.overwrite && (await exists(out))) throw new TransferFileError(`${out}: already exists (use --overwrite to replace it)`);
    // A part file is opened before asking only to resume it; otherwise nothing is created (or
    // emptied) until the peer has agreed to send.
    let sink = options.resume && (await exists(`${out}${PART_SUFFIX}`)) ? await FileSink.open(out, true) : undefined;
    const transfer = this.#add(this.#allocateId(), 'receive', name, true);
    try {
      const answer = await this.#request(transfer, { type: 'get', name, offset: sink?.length ?? 0, prefix: sink?.prefixDigest() ?? '' }, 'accept');
      if (sink && answer.offset !== sink.length) {
        if (answer.offset !== 0) throw new TransferError('the sender proposed an impossible start offset');
        await sink.restart();
      }
      sink ??= await FileSink.open(out, false);
      if (answer.offset !== sink.length) throw new TransferError('the sender proposed an impossible start offset');
      transfer.sink = sink;
      const opened = sink;
      return await this.#receive(transfer, opened, answer.offset, answer.size, options, async (done) => {
        await opened.finish(done.sha256, options.overwrite ?? false);
      });
    } catch (err) {
      this.#abandon(transfer, err as Error);
      throw err;
    } finally {
      await sink?.close();
    }
  }

  /** A bandwidth test: 'up' sends for `seconds`, 'down' asks the peer to send. */
  async bandwidth(direction: 'up' | 'down', seconds: number, options: BandwidthOptions = {}): Promise<TransferResult> {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw new InvalidInputError('a bandwidth test lasts 1-3600 whole seconds');
    const transfer = this.#add(this.#allocateId(), direction === 'up' ? 'send' : 'receive', '', true);
    const answer = await this.#request(transfer, { type: 'bandwidth', direction, seconds }, 'accept');
    if (answer.offset !== 0) throw new TransferError('the peer answered the bandwidth test wrongly');
    const progress = { onProgress: options.onProgress };
    if (direction === 'up') return this.#send(transfer, patternSource(), 0, null, progress, seconds);
    return this.#receive(transfer, new DiscardSink(), 0, null, progress, async () => undefined);
  }

  /** Fails every transfer in progress and tells the peer (Ctrl-C); part files stay for --resume. */
  cancel(reason: string): void {
    for (const transfer of this.#transfers.values()) {
      if (!transfer.finished) transfer.fail(reason);
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
    try {
      await new Promise<void>((resolve, reject) => {
        if (this.#session.closed) return reject(new TransferError('the session closed'));
        sender.once('complete', resolve);
        sender.once('error', reject);
        transfer.fail = (reason) => reject(new TransferError(reason));
        sender.start();
      });
    } catch (err) {
      this.#abandon(transfer, err as Error);
      throw err;
    } finally {
      clearTimeout(endTimer);
    }
    const total = offset + sender.acked;
    const done = { type: 'done', size: total, sha256: source.digest?.() ?? '', stats: sender.stats } as const;
    const answer = await this.#request(transfer, done, 'result');
    this.#finish(transfer);
    if (!answer.ok) throw new TransferError(`the receiver refused the file: ${answer.reason}`);
    return { name: transfer.name, direction: 'send', size: total, offset, seconds: (clock() - started) / 1000, sha256: done.sha256, stats: done.stats };
  }

  /** Runs a StreamReceiver from `offset` until the sender's `done`, then `finish` and answers `result`. */
  async #receive(transfer: Transfer, sink: ByteSink, offset: number, size: number | null,
    options: Pick<UploadOptions, 'onProgress' | 'onStart'>, finish: (done: TransferMessage & { type: 'done' }) => Promise<void>): Promise<TransferResult> {
    const started = clock();
    const receiver = transfer.receiver ?? new StreamReceiver(this.#link(transfer.id), sink, offset, size);
    transfer.receiver = receiver;
    options.onStart?.(offset, size ?? 0);
    if (options.onProgress) receiver.on('progress', (written) => options.onProgress!(written, (size ?? 0) - offset));
    let done: TransferMessage & { type: 'done' };
    let watchdog: NodeJS.Timeout | undefined;
    try {
      done = await new Promise((resolve, reject) => {
        if (this.#session.closed) return reject(new TransferError('the session closed'));
        receiver.once('error', reject);
        transfer.fail = (reason) => reject(new TransferError(reason));
        // The sending side has its timers; this side only waits, so it gives up on a silent peer.
        watchdog = setInterval(() => {
          if (clock() - receiver.lastActivity > this.#stallMs) transfer.fail(`the peer sent nothing for ${seconds(this.#stallMs)}`);
        }, this.#stallMs / 10);
        // `done` arrives once the sender has every byte acknowledged; the disk may still be writing.
        transfer.waiter = {
          types: ['done'],
          resolve: (message) => {
            const finalDone = message as TransferMessage & { type: 'done' };
            if (receiver.setSize(finalDone.size) === 'refused') return reject(new TransferError('the sender announced a different size'));
            if (receiver.complete) resolve(finalDone);
            else receiver.once('complete', () => resolve(finalDone));
          },
          reject,
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
    let outcome: TransferMessage & { type: 'result' };
    try {
      await finish(done);
      outcome = { type: 'result', ok: true, reason: '' };
    } catch (err) {
      outcome = { type: 'result', ok: false, reason: err instanceof TransferFileError ? err.message : describeFsError(err, transfer.name) };
    }
    transfer.answers.set('done', outcome);
    this.#sendMessage(transfer.id, outcome);
    this.#finish(transfer);
    if (!outcome.ok) throw new TransferError(outcome.reason);
    return { name: transfer.name, direction: 'receive', size: done.size, offset: receiver.start, seconds: (clock() - started) / 1000, sha256: done.sha256, stats: done.stats };
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
        return transfer!.sender!.onAck(sequence, offset, ack);
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
        // A new transfer the peer starts: its id has the peer's parity. A repeat while we prepare is ignored.
        if (transfer || id % 2 === this.#nextId % 2) return transfer ? undefined : this.#drop();
        return void this.#answerStart(id, message);
      case 'restart':
        if (transfer?.sink && transfer.receiver && !transfer.startedByUs && !transfer.restarting) return void this.#restartUpload(transfer);
        return;
      case 'abort':
        if (transfer && !transfer.finished) transfer.fail(`the peer aborted: ${message.reason}`);
        return;
      default:
        // An answer nobody waits for (a late duplicate), or a message for a transfer we do not know.
        if (!transfer) this.#drop();
    }
  }

  async #answerStart(id: number, request: TransferMessage & { type: 'offer' | 'get' | 'bandwidth' }): Promise<void> {
    if (this.active >= MAX_TRANSFERS_PER_SESSION) return this.#refuse(id, 'too many transfers at once on this session');
    if (request.type === 'bandwidth') {
      const transfer = this.#add(id, request.direction === 'up' ? 'receive' : 'send', '', false);
      this.#answer(transfer, 'bandwidth', { type: 'accept', offset: 0, prefix: '', size: 0 });
      const run = request.direction === 'up'
        ? this.#receive(transfer, new DiscardSink(), 0, null, {}, async () => undefined)
        : this.#send(transfer, patternSource(), 0, null, {}, request.seconds);
      return this.#report(transfer, run, 0, 0);
    }
    const { dir } = this.#options;
    if (dir === undefined) return this.#refuse(id, 'this server accepts no files (start it with --dir)');
    if (request.type === 'get' && !this.#options.allowDownload) return this.#refuse(id, 'this server serves no downloads (start it with --allow-download)');
    const problem = fileNameProblem(request.name);
    if (problem) return this.#refuse(id, `refused name ${JSON.stringify(request.name)}: ${problem}`);
    return request.type === 'offer' ? this.#answerOffer(id, dir, request) : this.#answerGet(id, dir, request);
  }

  async #answerOffer(id: number, dir: string, offer: TransferMessage & { type: 'offer' }): Promise<void> {
    const busy = this.#options.busyNames ?? new Map<string, { finished: boolean }>();
    const holder = busy.get(offer.name);
    // A transfer of that name that just failed is still closing its part file: the offer will come again.
    if (holder?.finished) return;
    if (holder) return this.#refuse(id, `${offer.name} is being received from another transfer`);
    const path = join(dir, offer.name);
    if (!offer.overwrite && (await exists(path))) return this.#refuse(id, `${offer.name} already exists on the server (use --overwrite)`);
    if (busy.has(offer.name) || this.#transfers.has(id)) return; // taken while we looked; the offer will come again
    const transfer = this.#add(id, 'receive', offer.name, false);
    busy.set(offer.name, transfer);
    let sink: FileSink;
    try {
      sink = await FileSink.open(path, offer.resume, offer.name);
      if (sink.length > offer.size) await sink.restart();
    } catch (err) {
      busy.delete(offer.name);
      this.#transfers.delete(id);
      return this.#refuse(id, describeFsError(err, offer.name));
    }
    transfer.sink = sink;
    transfer.receiver = new StreamReceiver(this.#link(id), sink, sink.length, offer.size);
    this.#answer(transfer, 'offer', { type: 'accept', offset: sink.length, prefix: sink.prefixDigest(), size: offer.size });
    const run = this.#receive(transfer, sink, sink.length, offer.size, {}, async (done) => {
      if (done.size !== offer.size) throw new TransferError(`the sender sent ${done.size} bytes, not the ${offer.size} it offered`);
      await sink.finish(done.sha256, offer.overwrite);
    }).finally(() => {
      busy.delete(offer.name);
      return sink.close();
    });
    return this.#report(transfer, run, offer.size, transfer.receiver.start);
  }

  /** The sender found our part file is not the start of its file: empty it and take everything. */
  async #restartUpload(transfer: Transfer): Promise<void> {
    transfer.restarting = true;
    try {
      await transfer.sink!.restart();
    } catch (err) {
      return transfer.fail(describeFsError(err, transfer.name));
    }
    if (!transfer.receiver!.restartAt(0)) return transfer.fail('the sender asked to restart after sending data');
    this.#answer(transfer, 'restart', { type: 'accept', offset: 0, prefix: '', size: 0 });
  }

  async #answerGet(id: number, dir: string, get: TransferMessage & { type: 'get' }): Promise<void> {
    const transfer = this.#add(id, 'send', get.name, false);
    const path = join(dir, get.name);
    let source: FileSource;
    let offset = 0;
    try {
      source = await FileSource.open(path, true, get.name);
      if (get.offset > 0 && get.offset <= source.size) {
        if ((await source.prefixDigest(get.offset)) === get.prefix) offset = get.offset;
        else {
          await source.close();
          source = await FileSource.open(path, true, get.name);
        }
      }
    } catch (err) {
      this.#transfers.delete(id);
      return this.#refuse(id, describeFsError(err, get.name));
    }
    this.#answer(transfer, 'get', { type: 'accept', offset, prefix: '', size: source.size });
    const run = this.#send(transfer, source, offset, source.size, {}).finally(() => source.close());
    return this.#report(transfer, run, source.size, offset);
  }

  /** Tells the optional listener how a transfer the peer started went. */
  async #report(transfer: Transfer, run: Promise<TransferResult>, size: number, offset: number): Promise<void> {
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

  #add(id: number, direction: Transfer['direction'], name: string, startedByUs: boolean): Transfer {
    const transfer: Transfer = {
      id, direction, name, startedByUs, answers: new Map(), finished: false,
      fail: () => undefined,
    };
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

  /** Sends `message` until an answer of one of `types` (or a refusal) arrives; gives up after the stall time. */
  #request<T extends TransferMessageType>(transfer: Transfer, message: TransferMessage, type: T): Promise<Extract<TransferMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const started = clock();
      let delay = CONTROL_RETRY_MS;
      const send = (): void => {
        if (clock() - started > this.#stallMs) {
          transfer.waiter = undefined;
          return reject(new TransferError(`no answer from the peer for ${seconds(this.#stallMs)}`));
        }
        this.#sendMessage(transfer.id, message);
        transfer.retry = setTimeout(send, delay);
        delay = Math.min(delay * 1.5, 2000);
      };
      const fail = (err: Error): void => {
        clearTimeout(transfer.retry);
        transfer.waiter = undefined;
        this.#abandon(transfer, err);
        reject(err);
      };
      transfer.waiter = {
        types: [type, 'reject', 'abort'],
        resolve: (answer) => {
          if (answer.type === 'reject') return fail(new TransferError(`the peer refused: ${answer.reason}`));
          if (answer.type === 'abort') return fail(new TransferError(`the peer aborted: ${answer.reason}`));
          resolve(answer as Extract<TransferMessage, { type: T }>);
        },
        reject: fail,
      };
      transfer.fail = (reason) => fail(new TransferError(reason));
      send();
    });
  }

  #answer(transfer: Transfer, to: TransferMessageType, answer: TransferMessage): void {
    transfer.answers.set(to, answer);
    this.#sendMessage(transfer.id, answer);
  }

  #refuse(id: number, reason: string): void {
    this.#sendMessage(id, { type: 'reject', reason });
  }

  #sendMessage(id: number, message: TransferMessage): void {
    this.#session.sendUnlossy({ flags: TransferFlags.CONTROL, channel: id, sequence: 0n, offset: 0n }, encodeMessage(message));
  }

  #link(id: number): FrameLink {
    const session = this.#session;
    return {
      maxBody: this.#maxBody,
      data: (packet, offset, payload) => session.sendUnlossy(
        { flags: TransferFlags.DATA, channel: id, sequence: packet, offset }, payload),
      ack: (largest, cumulative, ack) => session.sendUnlossy(
        { flags: TransferFlags.ACK, channel: id, sequence: Math.max(0, largest), offset: cumulative }, encodeAck(ack)),
    };
  }

  /** The transfer ended well: remembered for a while, to answer repeats. */
  #finish(transfer: Transfer): void {
    transfer.finished = true;
    clearTimeout(transfer.retry);
    transfer.sender?.stop();
    transfer.waiter = undefined;
    transfer.fail = () => undefined;
    this.#forgetOldest();
  }

  /** The transfer failed: streams stopped, files closed by their owners. */
  #abandon(transfer: Transfer, err: Error): void {
    if (transfer.finished) return;
    transfer.finished = true;
    clearTimeout(transfer.retry);
    transfer.sender?.stop();
    transfer.receiver?.stop();
    transfer.waiter = undefined;
    transfer.fail = () => undefined;
    if (!(err instanceof TransferError && err.message.startsWith('the peer'))) {
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
    this.#session.counters.drop('bad-transfer');
  }
}

function seconds(ms: number): string {
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
