#!/usr/bin/env node
// Builds the native datagram addon (native/io.c) at install, offline: node-gyp against the running
// Node's own headers, never a download. A build that cannot happen or fails prints one line and
// leaves the install working: bittrrt then runs on node:dgram.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const skip = (why) => {
  console.log(`bittrrt: native datagram I/O not built (${why}); node:dgram will be used`);
  process.exit(0);
};

if (process.env.BITTRRT_IO === 'dgram') skip('BITTRRT_IO=dgram');
if (process.platform !== 'linux') skip(`it needs Linux, this is ${process.platform}`);
const nodedir = dirname(dirname(process.execPath));
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) skip(`no Node headers under ${nodedir}/include/node`);

/** npm's own node-gyp (npm sets npm_config_node_gyp for lifecycle scripts), else one beside npm. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package of our own
  }
  candidates.push(join(nodedir, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((path) => path && existsSync(path));
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) skip('node-gyp not found');
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`], {
  cwd: root, encoding: 'utf8', env: { ...process.env, npm_config_nodedir: nodedir },
});
if (result.status !== 0) {
  const output = `${result.stderr ?? ''}\n${result.stdout ?? ''}`;
  const lines = output.split('\n');
  // The usual causes, said plainly; otherwise the compiler's or node-gyp's first error line.
  const reason = /gyp ERR! find Python/.test(output) ? 'no Python 3 for node-gyp'
    : /\b(gcc|cc|make): (not found|not installed)|spawn (make|cc|gcc) ENOENT|`make` failed with exit code: 127/.test(output) ? 'no C compiler or make'
      : lines.find((line) => /error/i.test(line) && !/^gyp (info|ERR! (stack|System|command|cwd|node|not ok|configure error|build error))/.test(line))
        ?? `node-gyp exited with ${result.status}`;
  skip(`the build failed: ${reason.trim().slice(0, 160)}`);
}
console.log('bittrrt: native datagram I/O built (recvmmsg/sendmmsg with UDP GSO/GRO, batch ChaCha20-Poly1305)');
