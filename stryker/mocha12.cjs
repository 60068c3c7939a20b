// Lets @stryker-mutator/mocha-runner 9 (the last Stryker for Node 20) drive mocha 12, whose CLI
// helpers it loads by path without an extension: mocha 12 renamed them from .js to .cjs.
// Loaded with `node --require` into Stryker and its test runners (npm run mutate); it changes
// nothing else. Remove it when the project moves to Node 22 and Stryker 10.
'use strict';
const Module = require('node:module');
const path = require('node:path');

const cliDir = `${path.sep}node_modules${path.sep}mocha${path.sep}lib${path.sep}cli${path.sep}`;
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  try {
    return resolve.call(this, request, ...rest);
  } catch (err) {
    if (path.isAbsolute(request) && request.includes(cliDir) && path.extname(request) === '') {
      return resolve.call(this, `${request}.cjs`, ...rest);
    }
    throw err;
  }
};
