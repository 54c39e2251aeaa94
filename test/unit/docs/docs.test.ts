/**
 * The repository's documentation as a whole: the README stays short, every link stays inside the repository and
 * lands on a file (and heading) that exists, no doc carries work history, every doc the daemon's messages point
 * at exists, and every metric a doc names is one the daemon serves.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const README_LIMIT_BYTES = 12 * 1024;

interface Doc {
  path: string;
  text: string;
  /** The text without fenced code blocks and inline code: what is prose. */
  prose: string;
}
const docs: Doc[] = [];

async function markdownFiles(): Promise<string[]> {
  const inDocs = (await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return ['README.md', 'bench/README.md', 'test/README.md', ...inDocs];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens; repeats get -1, -2, ... */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const withoutCode = text.replace(/^```[\s\S]*?^```/gm, '');
  for (const [, heading = ''] of withoutCode.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replaceAll(' ', '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${String(count)}`);
  }
  return result;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  for (const path of await markdownFiles()) {
    const text = await readFile(join(root, path), 'utf8');
    const prose = text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
    docs.push({ path, text, prose });
  }
});

describe('the documentation', () => {
  it(`has a README of at most ${String(README_LIMIT_BYTES)} bytes`, async () => {
    expect((await stat(join(root, 'README.md'))).size).toBeLessThanOrEqual(README_LIMIT_BYTES);
  });

  it('links only inside the repository, to files and headings that exist', async () => {
    for (const doc of docs) {
      for (const [, target = ''] of doc.prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^https?:\/\//.test(target)) continue;
        const [file = '', anchor] = target.split('#');
        const resolved = file === '' ? join(root, doc.path) : join(root, dirname(doc.path), file);
        expect(relative(root, resolved).startsWith('..'), `${doc.path}: ${target} leaves the repository`).toBe(false);
        expect(await exists(resolved), `${doc.path}: ${target} does not exist`).toBe(true);
        if (anchor !== undefined) {
          expect(anchors(await readFile(resolved, 'utf8')).has(anchor), `${doc.path}: no heading #${anchor} in ${file || doc.path}`).toBe(true);
        }
      }
    }
  });

  it('carries no work history: no issue numbers, branches, found-bug stories or dates in prose, no files outside the repository', () => {
    const history = [/\bissue\s*#?\d+/i, /\b(this|the \w+) branch\b/i, /\bfound (a bug|bugs)\b/i, /\bfirst session\b/i, /\b20\d\d-\d\d-\d\d\b/, /\b(API|DESIGN)\.md\b/, /\.\.\/shared\//];
    for (const doc of docs) {
      for (const pattern of history) expect(doc.prose, `${doc.path} matches ${String(pattern)}`).not.toMatch(pattern);
    }
  });

  it('has every doc that the daemon\'s messages point at', async () => {
    const sources = (await readdir(join(root, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts'));
    const named = new Set<string>();
    for (const file of sources) {
      for (const [path] of (await readFile(join(root, 'src', file), 'utf8')).matchAll(/\bdocs\/[\w-]+\.md\b/g)) named.add(path);
    }
    expect(named.size).toBeGreaterThan(0);
    for (const path of named) expect(await exists(join(root, path)), path).toBe(true);
  });

  it('names only metrics the daemon serves', () => {
    // With a GPU reader, so that the GPU gauge is registered too (its collect is not run here).
    const metrics = new Metrics('0.0.0-test', () => [], () => Promise.reject(new Error('not read in this test')));
    const registered = new Set(metrics.registry.getMetricsAsArray().map((m) => m.name));
    for (const doc of docs) {
      for (const [name = ''] of doc.text.matchAll(/\bcvm_supervisor_\w+/g)) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        expect(registered.has(base), `${doc.path} names ${name}`).toBe(true);
      }
    }
  });
});
