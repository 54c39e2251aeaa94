/** The logger's own redaction: whatever object a log call is given, secret fields are censored, env keeps its names. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createLogger', () => {
  it('censors env values, scripts, pull secrets and the Authorization header at every depth up to 5, keeping env names', () => {
    const { stream, text } = capture();
    const logger = createLogger('info', stream);
    const spec = { image: 'x', env: { DATABASE_URL: 'secret-db-1' }, bootstrap: { script: 'secret-script-2' }, pullAuth: { dockerConfigJson: 'secret-pull-3' } };
    logger.info({ spec }, 'depth 2');
    logger.info({ config: { bootWorkspace: { spec } } }, 'depth 4');
    logger.info({ a: { b: { c: { d: { env: { DEEP: 'secret-deep-4' } } } } } }, 'depth 5');
    logger.info({ req: { headers: { authorization: 'Bearer secret-token-5' } } }, 'request');
    logger.info({ registry: { dockerConfigJson: 'secret-pull-6' } }, 'loose');
    const out = text();
    for (const secret of ['secret-db-1', 'secret-script-2', 'secret-pull-3', 'secret-deep-4', 'secret-token-5', 'secret-pull-6']) expect(out).not.toContain(secret);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect((lines[1] as { config: { bootWorkspace: { spec: { env: unknown } } } }).config.bootWorkspace.spec.env).toEqual({ DATABASE_URL: '[redacted]' });
    expect(out).toContain('DEEP');
  });
});
