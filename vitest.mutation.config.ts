import { defineConfig } from 'vitest/config';

/** The unit tests as StrykerJS runs them (stryker.config.mjs): no dist/ build, no engine, no coverage. */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 60_000,
    // Test files share one module graph instead of re-importing it per file: Stryker switches mutants at run
    // time, so no module needs a reload. The dry run takes 29 s instead of 85 s and a mutant 2.4 s instead of
    // 4.1 s, with the same result on src/gpu/{refusals,capabilities}.ts.
    isolate: false,
  },
});
