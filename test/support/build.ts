/**
 * vitest globalSetup: builds dist/ once (unless scripts/test.sh just did), for tests that run the real `cvm-supervisor` binary, and records which CVM
 * runtime the engine has (.cache/cvm-runtime.txt), which scripts/test.sh prints in its summary.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { detectCvmRuntime } from './cvm-runtime.js';

export default async function setup(): Promise<void> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  // scripts/test.sh builds dist/ once as a stage of its own before its two vitest runs, and says so.
  if (process.env['CVM_TEST_DIST_BUILT'] !== '1') {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  }
  mkdirSync(`${root}/.cache`, { recursive: true });
  writeFileSync(`${root}/.cache/cvm-runtime.txt`, `${(await detectCvmRuntime()).description}\n`);
}
