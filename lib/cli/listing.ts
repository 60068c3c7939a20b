import type { Logger } from '../log.js';
import type { Session } from '../net/session.js';
import { TransferEndpoint } from '../transfer/endpoint.js';
import { TransferError } from '../transfer/transfer-error.js';
import { formatBytes } from '../units.js';

/**
 * `connect --list`: what the server offers for download, one line per file on `out` (size,
 * modification time in UTC, name), or with `json` one JSON object per file, sizes and times as
 * numbers. Returns the exit code.
 */
export async function printListing(session: Session, out: NodeJS.WritableStream, json: boolean, log: Logger): Promise<number> {
  // A reader that stops early (`| head`) ends the listing quietly, as ls does.
  out.on('error', () => undefined);
  try {
    const endpoint = new TransferEndpoint(session, { answerPeer: false });
    const { entries, truncated } = await endpoint.list();
    for (const { name, size, mtime } of entries) {
      out.write(json
        ? `${JSON.stringify({ name, size, mtime_ms: mtime, modified: new Date(mtime).toISOString() })}\n`
        : `${formatBytes(size).padStart(10)}  ${new Date(mtime).toISOString().replace('T', ' ').slice(0, 19)}  ${name}\n`);
    }
    if (truncated) log.warn('the server holds more names than it lists at once: this listing is incomplete');
    log.info(`${entries.length} file(s) offered`, { files: entries.length });
    return 0;
  } catch (err) {
    log.error(`cannot list: ${err instanceof TransferError && err.origin === 'peer' ? err.message.replace(/^the peer refused: /, '') : (err as Error).message}`);
    return 1;
  } finally {
    session.close();
  }
}
