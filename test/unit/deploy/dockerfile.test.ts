/**
 * Dockerfile.supervisor, read as text: what the image test (test/integration/supervisor-image.test.ts) cannot see
 * because CI builds with local sysbox binaries (--sysbox-bin) and a local BASE_IMAGE: the pinned sysbox release and
 * checksum, the engine packages, and that every stage starts from the BASE_IMAGE argument.
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';

let lines: string[] = [];

/** Instructions with their continuation lines joined. */
function instructions(): string[] {
  const joined: string[] = [];
  let current = '';
  for (const line of lines) {
    if (/^\s*#/.test(line) || (current === '' && line.trim() === '')) continue;
    current += line.replace(/\\$/, ' ');
    if (!line.endsWith('\\')) {
      joined.push(current.trim());
      current = '';
    }
  }
  return joined;
}

function argDefault(name: string): string | undefined {
  const arg = instructions().find((i) => new RegExp(`^ARG ${name}=`).test(i));
  return arg?.slice(`ARG ${name}=`.length);
}

beforeAll(async () => {
  lines = (await readFile(new URL('../../../Dockerfile.supervisor', import.meta.url), 'utf8')).split('\n');
});

describe('Dockerfile.supervisor', () => {
  it('builds every stage from the BASE_IMAGE argument, a current Node LTS by default', () => {
    const all = instructions();
    const froms = all.filter((i) => i.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{BASE_IMAGE\}( AS \w+)?$/);
    expect(all.indexOf(all.find((i) => i.startsWith('ARG BASE_IMAGE=')) ?? '')).toBeLessThan(all.indexOf(froms[0] ?? ''));
    expect(argDefault('BASE_IMAGE')).toMatch(/^node:(22|24)-bookworm-slim$/);
  });

  it('pins sysbox by version and SHA-256, and verifies the download before unpacking it', () => {
    expect(argDefault('SYSBOX_VERSION')).toMatch(/^\d+\.\d+\.\d+$/);
    expect(argDefault('SYSBOX_SHA256')).toMatch(/^[0-9a-f]{64}$/);
    const run = instructions().find((i) => i.startsWith('RUN ') && i.includes('sysbox')) ?? '';
    expect(run).toContain('if [ -n "$SYSBOX_VERSION" ]');
    expect(run.indexOf('sha256sum -c')).toBeGreaterThan(-1);
    expect(run.indexOf('sha256sum -c')).toBeLessThan(run.indexOf('dpkg-deb -x'));
  });

  it('installs the embedded engine and what sysbox and the bridge need', () => {
    const install = instructions().find((i) => i.startsWith('RUN ') && i.includes('apt-get install')) ?? '';
    for (const pkg of ['docker.io', 'iproute2', 'rsync', 'fuse3', 'iptables']) expect(install).toContain(pkg);
  });

  it('runs node in exec form, with a HEALTHCHECK on /healthz', () => {
    const all = instructions();
    expect(all.find((i) => i.startsWith('ENTRYPOINT '))).toBe('ENTRYPOINT ["node", "/opt/cvm-supervisor/dist/main.js"]');
    expect(all.find((i) => i.startsWith('CMD '))).toBe('CMD ["serve"]');
    expect(all.find((i) => i.startsWith('HEALTHCHECK '))).toMatch(/CMD \["node", "\/opt\/cvm-supervisor\/dist\/healthcheck\.js"\]$/);
  });
});
