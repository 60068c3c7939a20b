import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root directory (package.json, bin/, build/Release/, dist/). Found from this
 * module's own place, dist/lib/: the CLI's bundle (dist/lib/cli.bundle.cjs, scripts/bundle.mjs)
 * sits at the same depth, so the one path holds whether the code runs as modules or bundled.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A path inside the package. */
export const packagePath = (...parts: string[]): string => join(PACKAGE_ROOT, ...parts);
