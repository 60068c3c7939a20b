import type { LogFields, Logger } from '../log.js';
import type { Session } from '../net/session.js';
import { clock } from '../time.js';
import { TransferEndpoint, TransferError, type TransferEvent, type TransferResult } from '../transfer/endpoint.js';
import { PeerSilentError } from '../transfer/transfer-error.js';
import { formatBitRate, formatBytes, formatDuration, formatRate } from '../units.js';
import { ProgressBar, TransferProgress, type StatusLine } from './progress.js';
import { resumeCommand, type Unfinished } from './resume-hint.js';
import { STDIO, transferJobs, type FilePlan, type TransferJob } from './transfer-jobs.js';
import type { ProgressHooks } from './tree-upload.js';

/** What `connect` was asked to move, in the order it runs: the files, then the bandwidth tests. */
export interface TransferPlan extends FilePlan {
  bwup?: number;
  bwdown?: number;
  maxDatagram?: number;
  /** Largest file --get takes, in bytes. */
  maxSize?: number;
}

export interface TransferUi {
  log: Logger;
  /** The terminal line progress bars are drawn on, or undefined for none (`log` must clear it: clearingLogger). */
  bars?: StatusLine;
  signal: AbortSignal;
  /** This run's arguments (after `bittrrt`), from which a failure's resume command is made. */
  argv?: readonly string[];
  /** A peer silent this long while a transfer runs is taken for dead (see PEER_SILENCE_HEARTBEATS); undefined: no such watch. */
  peerSilenceMs?: number;
}

/**
 * Runs the plan over one session, one transfer after another. A failed transfer is reported
 * and the next one runs (the session survives); an interruption stops them all and leaves part
 * files for --resume. Every failure names its file, and one the session's end cut short comes
 * with the command that resumes it. Returns how many failed (-1 when interrupted).
 */
export async function runTransfers(session: Session, plan: TransferPlan, ui: TransferUi): Promise<number> {
  // The client moves only what it was asked to: a server cannot start a transfer to or from it.
  const endpoint = new TransferEndpoint(session, { maxDatagram: plan.maxDatagram, maxSize: plan.maxSize, answerPeer: false, peerSilenceMs: ui.peerSilenceMs });
  const onAbort = (): void => endpoint.cancel('interrupted');
  ui.signal.addEventListener('abort', onAbort);
  const jobs = transferJobs(endpoint, plan, ui.log);
  const commandFor = (unfinished: readonly TransferJob[]): string => resumeCommand(ui.argv ?? ['connect'], merge(unfinished.map((job) => job.again)));
  const resumeHint = (unfinished: readonly TransferJob[]): string => (unfinished.some((job) => job.again.out === STDIO)
    ? `to get it again (a download to standard output starts over): ${commandFor(unfinished)}` : `to resume: ${commandFor(unfinished)}`);
  const totals = new Totals(clock());
  /** Jobs that failed part way and continue from their part files. */
  const cutShort: TransferJob[] = [];
  try {
    for (const [index, job] of jobs.entries()) {
      if (ui.signal.aborted) return -1;
      if (session.closed) {
        const left = jobs.slice(index);
        const names = left.map((j) => j.label).join(', ');
        ui.log.error(`the session closed before ${names} could start; to move ${cutShort.length + left.length > 1 ? 'all that is left' : 'it'}: ${commandFor([...cutShort, ...left])}`);
        totals.failed += left.length;
        break;
      }
      const progress = new TransferProgress(job.label);
      const bar = ui.bars && new ProgressBar(progress, ui.bars);
      let offset = 0;
      const hooks: ProgressHooks = {
        onStart: (start, size) => {
          offset = start;
          progress.start(start, size, clock());
          bar?.start();
        },
        onProgress: (done) => progress.update(offset + done, clock()),
      };
      try {
        const result = await job.run(hooks);
        bar?.stop();
        if (result.restarted) ui.log.warn(job.restartedNote, { name: job.label });
        ui.log.info(resultLine(result, job.label, 'the server'), { name: job.label, ...resultFields(result) });
        totals.add(result);
      } catch (err) {
        bar?.stop();
        const reached = progress.started ? ` at ${progress.describe()}` : '';
        if (ui.signal.aborted) {
          ui.log.warn(`interrupted: ${job.label} is incomplete${reached}; ${resumeHint([...cutShort, ...jobs.slice(index)])}`, { name: job.label });
          return -1;
        }
        // A silent server is gone for this run: what is left fails at once, with the command that moves it.
        if (err instanceof PeerSilentError) session.close();
        const why = err instanceof PeerSilentError
          ? `the server has sent nothing for ${err.silenceMs / 1000} s: it has stopped, or the path to it is down` : inServerWords(err);
        // Local errors name their file already; the peer's refusals and a dead session do not.
        const what = why.includes(job.label) ? why : `${job.label}: ${why}`;
        // What the session's end or a silent peer cut short continues from its part file; a refusal would only be refused again.
        const resumable = session.closed || (err instanceof TransferError && err.origin === 'silence');
        ui.log.error(`${what}${resumable ? `; stopped${reached}; ${resumeHint([job])}` : ''}`, { name: job.label });
        if (resumable) cutShort.push(job);
        totals.failed++;
      }
    }
    if (jobs.length > 1) ui.log.info(totals.describe(jobs.length), totals.fields());
    for (const [direction, seconds] of [['up', plan.bwup], ['down', plan.bwdown]] as const) {
      if (seconds === undefined) continue;
      if (ui.signal.aborted) return -1;
      try {
        await bandwidthTest(endpoint, direction, seconds, ui.log, ui.signal);
      } catch (err) {
        if (ui.signal.aborted) return -1;
        ui.log.error(`bandwidth test (${direction}): ${(err as Error).message}`);
        totals.failed++;
      }
    }
    return totals.failed;
  } finally {
    ui.signal.removeEventListener('abort', onAbort);
  }
}

/** A failure as a person at the client reads it: the peer that refused or aborted is the server. */
function inServerWords(err: unknown): string {
  const words = err instanceof TransferError ? err.peerWords : undefined;
  return words === undefined ? (err as Error).message : `the server ${words.verb}: ${words.reason}`;
}

/** Several jobs' options as one command's. */
function merge(parts: readonly Unfinished[]): Unfinished {
  return {
    send: parts.flatMap((p) => p.send),
    as: parts.find((p) => p.as !== undefined)?.as,
    get: parts.flatMap((p) => p.get),
    out: parts.find((p) => p.out !== undefined)?.out,
  };
}

/** What the files of one run added up to. */
class Totals {
  files = 0;
  failed = 0;
  /** Single files the server already held, the same (a tree's line counts its own files). */
  unchanged = 0;
  /** Sizes of the files delivered. */
  bytes = 0;
  /** Bytes moved this run (a resumed file's are those after its part file). */
  moved = 0;
  readonly #started: number;

  constructor(now: number) {
    this.#started = now;
  }

  add(result: TransferResult): void {
    this.files++;
    if (result.sha256 !== '') this.unchanged += result.unchanged ?? 0;
    this.bytes += result.size;
    this.moved += result.size - result.offset;
  }

  #seconds(): number {
    return (clock() - this.#started) / 1000;
  }

  /** `total: 3 files, 120.4 MiB in 5.20 s, 24.3 MB/s` (`2 of 3 files` when some failed). */
  describe(attempted: number): string {
    const seconds = this.#seconds();
    const files = this.files === attempted ? `${attempted} files` : `${this.files} of ${attempted} files`;
    const already = this.unchanged > 0 ? ` (${this.unchanged} already there)` : '';
    return `total: ${files}${already}, ${formatBytes(this.bytes)} in ${formatDuration(seconds)}, ${formatRate(this.moved / Math.max(seconds, 1e-6))}`;
  }

  fields(): LogFields {
    const seconds = this.#seconds();
    return {
      files: this.files,
      failed: this.failed,
      unchanged: this.unchanged || undefined,
      bytes: this.bytes,
      moved_bytes: this.moved === this.bytes ? undefined : this.moved,
      seconds: Number(seconds.toFixed(3)),
      bytes_per_second: Math.round(this.moved / Math.max(seconds, 1e-6)),
    };
  }
}

/** How each direction of a bandwidth test is named, as iperf3 names its normal and reverse modes. */
const BANDWIDTH_DIRECTIONS = {
  up: { title: 'up', mode: 'this side sends to the server' },
  down: { title: 'down (reverse)', mode: 'reverse mode (--bwdown): the server sends to this side' },
} as const;

/**
 * One bandwidth test: a line per second (bytes and bit rate in that second), then a summary. An
 * interruption (Ctrl-C) still prints the summary of what was measured until then, as iperf3 does.
 */
async function bandwidthTest(endpoint: TransferEndpoint, direction: 'up' | 'down', seconds: number, log: Logger, signal: AbortSignal): Promise<void> {
  const { title, mode } = BANDWIDTH_DIRECTIONS[direction];
  let bytes = 0;
  let reported = 0;
  let second = 0;
  log.info(`bandwidth test, ${mode}, for ${seconds} s`);
  const started = clock();
  const ticker = setInterval(() => {
    second++;
    const moved = bytes - reported;
    log.info(`[${String(second).padStart(3)}s] ${formatBytes(moved).padStart(10)} ${formatBitRate(moved).padStart(13)}`, {
      second, bytes: moved, mbit_s: megabits(moved),
    });
    reported = bytes;
  }, 1000);
  /** The summary line, finished or interrupted: `bandwidth up: 93.8 MiB in 2.02 s, 390.3 Mbit/s (48.8 MB/s)`. */
  const summary = (heading: string, size: number, elapsed: number, fields: LogFields): void => {
    const perSecond = size / Math.max(elapsed, 1e-6);
    log.info(`${heading}: ${formatBytes(size)} in ${formatDuration(elapsed)}, ${formatBitRate(perSecond)} (${formatRate(perSecond)})`, {
      direction, bytes: size, seconds: Number(elapsed.toFixed(3)), mbit_s: megabits(perSecond), ...fields,
    });
  };
  try {
    const result = await endpoint.bandwidth(direction, seconds, { onProgress: (n) => { bytes = n; } });
    const { stats } = result;
    summary(`bandwidth ${title}`, result.size, result.seconds, {
      loss_pct: Number(retransmitPercent(result).toFixed(2)),
      rtt_ms: stats.srtt === null ? undefined : Number(stats.srtt.toFixed(3)),
      min_rtt_ms: stats.minRtt === null ? undefined : Number(stats.minRtt.toFixed(3)),
    });
  } catch (err) {
    if (signal.aborted) summary(`bandwidth ${title}, interrupted`, bytes, (clock() - started) / 1000, { interrupted: true });
    throw err;
  } finally {
    clearInterval(ticker);
  }
}

/** Bytes per second as megabits per second, to one decimal (the bandwidth lines' `mbit_s`). */
function megabits(bytesPerSecond: number): number {
  return Number(((bytesPerSecond * 8) / 1e6).toFixed(1));
}

/**
 * The line of a finished transfer of `what`: `sent big.iso (86.9 MiB in 3.01 s, 30.3 MB/s)`, or for a
 * file the receiver (`receiver`) already held, the same, that nothing moved.
 */
function resultLine(result: TransferResult, what: string, receiver: string): string {
  if (result.unchanged === 1 && result.sha256 !== '') return `${what}: already on ${receiver}, the same size and SHA-256 (${formatBytes(result.size)}): nothing moved`;
  return `${result.direction === 'send' ? 'sent' : 'received'} ${what} (${describeResult(result)})`;
}

/** A finished transfer in words: `86.9 MiB in 3.01 s, 30.3 MB/s`, and where a resumed one started. */
function describeResult(result: TransferResult): string {
  const moved = result.size - result.offset;
  // A tree's offset adds up its resumed files and those already there.
  const start = result.unchanged ? `${formatBytes(result.size)}, ${result.unchanged} file(s) already there: `
    : result.offset > 0 ? `${formatBytes(result.size)}, resumed at ${formatBytes(result.offset)}: ` : '';
  return `${start}${formatBytes(moved)} in ${formatDuration(result.seconds)}, ${formatRate(moved / Math.max(result.seconds, 1e-6))}`;
}

/** Log fields of a finished transfer, as numbers in the units their keys name: size, time, average rate, retransmitted share. */
function resultFields(result: TransferResult): LogFields {
  const moved = result.size - result.offset;
  return {
    bytes: result.size,
    resumed_at: result.offset > 0 && result.unchanged === undefined ? result.offset : undefined,
    unchanged: result.unchanged,
    seconds: Number(result.seconds.toFixed(3)),
    bytes_per_second: Math.round(moved / Math.max(result.seconds, 1e-6)),
    retransmitted_pct: Number(retransmitPercent(result).toFixed(2)),
    // A bandwidth test moves no file, so there is no hash to show.
    sha256: result.sha256 === '' ? undefined : result.sha256,
  };
}

function retransmitPercent(result: TransferResult): number {
  return result.stats.packets === 0 ? 0 : (100 * result.stats.retransmits) / result.stats.packets;
}

/** Server log lines for transfers clients start. */
export function logTransferEvent(log: Logger, event: TransferEvent, peer: string): void {
  switch (event.kind) {
    case 'started': {
      const what = event.name === '' ? 'bandwidth test' : event.name;
      log.info(`${event.direction === 'receive' ? 'receiving' : 'sending'} ${what}`, {
        peer, name: event.name === '' ? undefined : event.name, size: event.name === '' ? undefined : event.size, resume_at: event.offset > 0 ? event.offset : undefined,
      });
      return;
    }
    case 'finished': {
      const what = event.result.name === '' ? 'bandwidth test' : event.result.name;
      const name = event.result.name === '' ? undefined : event.result.name;
      log.info(resultLine(event.result, what, 'this server'), { peer, name, ...resultFields(event.result) });
      return;
    }
    case 'failed':
      log.warn(`transfer of ${event.name === '' ? 'bandwidth test' : event.name} failed: ${event.reason}`, { peer, name: event.name === '' ? undefined : event.name });
  }
}
