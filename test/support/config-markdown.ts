/** docs/configuration.md's option and envbox tables, generated from the option and envbox tables so that they cannot drift. */
import { ENVBOX_VARIABLES } from '../../src/config/envbox.js';
import { OPTION_KEYS, OPTIONS } from '../../src/config/options.js';

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function code(text: string): string {
  return `\`${cell(text)}\``;
}

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

/** One row per option: flag, variable, --config key, default, meaning. */
export function optionsMarkdown(): string {
  return markdownTable(
    ['flag', 'variable', 'file key', 'default', 'meaning'],
    OPTION_KEYS.map((key) => {
      const o = OPTIONS[key];
      const fallback = o.default === undefined ? cell(o.defaultNote ?? '') : code(o.default);
      return [code(`${o.flag} ${o.metavar}`), code(o.env), o.inFile === false ? '—' : code(key), fallback, cell(o.help)];
    }),
  );
}

export function envboxMarkdown(): string {
  return markdownTable(['variable', 'meaning'], ENVBOX_VARIABLES.map((v) => [code(v.name), cell(v.help)]));
}
