import type { HostEntry, HostFs } from '../../../src/host/host-fs.js';

/** A HostFs that answers some text files itself (to vary one fact of a fixture host) and defers the rest. */
export function withTexts(fs: HostFs, texts: Record<string, string | null>): HostFs {
  const own = (p: string): boolean => Object.hasOwn(texts, p);
  const entry = async (p: string, read: (p: string) => Promise<HostEntry | null>): Promise<HostEntry | null> =>
    own(p) ? (texts[p] === null ? null : { type: 'file', mode: 0o444, major: 0, minor: 0 }) : read(p);
  return {
    root: fs.root,
    lstat: (p) => entry(p, (q) => fs.lstat(q)),
    stat: (p) => entry(p, (q) => fs.stat(q)),
    readText: async (p) => (own(p) ? (texts[p] ?? null) : fs.readText(p)),
    readdir: (p) => fs.readdir(p),
    readlink: (p) => fs.readlink(p),
    realpath: (p) => fs.realpath(p),
  };
}
