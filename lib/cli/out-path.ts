import { mkdirSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { TransferFileError } from '../transfer/files.js';

/** Whether `out` ends in a path separator: the user means a directory, present or not. */
export function namesDirectory(out: string): boolean {
  return out.endsWith('/') || out.endsWith(sep);
}

function kindOf(path: string): 'directory' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

/**
 * Why `out` cannot take a download, or undefined: it names a file (not `DIR/`, not an existing
 * directory) in a directory that does not exist.
 */
export function missingOutDirectory(out: string): string | undefined {
  if (namesDirectory(out) || kindOf(out) === 'directory') return undefined;
  const parent = dirname(out);
  if (kindOf(parent) === 'directory') return undefined;
  return `--out ${out}: the directory ${parent} does not exist (end --out with / to have it created)`;
}

/**
 * Where a download of `name` goes, checked before anything is asked of the server. `--out DIR/`
 * (ending in a separator) is a directory, made with its parents if missing, with the user's umask;
 * an existing directory takes the file under its name; anything else names the file itself, whose
 * directory must exist (refused with a sentence, not ENOENT on the part file, which would also
 * have reached the server's log).
 */
export function downloadPath(name: string, out: string | undefined): string {
  if (out === undefined) return name;
  const kind = kindOf(out);
  if (kind === 'directory') return join(out, name);
  if (namesDirectory(out)) {
    if (kind === 'other') throw new TransferFileError(`--out ${out}: exists and is not a directory`);
    try {
      mkdirSync(out, { recursive: true, mode: 0o777 });
    } catch (err) {
      throw new TransferFileError(`--out ${out}: cannot create the directory (${(err as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : 'it could not be made'})`);
    }
    return join(out, name);
  }
  const missing = missingOutDirectory(out);
  if (missing !== undefined) throw new TransferFileError(missing);
  return out;
}
