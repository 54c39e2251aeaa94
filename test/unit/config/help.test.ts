import { beforeEach, describe, expect, it } from 'vitest';
import { ENVBOX_VARIABLES } from '../../../src/config/envbox.js';
import { helpText } from '../../../src/config/help.js';
import { OPTION_KEYS, OPTIONS } from '../../../src/config/options.js';

// Built in beforeEach, not while the file is collected: Stryker counts only what runs inside a test as covered.
let lines: string[] = [];
beforeEach(() => {
  lines = helpText().split('\n');
});

describe('helpText', () => {
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

describe('helpText: layout and rules', () => {
  const flagLine = (key: (typeof OPTION_KEYS)[number]) => lines.find((l) => l.startsWith(`  ${OPTIONS[key].flag} ${OPTIONS[key].metavar} `)) ?? '';
  const envboxLine = (name: string) => lines.find((l) => l.startsWith(`  ${name} `)) ?? '';

  it('aligns each table in columns two spaces apart, indented by two, with no trailing blanks', () => {
    const envColumns = new Set(OPTION_KEYS.map((key) => flagLine(key).indexOf(` ${OPTIONS[key].env} `)));
    expect(envColumns.size).toBe(1);
    const longestFlag = Math.max(...OPTION_KEYS.map((key) => `${OPTIONS[key].flag} ${OPTIONS[key].metavar}`.length));
    expect([...envColumns][0]).toBe(2 + longestFlag + 1);
    const helpColumns = new Set(ENVBOX_VARIABLES.map((v) => envboxLine(v.name).indexOf(v.help)));
    expect(helpColumns.size).toBe(1);
    expect([...helpColumns][0]).toBe(2 + Math.max(...ENVBOX_VARIABLES.map((v) => v.name.length)) + 2);
    for (const line of lines) expect(line, line).toBe(line.trimEnd());
  });

  it('gives a default only for the options that have one', () => {
    for (const key of OPTION_KEYS) {
      const o = OPTIONS[key];
      const fallback = o.default ?? o.defaultNote;
      expect(flagLine(key).endsWith(fallback === undefined ? o.help : `${o.help} (default: ${fallback})`), key).toBe(true);
    }
  });

  it('states the rules the loader applies, each section after a blank line', () => {
    expect(lines[0]).toBe('Usage:');
    for (const rule of [
      'Precedence: flag > environment > --config file > default.',
      'Write --name VALUE or --name=VALUE. Booleans take true or false, nothing else. An empty variable counts as unset.',
      'booleans are JSON booleans,',
      'shutdownGrace is a JSON number and allowedMountRoots an array of paths',
      'When CODER_INNER_IMAGE is set they declare one workspace at boot',
      'CODER_INNER_ENVS never copies CODER_INNER_*, CVM_*, DOCKER_HOST',
      'k M G T are powers of 1000, Ki Mi Gi Ti powers of 1024.',
      'A bad flag or value exits 2 with one line on stderr naming the flag, the value and what is allowed.',
    ]) {
      expect(lines.some((line) => line.includes(rule)), rule).toBe(true);
    }
    for (const heading of ['Flags (each also read', 'envbox variables.', 'A bad flag or value']) {
      const at = lines.findIndex((line) => line.startsWith(heading));
      expect(lines[at - 1], heading).toBe('');
    }
  });
});
