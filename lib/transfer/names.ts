import { MAX_FILE_NAME_BYTES, PART_SUFFIX } from '../constants.js';
import { UNPRINTABLE } from '../encoding.js';

/**
 * Why `name` may not name a file in a transfer directory, or null if it may. A name is one path
 * component: no separators, no NUL or other control characters (C0, C1, bidirectional
 * overrides), not `.` or `..`, not a part file.
 * Both sides check; the receiver's check is the one that protects its disk.
 */
export function fileNameProblem(name: string): string | null {
  if (name.length === 0) return 'the name is empty';
  if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) return `the name is longer than ${MAX_FILE_NAME_BYTES} bytes`;
  if (name === '.' || name === '..') return `"${name}" is not a file name`;
  if (/[/\\]/.test(name)) return 'the name contains a path separator';
  if (UNPRINTABLE.test(name)) return 'the name contains a control character';
  if (name.endsWith(PART_SUFFIX)) return `names ending in ${PART_SUFFIX} are reserved for partial files`;
  return null;
}
