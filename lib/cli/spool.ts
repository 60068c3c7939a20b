import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TransferFileError } from '../transfer/files.js';

/** A stream read to its end into a private temporary file; `remove()` deletes it. */
export interface Spooled {
  path: string;
  remove(): Promise<void>;
}

/**
 * Reads `input` (standard input) to its end into a file in a fresh directory of the temporary
 * directory (mode 0700, the file 0600, so no other user reads it), because an upload announces
 * its size and proves its hash, which a pipe cannot give up front. The spool then uploads like any
 * file, resume included (for the same bytes piped again).
 */
export async function spool(input: Readable, label: string): Promise<Spooled> {
  const dir = await mkdtemp(join(tmpdir(), 'bittrrt-spool-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'data');
  try {
    await pipeline(input, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    await remove();
    const code = (err as NodeJS.ErrnoException).code;
    throw new TransferFileError(code === 'ENOSPC'
      ? `${label}: no space left in the temporary directory (${tmpdir()}) to hold it; set TMPDIR elsewhere`
      : `${label}: cannot be read to its end`);
  }
  return { path, remove };
}
