import { statfs } from 'node:fs/promises';
import { DEFAULT_CLIENT_QUOTA_BYTES } from '../constants.js';
import { formatBytes } from '../units.js';

/** Bytes an unprivileged user may still write on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/** The refusal for a receive of `needed` bytes where `free` are left, or undefined when it fits. */
export function roomProblem(needed: number, free: number): string | undefined {
  return needed > free ? `not enough free space on the receiving side: ${formatBytes(needed)} needed, ${formatBytes(Math.max(0, free))} free` : undefined;
}

/** An upload's claim on the directory: given back (as pending disk space) once it ends. */
export interface Claim {
  release(): void;
}

/**
 * What the server's clients may put in its directory: per owner (PROTOCOL.md §8: an identity, or
 * an anonymous client's host), the sizes of the files it uploaded, finished or partial, while the
 * server runs; and over everyone, the bytes running uploads have yet to write, which the free
 * space must still hold. Shared by every session of a server. A name counts once, for whoever
 * uploaded it last (a resume or an overwrite replaces its entry).
 */
export class DiskQuota {
  /** Bytes one owner may hold; 0: no limit. */
  readonly perOwner: number;
  readonly #names = new Map<string, { owner: string; bytes: number }>();
  #pending = 0;

  constructor(perOwner = DEFAULT_CLIENT_QUOTA_BYTES) {
    if (!Number.isSafeInteger(perOwner) || perOwner < 0) throw new RangeError('a client quota is a whole number of bytes, 0 for none');
    this.perOwner = perOwner;
  }

  /** Bytes counted for `owner`. */
  usedBy(owner: string): number {
    let bytes = 0;
    for (const entry of this.#names.values()) if (entry.owner === owner) bytes += entry.bytes;
    return bytes;
  }

  /** Bytes running uploads have yet to write. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Counts `size` bytes under `key` for `owner`, and `needed` (what is left to write) as pending,
   * if the owner's quota and the free space `free` (measured by the caller) allow; else the reason.
   */
  claim(key: string, owner: string, size: number, needed: number, free: number): Claim | string {
    const previous = this.#names.get(key);
    const used = this.usedBy(owner) - (previous?.owner === owner ? previous.bytes : 0);
    if (this.perOwner > 0 && used + size > this.perOwner) {
      return `this upload would take you over your quota on this server (${formatBytes(this.perOwner)}; ${formatBytes(used)} used)`;
    }
    const problem = roomProblem(needed, free - this.#pending);
    if (problem !== undefined) return problem;
    this.#names.set(key, { owner, bytes: size });
    this.#pending += needed;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#pending -= needed;
      },
    };
  }
}
