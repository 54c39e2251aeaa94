/**
 * systemd/: `systemd-analyze verify` accepts the unit on a plain checkout (the only messages allowed are about the
 * daemon's binary and the docker and sysbox units not being installed here), and the unit and the sample
 * environment file agree with the daemon's options.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OPTION_KEYS, OPTIONS } from '../../../src/config/options.js';

const execFileAsync = promisify(execFile);
const systemdDir = fileURLToPath(new URL('../../../systemd/', import.meta.url));
const unitPath = join(systemdDir, 'cvm-supervisor.service');
const envPath = join(systemdDir, 'cvm-supervisor.env');

const ALLOWED = [
  /Command \/usr\/local\/bin\/cvm-supervisor is not executable: No such file or directory$/,
  /Failed to create .*\.service\/start: Unit (docker|sysbox)\.service not found\.$/,
];

/** Every line `systemd-analyze verify` prints, whatever its exit status. */
async function verify(path: string): Promise<string[]> {
  let output: string;
  try {
    const { stdout, stderr } = await execFileAsync('systemd-analyze', ['verify', path]);
    output = stdout + stderr;
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') {
      throw new Error('systemd-analyze is missing: install Debian\'s systemd package (scripts/engine.sh installs it)', { cause: error });
    }
    output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
  }
  return output.split('\n').map((line) => line.trim()).filter(Boolean);
}

/** `Key=value` pairs of a unit or environment file; comments and section headers are skipped. */
function assignments(text: string, { commented = false } = {}): [string, string][] {
  return text
    .split('\n')
    .map((line) => (commented ? line.replace(/^#(?=[A-Z_]+=)/, '') : line).trim())
    .filter((line) => /^[A-Za-z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
}

describe('systemd/cvm-supervisor.service', () => {
  it('passes systemd-analyze verify, apart from what a checkout cannot have installed', async () => {
    const unexpected = (await verify(unitPath)).filter((line) => !ALLOWED.some((pattern) => pattern.test(line)));
    expect(unexpected).toEqual([]);
  });

  it('would be caught by verify if it had a directive systemd does not know', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvm-unit-'));
    try {
      const broken = join(dir, 'cvm-supervisor.service');
      await copyFile(unitPath, broken);
      await writeFile(broken, (await readFile(broken, 'utf8')).replace('[Service]\n', '[Service]\nRestartt=always\n'));
      const unexpected = (await verify(broken)).filter((line) => !ALLOWED.some((pattern) => pattern.test(line)));
      expect(unexpected.join('\n')).toContain("Unknown key 'Restartt'");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('needs docker and sysbox, restarts on failure, and stops after the daemon\'s own grace', async () => {
    const unit = new Map(assignments(await readFile(unitPath, 'utf8')));
    const env = new Map(assignments(await readFile(envPath, 'utf8')));
    for (const key of ['Requires', 'After']) {
      expect(unit.get(key)?.split(/\s+/)).toEqual(expect.arrayContaining(['docker.service', 'sysbox.service']));
    }
    expect(unit.get('Type')).toBe('exec');
    expect(unit.get('Restart')).toBe('on-failure');
    expect(unit.get('RestartPreventExitStatus')).toBe('2');
    expect(unit.get('KillSignal')).toBe('SIGTERM');
    expect(unit.get('EnvironmentFile')).toBe('/etc/cvm-supervisor/cvm-supervisor.env');
    expect(unit.get('ExecStart')).toMatch(/ serve$/);
    const grace = Number(env.get(OPTIONS.shutdownGrace.env) ?? OPTIONS.shutdownGrace.default);
    expect(grace).toBe(Number(OPTIONS.shutdownGrace.default));
    expect(Number.parseInt(unit.get('TimeoutStopSec') ?? '', 10)).toBeGreaterThan(grace);
  });
});

describe('systemd/cvm-supervisor.env', () => {
  it('sets only variables the daemon reads (commented examples included), each with a value it accepts', async () => {
    const known = new Map(OPTION_KEYS.map((key) => [OPTIONS[key].env, OPTIONS[key]]));
    const pairs = assignments(await readFile(envPath, 'utf8'), { commented: true });
    expect(pairs.length).toBeGreaterThan(5);
    for (const [name, value] of pairs) {
      const option = known.get(name);
      expect(option, `${name} is not a daemon option`).toBeDefined();
      expect(() => option?.parse(value), `${name}=${value}`).not.toThrow();
    }
  });
});
