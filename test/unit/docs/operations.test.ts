/**
 * docs/operations.md's metric and reason-code tables are written by hand; these tests check that they list every
 * metric of the daemon's own and explain every failure reason code, in the code's order.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { FAILURE_REASONS } from '../../../src/errors.js';
import type { GpuNodeFacts } from '../../../src/gpu/discover.js';
import { Metrics } from '../../../src/metrics.js';

const docPath = new URL('../../../docs/operations.md', import.meta.url);

async function section(heading: string): Promise<string> {
  const doc = await readFile(docPath, 'utf8');
  const start = doc.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/operations.md has no section "## ${heading}"`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** Every metric of the daemon's own, the GPU gauge included (it exists only when the daemon reads GPUs). */
async function ownMetrics(): Promise<string[]> {
  const facts: GpuNodeFacts = { unsupported: 'no NVIDIA driver', driverVersion: null, arch: 'x86_64', gpus: [], controlDevices: [], libraries: [], binaries: [], libraryDirs: [] };
  const metrics = new Metrics('0.0.0-test', () => [], () => Promise.resolve({ enabled: true, facts }));
  return (await metrics.registry.getMetricsAsJSON()).map((m) => m.name).filter((name) => name.startsWith('cvm_supervisor_'));
}

describe('docs/operations.md reference tables', () => {
  it('explains every failure reason code in Troubleshooting', async () => {
    const listed = [...(await section('Troubleshooting')).matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(listed).toEqual([...FAILURE_REASONS]);
  });

  it("lists every metric of the daemon's own in Metrics", async () => {
    const listed = [...(await section('Metrics')).matchAll(/^\| `(cvm_supervisor_\w+)/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual((await ownMetrics()).sort());
  });
});
