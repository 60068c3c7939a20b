import { accessSync, constants, statSync } from 'node:fs';
import { dirname, sep } from 'node:path';
import { UsageError } from 'clipanion';
import { isDirectory } from './fs.js';
import { systemErrorSentence } from './errors.js';

/** `--send -` and `--out -`: standard input and output, not paths. */
const STANDARD_STREAM = '-';

/**
 * The local half of a transfer plan, checked before any datagram leaves: every file to send
 * exists and can be read, and `--out` (a directory, or a file in one) is somewhere that exists.
 * A mistake here is the user's to fix, and waiting for a server would only hide it.
 */
export function checkLocalPaths(send: readonly string[], out: string | undefined): void {
  for (const path of send) {
    if (path === STANDARD_STREAM) continue;
    const problem = unreadable(path);
    if (problem !== undefined) throw new UsageError(`cannot send ${path}: ${problem}`);
  }
  // `-` is standard output, and `DIR/` a directory the download makes: neither needs to exist yet.
  if (out === undefined || out === STANDARD_STREAM || out.endsWith(sep) || isDirectory(out)) return;
  const parent = dirname(out);
  if (!isDirectory(parent)) throw new UsageError(`--out ${out}: the directory ${parent} does not exist`);
}

/** Why `path` cannot be read as a file to send, or undefined when it can. */
function unreadable(path: string): string | undefined {
  try {
    statSync(path);
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return systemErrorSentence(code) ?? code ?? (err as Error).message;
  }
}
