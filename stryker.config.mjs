// Mutation testing of the security-critical modules against their fast unit tests (issue 17).
// `npm run mutate` runs all of them; `npm run mutate -- --mutate lib/net/cookie.ts` runs one module.
// Scores and the survivors judged equivalent: binding-notes.md, "Mutation testing".

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'mocha',
  checkers: ['typescript'],
  // The type checker only needs what it mutates (lib/): checking the tests too made each mutant cost seconds.
  tsconfigFile: 'tsconfig.stryker.json',
  // The tests run compiled (dist/), as `npm test` runs them: each sandbox is built once, and
  // mutants are switched on at run time.
  buildCommand: 'tsc -p tsconfig.json',
  coverageAnalysis: 'perTest',
  // This machine, and CI's, have 2 cores.
  concurrency: 2,
  mutate: [
    'lib/protocol/**/*.ts',
    'lib/crypto/**/*.ts',
    'lib/net/responder.ts',
    'lib/net/cookie.ts',
    'lib/net/rate-limit.ts',
    'lib/net/keypair.ts',
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
      'dist/test/net/keypair*.test.js',
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
