import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // stryker.config.mjs is plain JavaScript outside the TypeScript project (it carries @ts-check).
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.cache/', 'stryker.config.mjs', 'bench/collect-garbage-on-signal.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
