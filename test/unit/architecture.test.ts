/**
 * The folder rules of docs/architecture.md, read from the imports of every src file: no import cycle between
 * folders (a file directly in src/ is a unit of its own), and dockerode only in src/engine.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');
const FILES = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
const IMPORT = /(?:from|import)\s*\(?\s*'([^']+)'/g;

const importsOf = (file: string): string[] => [...readFileSync(path.join(SRC, file), 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? '');
const unitOf = (file: string): string => file.split(path.sep)[0] ?? file;

describe('folder rules', () => {
  it('imports dockerode only in src/engine', () => {
    expect(FILES.filter((file) => unitOf(file) !== 'engine' && importsOf(file).includes('dockerode'))).toEqual([]);
  });

  it('has no import cycle between folders', () => {
    const edges = new Map<string, Set<string>>();
    for (const file of FILES) {
      for (const specifier of importsOf(file).filter((s) => s.startsWith('.'))) {
        const target = unitOf(path.relative(SRC, path.resolve(SRC, path.dirname(file), specifier.replace(/\.js$/, '.ts'))));
        if (target !== unitOf(file)) edges.set(unitOf(file), (edges.get(unitOf(file)) ?? new Set()).add(target));
      }
    }
    // Depth first: a unit met again while it is still on the trail closes a cycle.
    const acyclic = new Set<string>();
    const cycleFrom = (unit: string, trail: string[]): string[] | null => {
      if (trail.includes(unit)) return [...trail.slice(trail.indexOf(unit)), unit];
      if (acyclic.has(unit)) return null;
      for (const next of edges.get(unit) ?? []) {
        const cycle = cycleFrom(next, [...trail, unit]);
        if (cycle) return cycle;
      }
      acyclic.add(unit);
      return null;
    };
    const cycle = [...edges.keys()].map((unit) => cycleFrom(unit, [])).find((found) => found !== null);
    expect(cycle?.join(' → ')).toBeUndefined();
  });
});
