import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { constants as fsConstants, type BigIntStats, type Stats } from 'node:fs';
import { link, lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BACKGROUND_SYNC_BYTES, PART_HASHES_REMEMBERED, PART_SUFFIX, PREFIX_HASHES_REMEMBERED, READ_BLOCK_BYTES } from '../constants.js';
import { BittrrtError } from '../errors.js';
import type { FileMetadata } from '../protocol/transfer.js';
import type { HashControl } from './hashing.js';
import type { ByteSink } from './receiver.js';
import type { ByteSource } from './sender.js';

/** A file problem the user can act on (missing, not a regular file, exists, hash mismatch...). */
export class TransferFileError extends BittrrtError {
  /**
   * What the peer may be told, where the message names a local path (the peer hears no path of
   * ours); undefined: only which side had a file problem.
   */
  readonly peerReason: string | undefined;
  constructor(message: string, peerReason?: string) {
    super('ERR_TRANSFER_FILE', message);
    this.peerReason = peerReason;
  }
}

/** The one-line reason for a file-system error, naming the file. */
export function describeFsError(err: unknown, path: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return `${path}: no such file`;
    case 'EACCES':
    case 'EPERM': return `${path}: permission denied`;
    case 'ENOSPC': return `${path}: no space left on the device`;
    case 'EDQUOT': return `${path}: disk quota exceeded`;
    case 'EISDIR': return `${path}: is a directory`;
    case 'ELOOP': return `${path}: is a symbolic link (refused)`;
    case 'EEXIST': return `${path}: already exists`;
    case 'EROFS': return `${path}: read-only file system`;
    case 'ENAMETOOLONG': return `${path}: name too long`;
    // Node's messages name the full path, which a server must not tell its peer: the code only.
    default: return err instanceof TransferFileError ? err.message : `${path}: ${code ?? (err as Error).message}`;
  }
}

const HEX_EMPTY = '';

/**
 * Whether two hex digests are the same, in time that depends only on their lengths: a resume
 * compares a digest the peer sent with one of our file, and an early exit would tell the peer,
 * by timing, how many leading characters it got right.
 */
export function sameDigest(ours: string, theirs: string): boolean {
  const a = Buffer.from(ours, 'latin1');
  const b = Buffer.from(theirs, 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Opens `path` and insists on a regular file. O_NONBLOCK makes the open return at once on a FIFO
 * or device (which would otherwise block a libuv thread until a writer appears); it changes
 * nothing for regular files.
 */
async function openRegularFile(path: string, flags: number, label: string, refuseLinked = false,
  check?: (stat: Stats) => string | undefined): Promise<{ handle: FileHandle; size: number; stat: Stats }> {
  let handle: FileHandle;
  try {
    handle = await open(path, flags | fsConstants.O_NONBLOCK, 0o600);
  } catch (err) {
    throw new TransferFileError(describeFsError(err, label));
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new TransferFileError(`${label}: not a regular file`);
    // A second name for a part file would let someone outside the directory read or change it.
    if (refuseLinked && stat.nlink > 1) throw new TransferFileError(`${label}: has other hard links (refused)`);
    const problem = check?.(stat);
    if (problem !== undefined) throw new TransferFileError(problem);
    return { handle, size: stat.size, stat };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err instanceof TransferFileError ? err : new TransferFileError(describeFsError(err, label));
  }
}

/**
 * Why a part file found in place is not ours to write: another user's (in a shared directory it
 * could read the data as it arrives and change it after the hash check), or, to resume, writable by
 * its group or others. Unchecked where the platform has no user ids.
 */
function partProblem(stat: Stats, label: string, resume: boolean): string | undefined {
  const me = process.getuid?.();
  if (me === undefined) return undefined;
  if (stat.uid !== me) return `${label}: belongs to another user (uid ${stat.uid}); remove it or receive under another name`;
  if (resume && (stat.mode & 0o022) !== 0) return `${label}: its group or others can write it; remove it, or run chmod go-w on it to resume`;
  return undefined;
}

/**
 * Opens the part file of a receive. To resume, an existing part must be ours, writable by no one
 * else, and becomes mode 0600. Otherwise it is made afresh with O_EXCL, mode 0600: a part file we
 * made earlier is removed first (which also cuts off anyone who still has it open), anyone else's
 * is refused, never written into.
 */
async function openPart(partPath: string, resume: boolean, label: string): Promise<{ handle: FileHandle; size: number }> {
  const flags = fsConstants.O_RDWR | fsConstants.O_NOFOLLOW;
  let found: Stats | undefined;
  try {
    found = await lstat(partPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TransferFileError(describeFsError(err, label));
  }
  if (resume && found) {
    const opened = await openRegularFile(partPath, flags, label, true, (stat) => partProblem(stat, label, true));
    try {
      // Only when needed: a chmod changes the ctime, which tells whether a remembered hash still holds.
      if ((found.mode & 0o777) !== 0o600) await opened.handle.chmod(0o600);
    } catch (err) {
      await opened.handle.close().catch(() => undefined);
      throw new TransferFileError(describeFsError(err, label));
    }
    return opened;
  }
  if (found) {
    if (found.isSymbolicLink()) throw new TransferFileError(`${label}: is a symbolic link (refused)`);
    if (found.isDirectory()) throw new TransferFileError(`${label}: is a directory`);
    if (!found.isFile()) throw new TransferFileError(`${label}: not a regular file`);
    const problem = partProblem(found, label, false);
    if (problem !== undefined) throw new TransferFileError(problem);
    try {
      await unlink(partPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TransferFileError(describeFsError(err, label));
    }
  }
  // O_EXCL: if a part file appeared since (someone else's), this fails rather than writing into it.
  return openRegularFile(partPath, flags | fsConstants.O_CREAT | fsConstants.O_EXCL, label, true);
}

/**
 * Gives a received file the sender's permission bits less the receiver's umask (as a file the
 * receiver's user made, never setuid, setgid or sticky: the wire carries only 0o777) and its
 * modification time. Best effort: a file system that cannot keep them still gets the data.
 */
async function keepMetadata(handle: FileHandle, metadata: FileMetadata): Promise<void> {
  if (metadata.mode !== undefined) await handle.chmod(metadata.mode & 0o777 & ~umask()).catch(() => undefined);
  if (metadata.mtime !== undefined) await handle.utimes(new Date(), new Date(metadata.mtime)).catch(() => undefined);
}

/** The process's umask, read once (Node reads it by setting it and back, in one call). */
let knownUmask: number | undefined;
function umask(): number {
  knownUmask ??= process.umask();
  return knownUmask;
}

/** Throws the reason a hash must stop, if there is one. */
function checkControl(control: HashControl | undefined): void {
  const reason = control?.stopped();
  if (reason !== undefined) throw new TransferFileError(reason);
}

/** `chunks` without their first `bytes` bytes. */
function skipBytes(chunks: Buffer[], bytes: number): Buffer[] {
  let skip = bytes;
  let i = 0;
  while (i < chunks.length && skip >= chunks[i]!.length) skip -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

/**
 * A file being sent. Reads are sequential and every byte read is hashed, so after the last read
 * `digest()` is the SHA-256 of exactly what was sent (a file that changes while it is read
 * cannot pass for the one that was announced). `noFollow` refuses a symbolic link (a server
 * serving downloads must not be led outside its directory).
 */
export class FileSource implements ByteSource {
  #hash: Hash = createHash('sha256');
  #hashed = 0;

  private constructor(readonly path: string, private readonly handle: FileHandle, readonly size: number,
    /** The file's modification time and permission bits when opened, for the receiver to keep. */
    readonly metadata: Required<FileMetadata>) {}

  /** `label` names the file in errors (a server names it as the client did, never by its path). */
  static async open(path: string, noFollow: boolean, label = path): Promise<FileSource> {
    const { handle, size, stat } = await openRegularFile(path, fsConstants.O_RDONLY | (noFollow ? fsConstants.O_NOFOLLOW : 0), label);
    return new FileSource(path, handle, size, { mtime: Math.max(0, Math.floor(stat.mtimeMs)), mode: stat.mode & 0o777 });
  }

  /**
   * SHA-256 (hex) of the first `length` bytes, which become hashed; '' for none. Call before any
   * read. `control` can stop it between blocks (an abort must not wait for a whole file).
   */
  async prefixDigest(length: number, control?: HashControl): Promise<string> {
    if (length === 0) return HEX_EMPTY;
    const key = `${fileVersion(await this.handle.stat({ bigint: true }))}:${length}`;
    const remembered = prefixHashes.get(key);
    if (remembered) {
      // The same file, unchanged, hashed this far before: continue from that state.
      this.#hash = remembered.copy();
      this.#hashed = length;
      return this.#hash.copy().digest('hex');
    }
    let offset = 0;
    while (offset < length) {
      checkControl(control);
      const block = await this.read(offset, Math.min(READ_BLOCK_BYTES, length - offset));
      if (block.length === 0) break;
      control?.hashed(block.length);
      offset += block.length;
    }
    if (offset !== length) return HEX_EMPTY;
    prefixHashes.set(key, this.#hash.copy());
    if (prefixHashes.size > PREFIX_HASHES_REMEMBERED) prefixHashes.delete(prefixHashes.keys().next().value!);
    return this.#hash.copy().digest('hex');
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset !== this.#hashed) throw new Error(`reads must be sequential (at ${this.#hashed}, asked ${offset})`);
    const block = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(block, filled, length - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const data = block.subarray(0, filled);
    this.#hash.update(data);
    this.#hashed += filled;
    return data;
  }

  /** SHA-256 (hex) of every byte read. */
  digest(): string {
    return this.#hash.copy().digest('hex');
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/**
 * Hash state of part files whose receive stopped (by absolute path), with the version of the file
 * it describes: resuming one continues from it instead of reading the file again. A version is
 * device, inode, size, mtime and ctime (the ctime no user can set back), so any change to the file
 * since, by anyone, makes the state useless and the file is read again.
 */
const partHashes = new Map<string, { version: string; hash: Hash; length: number }>();

/** Hash states of files' prefixes, by file version and length (see PREFIX_HASHES_REMEMBERED). */
const prefixHashes = new Map<string, Hash>();

function fileVersion(stat: BigIntStats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

/**
 * A file being received: bytes go to `PATH.part`, and hashed as they are written; finish()
 * checks the hash and only then moves the part file into place. A mismatch or an error leaves
 * the part file where it is, for --resume. Symbolic links are never followed.
 */
export class FileSink implements ByteSink {
  #hash: Hash = createHash('sha256');
  #length = 0;
  #closing: Promise<void> | undefined;
  /** Bytes written since the last background sync began, and that sync while it runs. */
  #unsynced = 0;
  #syncing: Promise<void> | null = null;

  private constructor(readonly path: string, readonly partPath: string, private readonly partLabel: string,
    private readonly label: string, private readonly handle: FileHandle) {}

  /**
   * Opens (resume) or creates afresh the part file of `path`; `label` names the file in errors.
   * `control` can stop the hashing of a resumed part file between blocks.
   */
  static async open(path: string, resume: boolean, label = path, control?: HashControl): Promise<FileSink> {
    const partPath = `${path}${PART_SUFFIX}`;
    const partLabel = `${label}${PART_SUFFIX}`;
    const { handle, size } = await openPart(partPath, resume, partLabel);
    const sink = new FileSink(path, partPath, partLabel, label, handle);
    try {
      // The part file's bytes are hashed as they are counted, so a resume continues the same hash,
      // from where a remembered state of this very file left off.
      const remembered = partHashes.get(resolve(partPath));
      partHashes.delete(resolve(partPath));
      if (size > 0 && remembered && remembered.length <= size && remembered.version === fileVersion(await handle.stat({ bigint: true }))) {
        sink.#hash = remembered.hash;
        sink.#length = remembered.length;
      }
      if (size > sink.#length) await sink.#hashExisting(control);
    } catch (err) {
      await sink.close();
      throw err instanceof TransferFileError ? err : new TransferFileError(describeFsError(err, partLabel));
    }
    return sink;
  }

  /** Bytes already in the part file (where a resumed transfer starts). */
  get length(): number {
    return this.#length;
  }

  /** SHA-256 (hex) of the bytes in the part file; '' when empty. */
  prefixDigest(): string {
    return this.#length === 0 ? HEX_EMPTY : this.#hash.copy().digest('hex');
  }

  /** Empties the part file: the sender's copy differs from what it holds. */
  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.#hash = createHash('sha256');
    this.#length = 0;
    this.#unsynced = 0;
  }

  /** Appends `chunks`, all of them: writev(2) may write less than asked (a full disk, a size limit). */
  async write(chunks: Buffer[]): Promise<void> {
    let pending = chunks;
    let position = this.#length;
    try {
      while (pending.length > 0) {
        const { bytesWritten } = await this.handle.writev(pending, position);
        if (bytesWritten === 0) throw Object.assign(new Error('nothing written'), { code: 'ENOSPC' });
        position += bytesWritten;
        pending = skipBytes(pending, bytesWritten);
      }
    } catch (err) {
      throw new TransferFileError(describeFsError(err, this.partLabel));
    }
    for (const chunk of chunks) {
      this.#hash.update(chunk);
      this.#length += chunk.length;
      this.#unsynced += chunk.length;
    }
    if (this.#unsynced >= BACKGROUND_SYNC_BYTES && this.#syncing === null) this.#syncInBackground();
  }

  /**
   * Starts flushing what was written so far, not waited for: finish()'s sync is what makes the file
   * durable, and reports any error (a failure here would fail there too).
   */
  #syncInBackground(): void {
    this.#unsynced = 0;
    this.#syncing = this.handle.datasync().catch(() => undefined).finally(() => {
      this.#syncing = null;
    });
  }

  /**
   * Checks the whole file's SHA-256 against the sender's, then moves the part file into place:
   * by hard link when not overwriting, so an existing file is never replaced by a race.
   */
  async finish(expectedSha256: string, overwrite: boolean, metadata: FileMetadata = {}): Promise<void> {
    // One snapshot of what was written: length and hash together.
    const written = this.#length;
    const actual = this.#hash.copy().digest('hex');
    let onDisk: number;
    try {
      await this.#syncing;
      await this.handle.sync();
      onDisk = (await this.handle.stat()).size;
      // Only a file whose hash matches leaves the part file's 0600 (set on the handle: no path to race).
      if (onDisk === written && actual === expectedSha256) await keepMetadata(this.handle, metadata);
    } finally {
      await this.close();
    }
    // The hash covers what we handed to the file system; the size says it all arrived there.
    if (onDisk !== written) {
      throw new TransferFileError(`${this.partLabel} holds ${onDisk} bytes, not the ${written} written; kept it (resume or remove it)`);
    }
    if (actual !== expectedSha256) {
      throw new TransferFileError(`SHA-256 mismatch: the received data differs from the sender's file; kept ${this.partLabel} (resume or remove it)`,
        'SHA-256 mismatch: the received data differs from the sender\'s file');
    }
    try {
      if (overwrite) {
        await rename(this.partPath, this.path);
      } else {
        await link(this.partPath, this.path);
        await unlink(this.partPath);
      }
    } catch (err) {
      throw new TransferFileError(`${describeFsError(err, this.label)}; the data is complete in ${this.partLabel}`);
    }
    partHashes.delete(resolve(this.partPath));
  }

  /** Closes the part file, remembering its hash state for a resume (only the first call counts). */
  close(): Promise<void> {
    this.#closing ??= this.#remember().finally(async () => {
      await this.#syncing;
      await this.handle.close().catch(() => undefined);
    });
    return this.#closing;
  }

  async #remember(): Promise<void> {
    if (this.#length === 0) return;
    try {
      const version = fileVersion(await this.handle.stat({ bigint: true }));
      const key = resolve(this.partPath);
      partHashes.delete(key);
      partHashes.set(key, { version, hash: this.#hash.copy(), length: this.#length });
      if (partHashes.size > PART_HASHES_REMEMBERED) partHashes.delete(partHashes.keys().next().value!);
    } catch {
      // Nothing remembered: a resume reads the file again.
    }
  }

  /** Hashes the bytes already on disk and counts them. */
  async #hashExisting(control?: HashControl): Promise<void> {
    const block = Buffer.allocUnsafe(READ_BLOCK_BYTES);
    for (;;) {
      checkControl(control);
      const { bytesRead } = await this.handle.read(block, 0, block.length, this.#length);
      if (bytesRead === 0) return;
      control?.hashed(bytesRead);
      this.#hash.update(block.subarray(0, bytesRead));
      this.#length += bytesRead;
    }
  }
}
