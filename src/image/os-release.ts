/** Parses os-release(5): shell-style KEY=value lines, values optionally quoted with "..." or '...'. */

import type { OsRelease } from './facts.js';

function unquote(raw: string): string {
  const value = raw.trim();
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    // Inside double quotes the spec allows backslash escapes of $, ", \ and `.
    return value.slice(1, -1).replace(/\\([$"\\`])/g, '$1');
  }
  return value;
}

/** Returns null when the text has no ID (not an os-release file worth trusting). */
export function parseOsRelease(text: string): OsRelease | null {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    fields.set(match[1], unquote(match[2]));
  }
  const id = fields.get('ID');
  if (id === undefined || id === '') return null;
  const idLike = (fields.get('ID_LIKE') ?? '').split(/\s+/).filter((word) => word !== '');
  const versionId = fields.get('VERSION_ID');
  return { id, idLike, versionId: versionId === undefined || versionId === '' ? null : versionId };
}
