#!/usr/bin/env node
// Bundles the CLI (dist/lib/cli/main.js and everything it imports, clipanion and @noble included)
// into one file, dist/lib/cli.bundle.cjs, after tsc has compiled it. Node resolves, reads and
// compiles each ES module on its own, and `bittrrt --help` alone reads 154 of them:
// a 1 MiB `--send` on loopback took 0.70 s from process start to exit as modules and 0.48 s
// bundled (measured side by side on this 2-core machine). bin/bittrrt runs the bundle when it is at least as new as
// the compiled modules, else the modules, so a tsc-only rebuild is never shadowed by a stale bundle.
// Native packages (sodium-native, node-gyp-build) stay outside, loaded from node_modules as before.
// Without esbuild (an install without dev dependencies) nothing is bundled and the modules run.
//
// The bundle is a CommonJS script, not an ES module, so that bin/bittrrt can compile it with V8's
// code cache (vm.Script's cachedData), which Node 20 offers for scripts only: the cache is written
// here, after a run of `--help` in a child process of the same Node, and spares each command the
// parse of 0.6 MB of JavaScript. A cache that does not fit (another Node, other V8 flags, a bundle
// rebuilt since) is rejected by V8, and the bundle is then compiled as if there were none.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'lib', 'cli.bundle.cjs');
const cache = join(root, 'dist', 'lib', 'cli.bundle.cache');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.log('bittrrt: esbuild is not installed; the CLI runs from its modules (a slower start)');
  process.exit(0);
}

rmSync(cache, { force: true });
// Earlier builds bundled an ES module; bin/bittrrt no longer reads it.
rmSync(join(root, 'dist', 'lib', 'cli.bundle.js'), { force: true });
await esbuild.build({
  entryPoints: [join(root, 'dist', 'lib', 'cli', 'main.js')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['sodium-native', 'node-gyp-build'],
  // The modules find the package from their own URL (lib/package-root.ts); in the script it is the bundle's.
  define: { 'import.meta.url': 'bundleUrl' },
  banner: { js: "const bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

// The cache is made after a run of `--help`, so it holds what that run compiled (the command
// table, the parser) as well as the top level; in a child, whose output nobody needs.
const loader = join(root, 'bin', 'bundle-loader.cjs');
const makeCache = `
  import { writeFileSync } from 'node:fs';
  const { loadBundle } = await import(${JSON.stringify(pathToFileURL(loader).href)});
  const { exports, script } = loadBundle(${JSON.stringify(bundle)});
  process.once('exit', () => writeFileSync(${JSON.stringify(cache)}, script.createCachedData()));
  await exports.main(['--help']);
`;
try {
  execFileSync(process.execPath, ['--input-type=module', '-e', makeCache], { stdio: 'ignore', timeout: 60_000 });
} catch (err) {
  rmSync(cache, { force: true });
  console.log(`bittrrt: no code cache for the CLI (${err.message.split('\n')[0]}); it starts a little slower`);
}
