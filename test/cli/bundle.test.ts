import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Script } from 'node:vm';
import { packagePath } from '../../lib/package-root.js';
import { tempDir } from '../helpers/tmp.js';

type LoadBundle = (bundle: string, cache: string) => { exports: { main?: unknown }; script: Script };

const BUNDLE = packagePath('dist', 'lib', 'cli.bundle.cjs');
const CACHE = packagePath('dist', 'lib', 'cli.bundle.cache');

async function loader(): Promise<LoadBundle> {
  const module = (await import(pathToFileURL(packagePath('bin', 'bundle-loader.mjs')).href)) as { loadBundle: LoadBundle };
  return module.loadBundle;
}

describe('bin/bittrrt: the bundled command and its code cache', function () {
  // A checkout built without esbuild runs its modules; `npm install` here always bundles.
  before(function () {
    if (!existsSync(BUNDLE)) throw new Error(`no ${BUNDLE}: run npm run build (with its dev dependencies)`);
  });

  it('the build\'s code cache fits the bundle: V8 takes it, and the bundle exports the command', async () => {
    const { exports, script } = (await loader())(BUNDLE, CACHE);
    expect(existsSync(CACHE)).to.equal(true);
    expect(script.cachedDataRejected).to.equal(false);
    expect(exports.main).to.be.a('function');
  });

  it('a cache that does not fit is rejected, and the bundle still loads; none at all, the same', async () => {
    const bogus = join(tempDir('bundle-cache'), 'bogus.cache');
    writeFileSync(bogus, randomBytes(4096));
    const load = await loader();
    const rejected = load(BUNDLE, bogus);
    expect(rejected.script.cachedDataRejected).to.equal(true);
    expect(rejected.exports.main).to.be.a('function');
    const none = load(BUNDLE, join(tempDir('bundle-cache'), 'missing.cache'));
    expect(none.script.cachedDataRejected).to.equal(undefined);
    expect(none.exports.main).to.be.a('function');
  });
});
