// @ts-check
/**
 * Mutation testing of the pure modules and the lifecycle against the unit tests: `npm run test:mutation`. Not part
 * of `npm test` (too slow for CI on 2 cores). Scores per folder are kept in test/README.md. `MUTATE` (a
 * comma-separated list of globs) narrows a run, e.g. `MUTATE=src/lifecycle/phase.ts npm run test:mutation`.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // A static mutant (one in module-level data, such as phase.ts's tables) reruns the whole unit suite, about a
  // minute each on this machine; they are left out (reported as ignored) so that a run fits in the time.
  ignoreStatic: true,
  mutate: process.env.MUTATE?.split(',') ?? [
    'src/spec/**/*.ts',
    'src/lifecycle/**/*.ts',
    'src/container/**/*.ts',
    'src/image/**/*.ts',
    'src/gpu/**/*.ts',
    'src/config/**/*.ts',
    'src/api/routes/events.ts',
  ],
  // The machine is shared: one test runner at a time.
  concurrency: 1,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: '.cache/mutation/mutation.html' },
  jsonReporter: { fileName: '.cache/mutation/mutation.json' },
  // In place, not in a copy: a copy turns test/fixtures' symlinks (the GPU driver trees) into files. Stryker
  // restores src/ when it ends; do not edit src/ while it runs.
  inPlace: true,
  // Only the mutated files change (vitest does not type-check); by default every file would get a @ts-nocheck.
  disableTypeChecks: false,
  tempDirName: '.cache/stryker-tmp',
  incremental: false,
  cleanTempDir: true,
};
