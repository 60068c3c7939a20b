import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TransferError } from './transfer-error.js';

/**
 * Makes the directories of `components` (a checked relative path, relativePath()) inside `dir`,
 * one level at a time, each with mode 0777 less the umask, and insists that every level is a real
 * directory: a symbolic link (or a file) on the way is refused, never followed, so nothing a peer
 * names lands outside `dir`. Names in errors are the peer's, never the server's path.
 * (A local user who can write in `dir` could still swap a level for a link between the check and
 * the open that follows; the peer cannot, as it makes only files and directories.)
 */
export async function makeDirectories(dir: string, components: string[]): Promise<void> {
  let path = dir;
  for (const [i, component] of components.entries()) {
    path = join(path, component);
    const shown = components.slice(0, i + 1).join('/');
    await mkdir(path, 0o777).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw new TransferError(`cannot make the directory ${shown}${err.code === 'ENOSPC' ? ': no space left on the device' : ''}`);
    });
    const stat = await lstat(path).catch(() => undefined);
    if (!stat?.isDirectory()) throw new TransferError(`${shown} exists on the server and is not a directory`);
  }
}
