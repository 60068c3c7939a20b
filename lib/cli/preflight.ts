import { accessSync, constants, statSync } from 'node:fs';
import { UsageError } from 'clipanion';
import { systemErrorSentence } from './errors.js';
import { missingOutDirectory } from './out-path.js';
import { STDIO } from './transfer-jobs.js';

/**
 * The local half of a transfer plan, checked before any datagram leaves: every file to send
 * exists and can be read, and `--out` (a directory, or a file in one) is somewhere that exists.
 * A mistake here is the user's to fix, and waiting for a server would only hide it.
 */
export function checkLocalPaths(send: readonly string[], out: string | undefined): void {
  for (const path of send) {
    if (path === STDIO) continue;
    const problem = unreadable(path);
    if (problem !== undefined) throw new UsageError(`cannot send ${path}: ${problem}`);
  }
  // `-` is standard output, and `DIR/` a directory the download makes: neither needs to exist yet.
  const missing = out === undefined || out === STDIO ? undefined : missingOutDirectory(out);
  if (missing !== undefined) throw new UsageError(missing);
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
