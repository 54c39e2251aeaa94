import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TokenFile, TokenUnreadableError } from '../../../src/api/auth.js';

const silent = pino({ level: 'silent' });

async function tokenFile(content: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'cvm-token-')), 'token');
  await writeFile(path, content);
  return path;
}

describe('TokenFile', () => {
  it('accepts exactly the token, trimmed, and nothing shorter, longer or malformed', async () => {
    const auth = new TokenFile(await tokenFile('s3cret-token\n'), silent);
    try {
      expect(auth.accepts('Bearer s3cret-token')).toBe(true);
      expect(auth.accepts('bearer s3cret-token')).toBe(true);
      for (const header of [undefined, '', 'Bearer', 'Bearer s3cret', 'Bearer s3cret-token-and-more', 'Basic s3cret-token', 's3cret-token', 'Bearer s3cret-token extra']) {
        expect(auth.accepts(header), String(header)).toBe(false);
      }
    } finally {
      auth.close();
    }
  });

  it('takes a rotated token on reload and keeps the old one when the file breaks', async () => {
    const path = await tokenFile('first');
    const auth = new TokenFile(path, silent);
    try {
      await writeFile(path, 'second');
      auth.reload();
      expect(auth.accepts('Bearer second')).toBe(true);
      expect(auth.accepts('Bearer first')).toBe(false);
      await writeFile(path, '   ');
      auth.reload();
      expect(auth.accepts('Bearer second')).toBe(true);
    } finally {
      auth.close();
    }
  });

  it('refuses to start from a missing or empty file', async () => {
    expect(() => new TokenFile('/nonexistent/token', silent)).toThrow(TokenUnreadableError);
    const empty = await tokenFile('\n');
    expect(() => new TokenFile(empty, silent)).toThrow(/empty/);
  });
});
