import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { LIST_PAGE_STATS, LIST_SCAN_NAMES, MAX_TRANSFER_MESSAGE_BYTES } from '../constants.js';
import { encodeMessage, MAX_LIST_ENTRIES, type ListEntry, type TransferMessage } from '../protocol/transfer.js';
import { fileNameProblem } from './names.js';
import { checkDirectories } from './tree.js';

export type ListingPage = Extract<TransferMessage, { type: 'listing' }>;

/**
 * One page of what `dir` offers for download: its regular files (symbolic links, directories and
 * part files are not offered; names a transfer could not use are left out) whose names sort after
 * `after`, as many as fit in one control message. With `tree` (the checked components of a
 * directory inside `dir`, [] for `dir` itself), that directory's files and subdirectories
 * (entries with `dir`), reached only through real directories (checkDirectories), and the page
 * says `tree`. The work one request causes is bounded: at most
 * LIST_SCAN_NAMES names read from the directory (beyond them the listing says it is truncated) and
 * LIST_PAGE_STATS lstat calls (then the page ends early and `next` continues it). The answer is
 * never larger than any other control message, so a listing is no amplifier.
 */
export async function listPage(dir: string, after: string, tree?: string[]): Promise<ListingPage> {
  if (tree) await checkDirectories(dir, tree);
  const listed = tree ? join(dir, ...tree) : dir;
  const marks = tree ? { tree: true } as const : {};
  const names: string[] = [];
  let truncated = false;
  for await (const entry of await opendir(listed)) {
    if (names.length === LIST_SCAN_NAMES) {
      truncated = true;
      break;
    }
    names.push(entry.name);
  }
  // Code-unit order, the order `after` compares in on both sides.
  names.sort();
  const entries: ListEntry[] = [];
  let examined = 0;
  let lastExamined = after;
  for (const name of names) {
    if (name <= after || fileNameProblem(name) !== null) continue;
    if (examined === LIST_PAGE_STATS) return { type: 'listing', entries, next: lastExamined, truncated, ...marks };
    examined++;
    lastExamined = name;
    const stat = await lstat(join(listed, name)).catch(() => undefined);
    const mtime = Math.max(0, Math.floor(stat?.mtimeMs ?? 0));
    const entry: ListEntry | undefined = stat?.isFile() ? { name, size: stat.size, mtime }
      : tree && stat?.isDirectory() ? { name, size: 0, mtime, dir: true } : undefined;
    if (!entry) continue;
    const fuller: ListingPage = { type: 'listing', entries: [...entries, entry], next: name, truncated, ...marks };
    if (entries.length === MAX_LIST_ENTRIES || encodeMessage(fuller).length > MAX_TRANSFER_MESSAGE_BYTES) {
      return { type: 'listing', entries, next: entries[entries.length - 1]!.name, truncated, ...marks };
    }
    entries.push(entry);
  }
  return { type: 'listing', entries, next: '', truncated, ...marks };
}
