import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TREE_BYTES_IN_FLIGHT, TREE_FILES_IN_FLIGHT } from '../constants.js';
import type { SenderStats } from '../protocol/transfer.js';
import { clock } from '../time.js';
import { TransferError } from './transfer-error.js';
import type { TransferResult } from './types.js';

/** Where a tree's directories are, for messages: the server's `--dir`, or the downloader's `--out`. */
export type TreeSide = 'on the server' | 'here';

/**
 * Makes the directories of `components` (a checked relative path, relativePath()) inside `dir`,
 * one level at a time, each with mode 0777 less the umask, and insists that every level is a real
 * directory: a symbolic link (or a file) on the way is refused, never followed, so nothing a peer
 * names lands outside `dir`. Names in errors are the peer's, never a local path.
 * (A local user who can write in `dir` could still swap a level for a link between the check and
 * the open that follows; the peer cannot, as it makes only files and directories.)
 */
export async function makeDirectories(dir: string, components: string[], side: TreeSide = 'on the server'): Promise<void> {
  await walkDirectories(dir, components, side, async (path, shown) => {
    await mkdir(path, 0o777).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw new TransferError(`cannot make the directory ${shown}${err.code === 'ENOSPC' ? ': no space left on the device' : ''}`);
    });
  });
}

/**
 * Insists that every level of `components` inside `dir` is a real directory, making none: a
 * server reads a tree the peer names (a listing, a download) only through real directories, so a
 * symbolic link inside `dir` never leads a peer out of it.
 */
export async function checkDirectories(dir: string, components: string[]): Promise<void> {
  await walkDirectories(dir, components, 'on the server', async () => undefined);
}

async function walkDirectories(dir: string, components: string[], side: TreeSide,
  before: (path: string, shown: string) => Promise<void>): Promise<void> {
  let path = dir;
  for (const [i, component] of components.entries()) {
    path = join(path, component);
    const shown = components.slice(0, i + 1).join('/');
    await before(path, shown);
    const stat = await lstat(path).catch(() => undefined);
    if (!stat) throw new TransferError(`${shown}: no such directory ${side}`);
    if (!stat.isDirectory()) throw new TransferError(`${shown} exists ${side} and is not a directory${stat.isSymbolicLink() ? ' (a symbolic link, not followed)' : ''}`);
  }
}

/**
 * The one result of a tree moved file by file: the sum of the files' sizes, offsets and senders'
 * counts, its time from the start, and no single SHA-256 (every file's was checked on its own).
 */
export class TreeTotals {
  readonly #started = clock();
  readonly #stats: SenderStats = { packets: 0, retransmits: 0, srtt: null, minRtt: null };
  #size = 0;
  #offset = 0;
  files = 0;
  /** Files the receiver already held, the same: nothing of them moved. */
  unchanged = 0;

  /** Bytes of the files finished so far. */
  get size(): number {
    return this.#size;
  }

  add(result: TransferResult): void {
    this.files++;
    this.unchanged += result.unchanged ?? 0;
    this.#size += result.size;
    this.#offset += result.offset;
    this.#stats.packets += result.stats.packets;
    this.#stats.retransmits += result.stats.retransmits;
    this.#stats.srtt = result.stats.srtt ?? this.#stats.srtt;
    const { minRtt } = result.stats;
    this.#stats.minRtt = minRtt === null ? this.#stats.minRtt : Math.min(this.#stats.minRtt ?? Infinity, minRtt);
  }

  result(name: string, direction: TransferResult['direction']): TransferResult {
    // Restarts are reported per file as they happen.
    return {
      name, direction, size: this.#size, offset: this.#offset, seconds: (clock() - this.#started) / 1000,
      sha256: '', stats: { ...this.#stats }, restarted: false, ...(this.unchanged > 0 ? { unchanged: this.unchanged } : {}),
    };
  }
}

/**
 * Moves the files of a tree with `move`, several at a time (TREE_FILES_IN_FLIGHT, and beyond the
 * first no more bytes together than TREE_BYTES_IN_FLIGHT), in the order given, adding each result
 * to `totals`. `onProgress` hears the bytes of the tree done so far: the finished files' and what
 * each running one has moved. The first file that fails stops new ones from starting; those
 * running finish (a refusal of one is no reason to cut the others short), then its error is thrown.
 */
export async function moveFiles<F extends { size: number }>(files: readonly F[], totals: TreeTotals,
  move: (file: F, onProgress: (done: number) => void) => Promise<TransferResult>, onProgress?: (done: number) => void): Promise<void> {
  const running = new Map<F, number>();
  let bytesInFlight = 0;
  let next = 0;
  let failure: { error: unknown } | undefined;
  const report = (): void => {
    let done = totals.size;
    for (const moved of running.values()) done += moved;
    onProgress?.(done);
  };
  await new Promise<void>((resolve) => {
    const startMore = (): void => {
      while (failure === undefined && next < files.length && running.size < TREE_FILES_IN_FLIGHT) {
        const file = files[next]!;
        const weight = Math.min(file.size, TREE_BYTES_IN_FLIGHT);
        if (running.size > 0 && bytesInFlight + weight > TREE_BYTES_IN_FLIGHT) break;
        next++;
        running.set(file, 0);
        bytesInFlight += weight;
        const moving = move(file, (done) => {
          // A report that comes after the file's end must not count it twice.
          if (!running.has(file)) return;
          running.set(file, done);
          report();
        });
        moving.then((result) => totals.add(result), (error: unknown) => {
          failure ??= { error };
        }).finally(() => {
          running.delete(file);
          bytesInFlight -= weight;
          report();
          startMore();
        });
      }
      if (running.size === 0) resolve();
    };
    startMore();
  });
  if (failure !== undefined) throw failure.error;
}
