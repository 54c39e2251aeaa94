/** What `serve` refuses at start: allowed mount roots that would widen what a workspace reaches. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/schema.js';
import { checkAllowedMountRoots, checkCvmRuntime } from '../../../src/daemon/start-checks.js';
import { NodeHostFs } from '../../../src/host/host-fs.js';

describe('checkAllowedMountRoots', () => {
  let empty: string;
  beforeAll(async () => {
    empty = await mkdtemp(path.join(tmpdir(), 'cvm-start-checks-'));
  });
  afterAll(async () => {
    await rm(empty, { recursive: true, force: true });
  });

  const check = (flags: string[]): Promise<void> => {
    const config = loadConfig(['--state-dir', '/data/cvm-state', ...flags], {});
    // No mount tables to read: the daemon's paths stand for themselves.
    return checkAllowedMountRoots(config, { host: new NodeHostFs(empty), daemonFiles: new NodeHostFs(empty) });
  };

  it.each([
    [['--allowed-mount-root', '/'], '--allowed-mount-root: / cannot be an allowed mount root: it is the host root'],
    [['--allowed-mount-root', '/srv', '--allowed-mount-root', '/var/lib'], '--allowed-mount-root: /var/lib cannot be an allowed mount root: it contains /var/lib/docker'],
    [['--allowed-mount-root', '/data'], '--allowed-mount-root: /data cannot be an allowed mount root: it contains /data/cvm-state'],
    [['--allowed-mount-root', '/srv', '--token-file', '/srv/secrets/token'], '--allowed-mount-root: /srv cannot be an allowed mount root: it contains /srv/secrets/token'],
    [['--allowed-mount-root', '/etc/shared'], '--allowed-mount-root: /etc/shared cannot be an allowed mount root: it lies in /etc'],
  ])('refuses %j in one line naming the flag', async (flags, message) => {
    const error = await check(flags).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(message);
  });

  it('accepts roots that hold nothing protected, and no roots at all', async () => {
    await expect(check(['--allowed-mount-root', '/var/lib/coder', '--allowed-mount-root', '/data/shared'])).resolves.toBeUndefined();
    await expect(check([])).resolves.toBeUndefined();
  });
});

describe('checkCvmRuntime', () => {
  const logged = (): { logger: pino.Logger; lines: () => { level: number; msg: string }[] } => {
    const chunks: string[] = [];
    const logger = pino({ level: 'info' }, { write: (chunk: string) => chunks.push(chunk) });
    return { logger, lines: () => chunks.map((c) => JSON.parse(c) as { level: number; msg: string }) };
  };

  it('refuses a CVM runtime that is not sysbox in one line naming --runtime', () => {
    const { logger } = logged();
    expect(() => { checkCvmRuntime(loadConfig(['--runtime', 'runc'], {}), logger); }).toThrow(
      new ConfigError('--runtime', 'runc is not sysbox: CVMs would run without a user namespace (root inside is root on the host); use sysbox-runc, or --allow-non-sysbox-cvm-runtime true to accept that'),
    );
  });

  it('with the escape flag, starts and warns', () => {
    const { logger, lines } = logged();
    checkCvmRuntime(loadConfig(['--runtime', 'runc', '--allow-non-sysbox-cvm-runtime', 'true'], {}), logger);
    expect(lines()).toEqual([expect.objectContaining({ level: 40, msg: expect.stringMatching(/^UNSAFE: CVMs run on runc, which is not sysbox/) as unknown })]);
  });

  it('says nothing for sysbox, or while CVMs are off', () => {
    const { logger, lines } = logged();
    checkCvmRuntime(loadConfig([], {}), logger);
    checkCvmRuntime(loadConfig(['--runtime', 'runc', '--cvm-enabled', 'false'], {}), logger);
    expect(lines()).toEqual([]);
  });
});
