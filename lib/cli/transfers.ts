import { SingleBar } from 'cli-progress';
import type { LogFields, Logger } from '../log.js';
import type { Session } from '../net/session.js';
import { TransferEndpoint, TransferError, type TransferEvent, type TransferResult } from '../transfer/endpoint.js';
import { transferJobs, type FilePlan } from './transfer-jobs.js';

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
  /** Where progress bars go (a TTY), or undefined for none. */
  bars?: NodeJS.WriteStream;
  signal: AbortSignal;
}

/**
 * Runs the plan over one session, one transfer after another. A failed transfer is reported
 * and the next one runs (the session survives); an interruption stops them all and leaves part
 * files for --resume. Returns how many failed (-1 when interrupted).
 */
export async function runTransfers(session: Session, plan: TransferPlan, ui: TransferUi): Promise<number> {
  // The client moves only what it was asked to: a server cannot start a transfer to or from it.
  const endpoint = new TransferEndpoint(session, { maxDatagram: plan.maxDatagram, maxSize: plan.maxSize, answerPeer: false });
  const onAbort = (): void => endpoint.cancel('interrupted');
  ui.signal.addEventListener('abort', onAbort);
  const jobs = transferJobs(endpoint, plan, ui.log);
  let failed = 0;
  try {
    for (const [done, job] of jobs.entries()) {
      if (ui.signal.aborted) return -1;
      if (session.closed) {
        ui.log.error(`the session closed; ${jobs.length - done} transfer(s) not attempted`);
        return failed + jobs.length - done;
      }
      const progress = new Progress(job.label, ui.bars);
      try {
        const result = await job.run(progress.hooks);
        progress.stop();
        if (result.restarted) ui.log.warn(job.restartedNote);
        ui.log.info(`${result.direction === 'send' ? 'sent' : 'received'} ${job.label}`, resultFields(result));
      } catch (err) {
        progress.stop();
        if (ui.signal.aborted) {
          ui.log.warn(`interrupted: ${job.label} is incomplete; run the same command again to continue it`);
          return -1;
        }
        // Local errors name their file already; the peer's refusals do not.
        ui.log.error(err instanceof TransferError ? `${job.label}: ${err.message}` : (err as Error).message);
        failed++;
      }
    }
    for (const [direction, seconds] of [['up', plan.bwup], ['down', plan.bwdown]] as const) {
      if (seconds === undefined) continue;
      if (ui.signal.aborted) return -1;
      try {
        await bandwidthTest(endpoint, direction, seconds, ui.log);
      } catch (err) {
        if (ui.signal.aborted) return -1;
        ui.log.error(`bandwidth test (${direction}): ${(err as Error).message}`);
        failed++;
      }
    }
    return failed;
  } finally {
    ui.signal.removeEventListener('abort', onAbort);
  }
}

async function bandwidthTest(endpoint: TransferEndpoint, direction: 'up' | 'down', seconds: number, log: Logger): Promise<void> {
  let bytes = 0;
  let reported = 0;
  let second = 0;
  log.info(`bandwidth test: ${direction === 'up' ? 'sending to' : 'receiving from'} the server for ${seconds} s`);
  const ticker = setInterval(() => {
    second++;
    log.info(`[${String(second).padStart(3)}s] ${formatRate(bytes - reported)}`, { second, bytes: bytes - reported });
    reported = bytes;
  }, 1000);
  try {
    const result = await endpoint.bandwidth(direction, seconds, { onProgress: (n) => { bytes = n; } });
    const { stats } = result;
    log.info(`bandwidth ${direction}: ${formatBytes(result.size)} in ${result.seconds.toFixed(2)} s, ${formatRate(result.size / result.seconds)}`, {
      bytes: result.size,
      seconds: Number(result.seconds.toFixed(3)),
      mbit_s: Number(((result.size * 8) / result.seconds / 1e6).toFixed(1)),
      loss_pct: Number(retransmitPercent(result).toFixed(2)),
      rtt_ms: stats.srtt === null ? undefined : Number(stats.srtt.toFixed(3)),
      min_rtt_ms: stats.minRtt === null ? undefined : Number(stats.minRtt.toFixed(3)),
    });
  } finally {
    clearInterval(ticker);
  }
}

/** A progress bar for one file on a TTY, else nothing. */
class Progress {
  readonly #bar: SingleBar | undefined;
  #started = false;
  readonly #startedAt = performance.now();

  constructor(readonly label: string, stream: NodeJS.WriteStream | undefined) {
    this.#bar = stream && new SingleBar({
      stream,
      format: `${label} [{bar}] {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      fps: 5,
    });
  }

  get hooks(): { onStart(offset: number, size: number): void; onProgress(done: number): void } {
    let offset = 0;
    let size = 0;
    return {
      onStart: (o, s) => {
        offset = o;
        size = s;
        this.#bar?.start(Math.max(1, s), o, { done: formatBytes(o), size: formatBytes(s), rate: '' });
        this.#started = true;
      },
      onProgress: (done) => {
        const seconds = (performance.now() - this.#startedAt) / 1000;
        this.#bar?.update(offset + done, { done: formatBytes(offset + done), size: formatBytes(size), rate: formatRate(done / Math.max(seconds, 1e-3)) });
      },
    };
  }

  stop(): void {
    if (this.#started) this.#bar?.stop();
  }
}

/** Log fields of a finished transfer: size, time, average rate, retransmitted share. */
function resultFields(result: TransferResult): LogFields {
  const moved = result.size - result.offset;
  return {
    size: formatBytes(result.size),
    bytes: result.size,
    resumed_at: result.offset > 0 ? result.offset : undefined,
    seconds: Number(result.seconds.toFixed(3)),
    rate: formatRate(moved / Math.max(result.seconds, 1e-6)),
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
        peer, size: event.name === '' ? undefined : event.size, resume_at: event.offset > 0 ? event.offset : undefined,
      });
      return;
    }
    case 'finished': {
      const what = event.result.name === '' ? 'bandwidth test' : event.result.name;
      log.info(`${event.result.direction === 'receive' ? 'received' : 'sent'} ${what}`, { peer, ...resultFields(event.result) });
      return;
    }
    case 'failed':
      log.warn(`transfer of ${event.name === '' ? 'bandwidth test' : event.name} failed: ${event.reason}`, { peer });
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}
