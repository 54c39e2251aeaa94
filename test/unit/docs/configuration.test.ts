/**
 * docs/configuration.md's option and envbox tables are generated from src/config/options.ts and envbox.ts. This test
 * fails when they differ; `UPDATE_DOCS=1 npx vitest run test/unit/docs/configuration.test.ts` rewrites them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { OPTION_KEYS, OPTIONS } from '../../../src/config/options.js';
import { envboxMarkdown, optionsMarkdown } from '../../support/config-markdown.js';

const docPath = new URL('../../../docs/configuration.md', import.meta.url);

function between(text: string, name: string): { start: number; end: number } {
  const begin = `<!-- generated:${name} begin -->\n`;
  const finish = `\n<!-- generated:${name} end -->`;
  const start = text.indexOf(begin);
  const end = text.indexOf(finish);
  if (start < 0 || end < start) throw new Error(`docs/configuration.md lacks the markers ${begin.trim()} … ${finish.trim()}`);
  return { start: start + begin.length, end };
}

async function docWith(generated: Record<string, string>): Promise<{ current: string; expected: string }> {
  const current = await readFile(docPath, 'utf8');
  let expected = current;
  for (const [name, table] of Object.entries(generated)) {
    const { start, end } = between(expected, name);
    expected = expected.slice(0, start) + table + expected.slice(end);
  }
  return { current, expected };
}

describe('docs/configuration.md tables', () => {
  it('match the option and envbox tables', async () => {
    const { current, expected } = await docWith({ options: optionsMarkdown(), envbox: envboxMarkdown() });
    if (process.env['UPDATE_DOCS'] === '1' && current !== expected) await writeFile(docPath, expected);
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
