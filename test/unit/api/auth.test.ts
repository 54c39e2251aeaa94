import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MIN_TOKEN_BYTES, TokenFile, tokenProblem, TokenUnreadableError } from '../../../src/api/auth.js';

const silent = pino({ level: 'silent' });
const FIRST = 'first-token-0123456789abcdef0123456789';
const SECOND = 'second-token-0123456789abcdef012345678';

async function tokenFile(content: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'cvm-token-')), 'token');
  await writeFile(path, content);
  return path;
}

/** A logger whose lines the test reads. */
function recordingLogger(): { logger: pino.Logger; lines: { level: number; msg: string; [key: string]: unknown }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

describe('tokenProblem: what may guard /v1', () => {
  it.each([
    ['', 'the file is empty'],
    ['a', 'shorter than 32 bytes'],
    ['x'.repeat(MIN_TOKEN_BYTES - 1), 'shorter than 32 bytes'],
    ['REPLACE-WITH-A-LONG-RANDOM-TOKEN', 'known placeholder'],
    ['replace-with-a-long-random-token', 'known placeholder'],
    ['changeme', 'known placeholder'],
    ['token', 'known placeholder'],
    ['a'.repeat(64), 'repeats one character'],
    [`${'ab'.repeat(16)} ${'cd'.repeat(16)}`, 'whitespace'],
  ])('refuses %j: %s', (token, why) => {
    expect(tokenProblem(token)).toContain(why);
  });

  it('never quotes the token, and says how to make a good one', () => {
    for (const token of ['short-secret-value', 'REPLACE-WITH-A-LONG-RANDOM-TOKEN', 'z'.repeat(40)]) {
      const problem = tokenProblem(token) ?? '';
      expect(problem).not.toContain(token);
      expect(problem.toLowerCase()).not.toContain(token.toLowerCase());
      expect(problem).toContain('openssl rand -hex 32');
    }
  });

  it('accepts 32 bytes and more: openssl rand -hex 32, base64url, and multi-byte text counted in bytes', () => {
    expect(tokenProblem('0123456789abcdef'.repeat(4))).toBeNull();
    expect(tokenProblem('x'.repeat(MIN_TOKEN_BYTES - 2) + 'yz')).toBeNull();
    expect(tokenProblem('éà'.repeat(8))).toBeNull(); // 16 characters, 32 bytes
    expect(tokenProblem('éà'.repeat(7) + 'é')).toContain('shorter than 32 bytes');
  });
});

describe('TokenFile', () => {
  it('accepts exactly the token, trimmed, and nothing shorter, longer or malformed', async () => {
    const auth = new TokenFile(await tokenFile(`${FIRST}\n`), silent);
    try {
      expect(auth.accepts(`Bearer ${FIRST}`)).toBe(true);
      expect(auth.accepts(`bearer ${FIRST}`)).toBe(true);
      for (const header of [undefined, '', 'Bearer', 'Bearer ', `Bearer ${FIRST.slice(0, -1)}`, `Bearer ${FIRST}x`, `Basic ${FIRST}`, FIRST, `Bearer ${FIRST} extra`,
        `Bearer ${FIRST}\u00a0`, `Bearer\u00a0${FIRST}`, `Bearer ${FIRST}\n`, `Bearer\n${FIRST}`]) {
        expect(auth.accepts(header), String(header)).toBe(false);
      }
    } finally {
      auth.close();
    }
  });

  it('refuses to start from a missing, empty, short or placeholder file, naming the problem and never the token', async () => {
    expect(() => new TokenFile('/nonexistent/token', silent)).toThrow(/the file is missing/);
    expect(() => new TokenFile('/nonexistent/token', silent)).toThrow(TokenUnreadableError);
    for (const [content, why] of [['\n', /empty/], ['one-char-short-secret\n', /shorter than 32 bytes/], ['REPLACE-WITH-A-LONG-RANDOM-TOKEN\n', /placeholder/]] as const) {
      const path = await tokenFile(content);
      let error: unknown;
      try {
        new TokenFile(path, silent).close();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(TokenUnreadableError);
      const message = (error as Error).message;
      expect(message).toMatch(why);
      if (content.trim() !== '') expect(message).not.toContain(content.trim());
      expect(message.split('\n')).toHaveLength(1);
    }
  });

  it('takes a rotated token on reload', async () => {
    const path = await tokenFile(FIRST);
    const auth = new TokenFile(path, silent);
    try {
      await writeFile(path, SECOND);
      auth.reload();
      expect(auth.accepts(`Bearer ${SECOND}`)).toBe(true);
      expect(auth.accepts(`Bearer ${FIRST}`)).toBe(false);
      expect(auth.revokedBecause()).toBeNull();
    } finally {
      auth.close();
    }
  });

  it.each([
    ['emptied', async (path: string) => { await writeFile(path, '   \n'); }, 'the file is empty'],
    ['deleted', async (path: string) => { await rm(path); }, 'the file is missing'],
    ['a short token', async (path: string) => { await writeFile(path, 'too-short'); }, 'shorter than 32 bytes'],
    ['the placeholder', async (path: string) => { await writeFile(path, 'REPLACE-WITH-A-LONG-RANDOM-TOKEN'); }, 'known placeholder'],
  ])('%s: revokes the token, denies everyone, logs an error; a good token brings /v1 back', async (_name, revoke, why) => {
    const path = await tokenFile(FIRST);
    const { logger, lines } = recordingLogger();
    const auth = new TokenFile(path, logger);
    try {
      await revoke(path);
      auth.reload();
      expect(auth.accepts(`Bearer ${FIRST}`)).toBe(false);
      expect(auth.accepts('Bearer ')).toBe(false);
      expect(auth.accepts(undefined)).toBe(false);
      expect(auth.accepts('Bearer REPLACE-WITH-A-LONG-RANDOM-TOKEN')).toBe(false);
      expect(auth.accepts('Bearer too-short')).toBe(false);
      expect(auth.revokedBecause()).toContain(why);
      const error = lines.find((l) => l.level === 50);
      expect(error?.msg).toMatch(/denies every request/);
      expect(JSON.stringify(lines)).not.toContain(FIRST);

      await writeFile(path, SECOND);
      auth.reload();
      expect(auth.accepts(`Bearer ${SECOND}`)).toBe(true);
      expect(auth.accepts(`Bearer ${FIRST}`)).toBe(false);
      expect(auth.revokedBecause()).toBeNull();
      expect(lines.at(-1)?.msg).toBe('the API token file holds a usable token again');
      expect(JSON.stringify(lines)).not.toContain(SECOND);
    } finally {
      auth.close();
    }
  });

  it('notices a deleted file coming back by itself (polling the path)', async () => {
    const path = await tokenFile(FIRST);
    const auth = new TokenFile(path, silent, 20);
    try {
      await rm(path);
      await expect.poll(() => auth.revokedBecause(), { timeout: 5000, interval: 10 }).toMatch(/^the file is missing/);
      await writeFile(path, SECOND);
      await expect.poll(() => auth.accepts(`Bearer ${SECOND}`), { timeout: 5000, interval: 10 }).toBe(true);
    } finally {
      auth.close();
    }
  });
});
