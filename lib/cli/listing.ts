import type { Logger } from '../log.js';
import type { Session } from '../net/session.js';
import { TransferEndpoint } from '../transfer/endpoint.js';
import { TransferError } from '../transfer/transfer-error.js';
import { countDirectories, formatBytes } from '../units.js';

/**
 * `connect --list`: what the server offers for download, one line per file or directory on `out`
 * (size, modification time in UTC, name; a directory's name ends in `/`), or with `json` one JSON
 * object per entry, sizes and times as numbers. Returns the exit code.
 */
export async function printListing(session: Session, out: NodeJS.WritableStream, json: boolean, log: Logger): Promise<number> {
  // A reader that stops early (`| head`) ends the listing quietly, as ls does.
  out.on('error', () => undefined);
  try {
    const endpoint = new TransferEndpoint(session, { answerPeer: false });
    // '' asks for the top with its subdirectories (each a tree --get fetches); an older server lists files only.
    const { entries, truncated, refused } = await endpoint.list('');
    for (const { name, size, mtime, dir } of entries) {
      const modified = new Date(mtime).toISOString();
      out.write(json
        ? `${JSON.stringify({ name, type: dir ? 'directory' : 'file', size, mtime_ms: mtime, modified })}\n`
        : `${(dir ? '-' : formatBytes(size)).padStart(10)}  ${modified.replace('T', ' ').slice(0, 19)}  ${name}${dir ? '/' : ''}\n`);
    }
    if (truncated) log.warn('the server holds more names than it lists at once: this listing is incomplete');
    if (refused.length > 0) log.warn(`left out ${refused.length} name(s) that cannot be files here: ${refused.join(', ')}`);
    const directories = entries.filter((e) => e.dir).length;
    log.info(`${entries.length - directories} file(s) and ${countDirectories(directories)} offered`,
      { files: entries.length - directories, directories });
    return 0;
  } catch (err) {
    log.error(`cannot list: ${(err instanceof TransferError ? err.peerWords?.reason : undefined) ?? (err as Error).message}`);
    return 1;
  } finally {
    session.close();
  }
}
