import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ for the tests that run the real binary (crash and CLI tests).
    globalSetup: ['test/support/build.ts'],
    // Inspects every workspace container made while an integration file runs for binds in protected paths.
    setupFiles: ['test/support/mount-sweep.ts'],
    // Integration tests share one dockerd; 2 cores. Files run in parallel, tests inside a file in order.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Line coverage of the unit run (`--coverage`: npm run test:unit, scripts/test.sh's unit stage). Each folder
    // has a floor a little below what the unit tests reach (test/README.md); a run below one fails.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', ['json-summary', { file: 'coverage-summary.json' }]],
      reportsDirectory: '.cache/coverage',
      thresholds: {
        'src/*.ts': { lines: 60 },
        'src/api/**': { lines: 94 },
        'src/config/**': { lines: 97 },
        'src/container/**': { lines: 97 },
        'src/daemon/**': { lines: 52 },
        'src/engine/**': { lines: 42 },
        'src/gpu/**': { lines: 97 },
        'src/host/**': { lines: 82 },
        'src/image/**': { lines: 78 },
        'src/lifecycle/**': { lines: 94 },
        'src/preflight/**': { lines: 90 },
        'src/spec/**': { lines: 94 },
      },
    },
  },
});
