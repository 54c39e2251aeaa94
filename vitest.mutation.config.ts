import { defineConfig } from 'vitest/config';

/** The unit tests as StrykerJS runs them (stryker.config.mjs): no dist/ build, no engine, no coverage. */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
