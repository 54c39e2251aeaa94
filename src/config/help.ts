/** The --help text, generated from the option and envbox tables so that it cannot drift from the loader. */
import { ENVBOX_VARIABLES } from './envbox.js';
import { OPTION_KEYS, OPTIONS } from './options.js';

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
}

export function helpText(): string {
  const flagRows = OPTION_KEYS.map((key) => {
    const o = OPTIONS[key];
    const fallback = o.default ?? o.defaultNote;
    return [`${o.flag} ${o.metavar}`, o.env, `${o.help}${fallback === undefined ? '' : ` (default: ${fallback})`}`];
  });
  return [
    'Usage:',
    '  cvm-supervisor serve [flags]       run the daemon',
    '  cvm-supervisor preflight [--json]  check this machine; exit 0 when no check fails, 1 when one fails, 2 bad usage',
    '  cvm-supervisor --version | --help',
    '',
    'Flags (each also read from the environment variable shown). Precedence: flag > environment > --config file > default.',
    'Write --name VALUE or --name=VALUE. Booleans take true or false, nothing else. An empty variable counts as unset.',
    'In the --config file, values are written as on the command line, except that booleans are JSON booleans,',
    'shutdownGrace is a JSON number and allowedMountRoots an array of paths (an empty array is allowed there).',
    ...table(flagRows),
    '',
    "envbox variables. When CODER_INNER_IMAGE is set they declare one workspace at boot, with id --boot-workspace-id.",
    'A value that does not parse is an error. CODER_INNER_ENVS never copies CODER_INNER_*, CVM_*, DOCKER_HOST or the',
    'variables below. CODER_MEMORY suffixes: k M G T are powers of 1000, Ki Mi Gi Ti powers of 1024.',
    ...table(ENVBOX_VARIABLES.map((v) => [v.name, v.help])),
    '',
    'A bad flag or value exits 2 with one line on stderr naming the flag, the value and what is allowed.',
  ].join('\n');
}
