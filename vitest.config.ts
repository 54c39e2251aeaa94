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
  },
});
