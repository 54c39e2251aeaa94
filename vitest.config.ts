import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ for the tests that run the real binary (crash and CLI tests).
    globalSetup: ['test/support/build.ts'],
    // Integration tests share one dockerd; 2 cores. Files run in parallel, tests inside a file in order.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 300_000,
  },
});
