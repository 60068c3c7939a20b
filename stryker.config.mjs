// Mutation testing of the security-critical modules against their fast unit tests (issue 17).
// `npm run mutate` runs all of them; `npm run mutate -- --mutate lib/net/handshake/cookie.ts` runs one module.
// Scores and the survivors judged equivalent: binding-notes.md, "Mutation testing".

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'mocha',
  // The TypeScript checker (marks mutants that do not type-check as compile errors) costs about
  // 5 s a mutant on this shared 2-core machine, hours for all of them, so it is opt-in:
  // `npm run mutate -- --checkers typescript`. Without it such a mutant still runs (the build
  // ignores type errors in mutated files) and is killed or listed like any other.
  checkers: [],
  // What the checker type-checks when it is on: lib/ only (the tests too cost more per mutant).
  tsconfigFile: 'tsconfig.stryker.json',
  // The tests run compiled (dist/), as `npm test` runs them: each sandbox is built once, and
  // mutants are switched on at run time.
  buildCommand: 'tsc -p tsconfig.json',
  coverageAnalysis: 'perTest',
  // A static mutant (in code run when a module loads: constants, tables) needs a fresh process
  // and the whole test run each, here about 10-20 s apiece: 60 of them took longer than the
  // other 1,750 together. `npm run mutate -- --ignoreStatic false` includes them.
  ignoreStatic: true,
  // This machine, and CI's, have 2 cores.
  concurrency: 2,
  mutate: [
    'lib/protocol/**/*.ts',
    'lib/crypto/**/*.ts',
    'lib/net/handshake/key-agreement.ts',
    'lib/net/handshake/responder.ts',
    'lib/net/handshake/cookie.ts',
    'lib/net/handshake/rate-limit.ts',
    'lib/net/traffic-keys.ts',
    'lib/net/key-ring.ts',
    'lib/transfer/names.ts',
    'lib/transfer/files.ts',
  ],
  mochaOptions: {
    'no-config': true,
    spec: [
      'dist/test/protocol/*.test.js',
      'dist/test/crypto/*.test.js',
      'dist/test/net/cookie*.test.js',
      'dist/test/net/rate-limit*.test.js',
      'dist/test/net/traffic-keys*.test.js',
      'dist/test/net/key-ring*.test.js',
      'dist/test/net/rekey.test.js',
      'dist/test/net/responder*.test.js',
      'dist/test/transfer/names*.test.js',
      'dist/test/transfer/files*.test.js',
      'dist/test/text-filter.test.js',
    ],
    // Unit tests only: the loopback UDP tests in rate-limit.test run a whole server, on real time.
    grep: '^(?!per-host limits over loopback UDP)',
  },
  ignorePatterns: ['dist', 'reports', 'docs', 'examples', '.ci'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { logTests: false, allowEmojis: false },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
