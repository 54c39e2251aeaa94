/** The daemon's logger: JSON lines on stdout, pretty-printed on a TTY. Secret-bearing fields are censored. */
import { pino, type Logger } from 'pino';

/**
 * Paths that may carry secrets if an object holding them is ever logged, to depth 5 (pino has no recursive
 * wildcard; a workspace spec's env sits at depth 4 in `{config: {bootWorkspace: {spec: {env}}}}`).
 */
const SECRET_FIELDS = ['pullAuth', 'bootstrap', 'env', 'bootPullSecret', 'dockerConfigJson'];
const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((field) => [0, 1, 2, 3, 4].map((depth) => [...Array<string>(depth).fill('*'), field].join('.'))),
  'req.headers.authorization',
];

const REDACTED = '[redacted]';

/** An env object keeps its names, so that the log still says what was passed; anything else goes whole. */
function censor(value: unknown, path: string[]): unknown {
  if (path.at(-1) === 'env' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.fromEntries(Object.keys(value).map((name) => [name, REDACTED]));
  }
  return REDACTED;
}

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  const pretty = destination === process.stdout && process.stdout.isTTY;
  const options = { level, redact: { paths: REDACT_PATHS, censor }, base: { pid: process.pid } };
  if (pretty) return pino({ ...options, transport: { target: 'pino-pretty', options: { destination: 1 } } });
  return pino(options, destination);
}
