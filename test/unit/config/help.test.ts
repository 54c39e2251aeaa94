import { describe, expect, it } from 'vitest';
import { ENVBOX_VARIABLES } from '../../../src/config/envbox.js';
import { helpText } from '../../../src/config/help.js';
import { OPTION_KEYS, OPTIONS } from '../../../src/config/options.js';

describe('helpText', () => {
  const lines = helpText().split('\n');

  it('lists the subcommands', () => {
    for (const usage of ['cvm-supervisor serve', 'cvm-supervisor preflight [--json]', 'cvm-supervisor --version | --help']) {
      expect(lines.some((line) => line.includes(usage))).toBe(true);
    }
  });

  it.each(OPTION_KEYS)('lists %s with its flag, variable and default on one line', (key) => {
    const o = OPTIONS[key];
    const line = lines.find((l) => l.trimStart().startsWith(`${o.flag} ${o.metavar} `));
    expect(line).toBeDefined();
    expect(line).toContain(` ${o.env} `);
    const fallback = o.default ?? o.defaultNote;
    if (fallback !== undefined) expect(line).toContain(`(default: ${fallback})`);
  });

  it.each(ENVBOX_VARIABLES.map((v) => v.name))('lists the envbox variable %s', (name) => {
    expect(lines.some((line) => line.trimStart().startsWith(`${name} `))).toBe(true);
  });
});
