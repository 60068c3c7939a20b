import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LIST_SCAN_NAMES } from '../constants.js';
import { InvalidInputError } from '../errors.js';
import type { TransferEndpoint } from './endpoint.js';
import { fileName, relativePathProblem } from './names.js';
import { makeDirectories, moveFiles, TreeTotals } from './tree.js';
import { TransferError } from './transfer-error.js';
import type { DownloadOptions, TransferResult } from './types.js';

/** A directory tree the peer offers, listed whole and checked: what a download of it makes here. */
export interface RemoteTree {
  /** Every file: its path on the peer, its components here (NFC), its size when listed. */
  files: Array<{ name: string; local: string[]; size: number }>;
  /** Every directory below the top, as components here, parents before children. */
  directories: string[][];
  /** The files' sizes when listed, for a progress display. */
  bytes: number;
}

/**
 * Lists the directory `name` on the peer and every directory below it, one listing at a time;
 * undefined when the peer does not list `name` as a directory (it is a file, or missing, or the
 * peer lists no directories), so a plain download of `name` says why. Every name the peer sends
 * is checked as a receiver checks an upload's (`..`, `.`, separators, NUL and other control
 * characters, part-file names; the whole path at most MAX_PATH_COMPONENTS deep and
 * MAX_PATH_BYTES long), and one that fails refuses the whole tree before anything is written.
 * At most LIST_SCAN_NAMES entries over the whole tree: a peer cannot keep us listing for ever.
 */
export async function listTree(endpoint: TransferEndpoint, name: string): Promise<RemoteTree | undefined> {
  const problem = relativePathProblem(name);
  if (problem) throw new InvalidInputError(`cannot get ${JSON.stringify(name)}: ${problem}`);
  const tree: RemoteTree = { files: [], directories: [], bytes: 0 };
  const pending: Array<{ remote: string; local: string[] }> = [{ remote: name, local: [] }];
  let seen = 0;
  for (let next = pending.shift(); next; next = pending.shift()) {
    let listing: Awaited<ReturnType<TransferEndpoint['list']>>;
    try {
      listing = await endpoint.list(next.remote);
    } catch (err) {
      if (next.remote === name && err instanceof TransferError && err.origin === 'peer') return undefined;
      throw err;
    }
    const refused = listing.refused[0];
    if (refused !== undefined) throw new TransferError(`the server sent a name that cannot be a file here: ${refused} (in ${next.remote}); nothing was downloaded`, { origin: 'peer' });
    if (listing.truncated) throw new TransferError(`${next.remote} holds more names than the server lists at once; get its files one by one`);
    for (const entry of listing.entries) {
      const remote = `${next.remote}/${entry.name}`;
      const tooLong = relativePathProblem(remote);
      if (tooLong) throw new TransferError(`cannot get ${remote}: ${tooLong}; nothing was downloaded`);
      if (++seen > LIST_SCAN_NAMES) throw new TransferError(`${name} holds more than ${LIST_SCAN_NAMES} files and directories; get its parts one by one`);
      const checked = fileName(entry.name);
      if ('problem' in checked) throw new TransferError(`the server sent a name that cannot be a file here: ${JSON.stringify(entry.name)}: ${checked.problem}; nothing was downloaded`, { origin: 'peer' });
      const local = [...next.local, checked.name];
      if (entry.dir) {
        tree.directories.push(local);
        pending.push({ remote, local });
      } else {
        tree.files.push({ name: remote, local, size: entry.size });
        tree.bytes += entry.size;
      }
    }
  }
  return tree;
}

/** How a tree download reports: DownloadOptions for every file, and each file's own result. */
export interface TreeDownloadOptions extends Omit<DownloadOptions, 'out' | 'to'> {
  /** Called after each file, with its own result (a `restarted` resume, for one). */
  onFile?: (result: TransferResult) => void;
}

/**
 * Downloads the tree `tree` (listTree() of `name`) into the directory `root`, made if missing:
 * every directory (empty ones too), then its files, several at a time (moveFiles), each with its resume,
 * metadata and hash check as a single download has. Directories here are made one level at a
 * time and a symbolic link on the way is refused, never followed, and part files are never opened
 * through a link, so nothing the peer names is written outside `root`. One result for the tree;
 * `onStart` and `onProgress` count the whole tree. The first file that fails stops it (moveFiles).
 */
export async function downloadTree(endpoint: TransferEndpoint, name: string, tree: RemoteTree, root: string,
  options: TreeDownloadOptions = {}): Promise<TransferResult> {
  const { onFile, onStart, onProgress, ...each } = options;
  await mkdir(root, { recursive: true, mode: 0o777 });
  if (!(await stat(root)).isDirectory()) throw new TransferError(`${root} exists and is not a directory`);
  for (const directory of tree.directories) await makeDirectories(root, directory, 'here');
  const totals = new TreeTotals();
  onStart?.(0, tree.bytes);
  await moveFiles(tree.files, totals, async (file, progress) => {
    const result = await endpoint.download(file.name, { ...each, out: join(root, ...file.local), onProgress: progress });
    onFile?.(result);
    return result;
  }, (done) => onProgress?.(done, tree.bytes));
  return totals.result(name, 'receive');
}
