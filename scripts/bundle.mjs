#!/usr/bin/env node
// Bundles the CLI (dist/lib/cli/main.js and everything it imports, clipanion and @noble included)
// into one file, dist/lib/cli.bundle.js, after tsc has compiled it. Node resolves, reads and
// compiles each ES module on its own, and `bittrrt --help` alone reads 154 of them:
// a 1 MiB `--send` on loopback took 0.70 s from process start to exit as modules and 0.48 s
// bundled (measured side by side on this 2-core machine). bin/bittrrt runs the bundle when it is at least as new as
// the compiled modules, else the modules, so a tsc-only rebuild is never shadowed by a stale bundle.
// Native packages (sodium-native, node-gyp-build) stay outside, loaded from node_modules as before.
// Without esbuild (an install without dev dependencies) nothing is bundled and the modules run.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.log('bittrrt: esbuild is not installed; the CLI runs from its modules (a slower start)');
  process.exit(0);
}

await esbuild.build({
  entryPoints: [join(root, 'dist', 'lib', 'cli', 'main.js')],
  outfile: join(root, 'dist', 'lib', 'cli.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['sodium-native', 'node-gyp-build'],
  // clipanion is CommonJS and requires Node's built-ins; an ES module has no `require` of its own.
  banner: { js: "import { createRequire as bundleRequire } from 'node:module'; const require = bundleRequire(import.meta.url);" },
  logLevel: 'warning',
});
