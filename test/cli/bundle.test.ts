import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packagePath } from '../../lib/package-root.js';
import { tempDir } from '../helpers/tmp.js';

const BUNDLE = packagePath('dist', 'lib', 'cli.bundle.cjs');
const CACHE = packagePath('dist', 'lib', 'cli.bundle.cache');

/**
 * Loads the bundle as bin/bittrrt does, in a fresh Node as bin/bittrrt runs: this process is no
 * good for it, since V8 rejects a cache made under other flags (a test file here turns on
 * --expose-gc) and a source it compiled once already comes from its own in-memory cache.
 */
function loadInChild(cache: string): { rejected: boolean | null; main: string } {
  const script = `
    const { loadBundle } = await import(${JSON.stringify(pathToFileURL(packagePath('bin', 'bundle-loader.cjs')).href)});
    const { exports, script } = loadBundle(${JSON.stringify(BUNDLE)}, ${JSON.stringify(cache)});
    console.log(JSON.stringify({ rejected: script.cachedDataRejected ?? null, main: typeof exports.main }));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { rejected: boolean | null; main: string };
}

describe('bin/bittrrt: the bundled command and its code cache', function () {
  // A checkout built without esbuild runs its modules; `npm install` here always bundles.
  before(function () {
    if (!existsSync(BUNDLE)) throw new Error(`no ${BUNDLE}: run npm run build (with its dev dependencies)`);
  });

  it('the build\'s code cache fits the bundle: V8 takes it, and the bundle exports the command', () => {
    expect(existsSync(CACHE)).to.equal(true);
    expect(loadInChild(CACHE)).to.deep.equal({ rejected: false, main: 'function' });
  });

  it('a cache that does not fit is rejected, and the bundle still loads; none at all, the same', () => {
    const dir = tempDir('bundle-cache');
    const bogus = join(dir, 'bogus.cache');
    writeFileSync(bogus, randomBytes(4096));
    expect(loadInChild(bogus)).to.deep.equal({ rejected: true, main: 'function' });
    expect(loadInChild(join(dir, 'missing.cache'))).to.deep.equal({ rejected: null, main: 'function' });
  });
});
