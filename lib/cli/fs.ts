import { statSync } from 'node:fs';

/** Whether `path` names an existing directory (following links, as the user meant it). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
