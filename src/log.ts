/** The daemon's logger: JSON lines on stdout, pretty-printed on a TTY. Secret-bearing fields are censored. */
import { pino, type Logger } from 'pino';

/** Paths that may carry secrets if an object holding them is ever logged. */
export const REDACT_PATHS = [
  'pullAuth',
  '*.pullAuth',
  '*.*.pullAuth',
  'bootstrap',
  '*.bootstrap',
  '*.*.bootstrap',
  'env',
  '*.env',
  '*.*.env',
  'bootPullSecret',
  '*.bootPullSecret',
  'req.headers.authorization',
];

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  const pretty = destination === process.stdout && process.stdout.isTTY;
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
  if (pretty) return pino({ ...options, transport: { target: 'pino-pretty', options: { destination: 1 } } });
  return pino(options, destination);
}
