import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { TransferEndpoint, TransferResult, UploadOptions } from '../transfer/endpoint.js';
import { relativePathProblem } from '../transfer/names.js';
import { moveFiles, TreeTotals } from '../transfer/tree.js';
import { countDirectories } from '../units.js';

/** How a transfer reports to the progress display: where it starts and how big it is, then bytes done since the start. */
export interface ProgressHooks {
  onStart(offset: number, size: number): void;
  onProgress(done: number): void;
}

/** What `--send DIR` sends: files with their local path and their name on the server, empty directories, and what it leaves out. */
export interface Tree {
  /** Each file with its size when walked (how many go at once: moveFiles). */
  files: Array<{ path: string; name: string; size: number }>;
  /** The files' sizes when walked, for the progress display. */
  bytes: number;
  emptyDirectories: string[];
  skipped: string[];
}

/**
 * Walks the directory `root` (the one the user named, followed if it is a link), naming everything
 * under `top` on the server. Symbolic links inside are never followed (one could lead out of the
 * tree, or loop), other special files are left out, and so are names the server would refuse:
 * each is listed in `skipped` with the reason. A directory with nothing in it is kept as an empty
 * directory.
 */
async function walkTree(root: string, top: string): Promise<Tree> {
  const tree: Tree = { files: [], bytes: 0, emptyDirectories: [], skipped: [] };
  const visit = async (dir: string, name: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (entries.length === 0) tree.emptyDirectories.push(name);
    for (const entry of entries) {
      const child = `${name}/${entry.name}`;
      const problem = relativePathProblem(child);
      if (problem) tree.skipped.push(`${child}: ${problem}`);
      else if (entry.isSymbolicLink()) tree.skipped.push(`${child}: a symbolic link (not followed)`);
      else if (entry.isDirectory()) await visit(join(dir, entry.name), child);
      else if (entry.isFile()) {
        const { size } = await lstat(join(dir, entry.name));
        tree.files.push({ path: join(dir, entry.name), name: child, size });
        tree.bytes += size;
      }
      else tree.skipped.push(`${child}: not a regular file`);
    }
  };
  await visit(root, top);
  return tree;
}

/**
 * Sends a directory tree as one transfer for the user: empty directories first, then every file
 * under `top/...`, several at a time over the session (moveFiles), with one progress display and one result
 * for the whole tree (its size, time and the senders' counts; no single SHA-256: every file's was
 * checked by the server). The first file that fails stops the tree.
 */
export async function sendTree(endpoint: TransferEndpoint, root: string, top: string, options: UploadOptions, hooks: ProgressHooks,
  log: Logger): Promise<TransferResult> {
  const tree = await walkTree(root, top);
  for (const reason of tree.skipped) log.warn(`skipped ${reason}`);
  const totals = new TreeTotals();
  for (const name of tree.emptyDirectories) await endpoint.makeDirectory(name);
  hooks.onStart(0, tree.bytes);
  await moveFiles(tree.files, totals, async (file, progress) => {
    const result = await endpoint.upload(file.path, { ...options, as: file.name, onStart: () => undefined, onProgress: progress });
    if (result.restarted) log.warn(`${file.name}: the server's part file was not the start of this file; it was emptied and everything sent again`);
    return result;
  }, (done) => hooks.onProgress(done));
  const already = totals.unchanged > 0 ? ` (${totals.unchanged} already there)` : '';
  log.info(`${top}: ${tree.files.length} file(s)${already} and ${countDirectories(tree.emptyDirectories.length, 'empty')} sent`,
    { files: tree.files.length, unchanged: totals.unchanged || undefined, empty_directories: tree.emptyDirectories.length, skipped: tree.skipped.length });
  return totals.result(top, 'send');
}
