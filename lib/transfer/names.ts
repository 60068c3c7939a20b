import { randomBytes } from 'node:crypto';
import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_FILE_NAME_BYTES, MAX_PATH_BYTES, MAX_PATH_COMPONENTS, PART_SUFFIX } from '../constants.js';
import { UNPRINTABLE } from '../encoding.js';

/** A lone UTF-16 surrogate (with the u flag a proper pair is one code point, not Cs). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why `name` may not name a file in a transfer directory, or null if it may. A name is
 * well-formed UTF-16 (a lone surrogate would become U+FFFD on disk, so two names could land on one
 * file) and one path component: no separators, no NUL or other control characters (C0, C1,
 * bidirectional overrides), not `.` or `..`, not a part file. Checked as it is and, by the
 * receiver, once more after NFC (fileName()).
 * Both sides check; the receiver's check is the one that protects its disk.
 */
export function fileNameProblem(name: string): string | null {
  if (name.length === 0) return 'the name is empty';
  if (LONE_SURROGATE.test(name)) return 'the name is not well-formed Unicode (a lone surrogate)';
  if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) return `the name is longer than ${MAX_FILE_NAME_BYTES} bytes`;
  if (name === '.' || name === '..') return `"${name}" is not a file name`;
  if (/[/\\]/.test(name)) return 'the name contains a path separator';
  if (UNPRINTABLE.test(name)) return 'the name contains a control character';
  if (name.endsWith(PART_SUFFIX)) return `names ending in ${PART_SUFFIX} are reserved for partial files`;
  return null;
}

/**
 * The name a receiver stores `name` under: its NFC form (so a name typed on a system that
 * decomposes accents is the same file as one that composes them), or why it may not be one.
 */
export function fileName(name: string): { name: string } | { problem: string } {
  const asGiven = fileNameProblem(name);
  if (asGiven) return { problem: asGiven };
  const nfc = name.normalize('NFC');
  const problem = nfc === name ? null : fileNameProblem(nfc);
  return problem ? { problem } : { name: nfc };
}

/**
 * Why `path` may not name a file or directory inside a transfer directory, or null if it may: a
 * relative path of components joined by `/`, each one a name fileNameProblem() accepts (so no
 * `..`, `.`, empty component, absolute path, NUL, control character or `\\`), at most
 * MAX_PATH_COMPONENTS deep and MAX_PATH_BYTES long. A path without `/` is a plain file name.
 */
export function relativePathProblem(path: string): string | null {
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `the path is longer than ${MAX_PATH_BYTES} bytes`;
  const components = path.split('/');
  if (components.length > MAX_PATH_COMPONENTS) return `the path is more than ${MAX_PATH_COMPONENTS} levels deep`;
  for (const component of components) {
    const problem = fileNameProblem(component);
    if (problem) return components.length === 1 ? problem : `${JSON.stringify(component)} in the path: ${problem}`;
  }
  return null;
}

/** The path a receiver stores `path` under: each component in NFC (fileName()), or why it may not be one. */
export function relativePath(path: string): { name: string } | { problem: string } {
  const problem = relativePathProblem(path);
  if (problem) return { problem };
  const components: string[] = [];
  for (const component of path.split('/')) {
    const checked = fileName(component);
    if ('problem' in checked) return checked;
    components.push(checked.name);
  }
  return { name: components.join('/') };
}

/**
 * The key two names of one directory share exactly when they are one file there: the NFC name,
 * case-folded where the file system folds case. Busy names and part-file owners are keyed by it.
 */
export function nameKey(name: string, foldsCase: boolean): string {
  return foldsCase ? name.toUpperCase().toLowerCase() : name;
}

const caseFolding = new Map<string, Promise<boolean>>();

/**
 * Whether the file system under `dir` folds case (macOS and Windows by default, some mounts on
 * Linux): learnt once per directory by creating a lower-case probe file and looking for it in
 * upper case. If the probe cannot be made, it answers true: folding too much only makes two names
 * that differ in case wait for each other, folding too little would let them share one file.
 */
export function foldsCase(dir: string): Promise<boolean> {
  let known = caseFolding.get(dir);
  if (!known) {
    known = probeCaseFolding(dir);
    caseFolding.set(dir, known);
  }
  return known;
}

async function probeCaseFolding(dir: string): Promise<boolean> {
  // Ends in .part: no client can name a file so, so the probe never meets an upload.
  const base = `.bittrrt-case-${randomBytes(6).toString('hex')}${PART_SUFFIX}`;
  const probe = join(dir, base);
  try {
    await (await open(probe, 'wx', 0o600)).close();
  } catch {
    return true;
  }
  try {
    await stat(join(dir, base.toUpperCase()));
    return true;
  } catch {
    return false;
  } finally {
    await unlink(probe).catch(() => undefined);
  }
}

/** The last component of a path on the server (`photos/a.jpg` lands locally as `a.jpg`). */
export function lastComponent(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}
