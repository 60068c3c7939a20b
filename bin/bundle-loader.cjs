'use strict';
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

/**
 * Runs the CLI's bundle (scripts/bundle.mjs) as Node runs a CommonJS module, compiled with V8's
 * code cache from the file `cache` (if given and there) when V8 accepts it: made by the same Node
 * from the same bundle. A cache that does not fit is rejected and the bundle compiled as if there
 * were none. Returns the bundle's exports and its script (scripts/bundle.mjs makes the cache from
 * it after a run).
 */
function loadBundle(bundle, cache) {
  let cachedData;
  try {
    cachedData = cache === undefined ? undefined : readFileSync(cache);
  } catch {
    cachedData = undefined;
  }
  const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`;
  const script = new Script(source, { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return { exports: module.exports, script };
}

module.exports = { loadBundle };
