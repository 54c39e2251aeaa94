/**
 * The README's configuration tables are generated from src/config/options.ts and envbox.ts. This test fails when
 * they differ; `UPDATE_README=1 npx vitest run test/unit/docs/readme.test.ts` rewrites them. The metric and
 * reason-code tables are written by hand; the tests check that they list every metric and code.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { OPTION_KEYS, OPTIONS } from '../../../src/config/options.js';
import { FAILURE_REASONS } from '../../../src/errors.js';
import { Metrics } from '../../../src/metrics.js';
import { envboxMarkdown, optionsMarkdown } from '../../support/config-markdown.js';

const readmePath = new URL('../../../README.md', import.meta.url);

function between(text: string, name: string): { start: number; end: number } {
  const begin = `<!-- generated:${name} begin -->\n`;
  const finish = `\n<!-- generated:${name} end -->`;
  const start = text.indexOf(begin);
  const end = text.indexOf(finish);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${begin.trim()} … ${finish.trim()}`);
  return { start: start + begin.length, end };
}

async function readmeWith(generated: Record<string, string>): Promise<{ current: string; expected: string }> {
  const current = await readFile(readmePath, 'utf8');
  let expected = current;
  for (const [name, table] of Object.entries(generated)) {
    const { start, end } = between(expected, name);
    expected = expected.slice(0, start) + table + expected.slice(end);
  }
  return { current, expected };
}

describe('README.md configuration tables', () => {
  it('match the option and envbox tables', async () => {
    const { current, expected } = await readmeWith({ options: optionsMarkdown(), envbox: envboxMarkdown() });
    if (process.env['UPDATE_README'] === '1' && current !== expected) await writeFile(readmePath, expected);
    else expect(current).toBe(expected);
  });

  it('list every flag and variable exactly once', () => {
    const table = optionsMarkdown();
    for (const key of OPTION_KEYS) {
      expect(table.split(`\`${OPTIONS[key].flag} `)).toHaveLength(2);
      expect(table).toContain(`| \`${OPTIONS[key].env}\` |`);
    }
    expect(table.split('\n')).toHaveLength(OPTION_KEYS.length + 2);
  });
});

describe('README.md reference tables', () => {
  it('explains every failure reason code in Troubleshooting', async () => {
    const readme = await readFile(readmePath, 'utf8');
    const section = readme.slice(readme.indexOf('## Troubleshooting'), readme.indexOf('\n## ', readme.indexOf('## Troubleshooting') + 1));
    const listed = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(listed).toEqual([...FAILURE_REASONS]);
  });

  it('lists every metric of the daemon\'s own in Metrics', async () => {
    const readme = await readFile(readmePath, 'utf8');
    const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('\n## ', readme.indexOf('## Metrics') + 1));
    const listed = [...section.matchAll(/^\| `(cvm_supervisor_\w+)/gm)].map((m) => m[1]);
    const metrics = new Metrics('0.0.0-test', () => []);
    const own = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name).filter((name) => name.startsWith('cvm_supervisor_'));
    expect(listed.sort()).toEqual(own.sort());
  });
});
