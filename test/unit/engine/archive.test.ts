/**
 * archive.ts without an engine: the stat header decoding, the tar round trip, and how replies and failures of
 * the archive endpoints map to results. `fakeContainer` stands in for a dockerode Container whose replies are
 * shaped like dockerd's (a tar stream for GET, an error carrying statusCode or a socket code for failures);
 * test/integration/archive.test.ts runs the same functions against the real engine.
 */
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { buildTar, decodePathStatHeader, readContainerFile, statContainerPath } from '../../../src/engine/archive.js';
import { EngineError, EngineUnavailableError } from '../../../src/engine/engine-errors.js';

type Container = Parameters<typeof readContainerFile>[0];

function failure(statusCode: number | undefined, code?: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode ?? '-'})`), { statusCode, code });
}

function fakeContainer(replies: { getArchive?: () => Promise<unknown>; infoArchive?: () => Promise<unknown>; inspect?: () => Promise<unknown> }): Container {
  const unexpected = (): Promise<never> => Promise.reject(new Error('unexpected call'));
  return {
    id: 'c1',
    getArchive: replies.getArchive ?? unexpected,
    infoArchive: replies.infoArchive ?? unexpected,
    inspect: replies.inspect ?? (() => Promise.resolve({ Id: 'c1' })),
  } as unknown as Container;
}

// A header dockerd 20.10 sent for /sbin/init -> /usr/lib/systemd/systemd.
const observedHeader =
  'eyJuYW1lIjoiaW5pdCIsInNpemUiOjIyLCJtb2RlIjoxMzQyMTgyMzksIm10aW1lIjoiMjAyNi0xMS0yNVQwNzo0NDo0NloiLCJsaW5rVGFyZ2V0IjoiL3Vzci9saWIvc3lzdGVtZC9zeXN0ZW1kIn0=';

describe('decodePathStatHeader', () => {
  it('decodes what the engine sends', () => {
    expect(decodePathStatHeader(observedHeader)).toEqual({ name: 'init', size: 22, mode: 134218239, linkTarget: '/usr/lib/systemd/systemd' });
  });

  it('rejects a header without the expected fields', () => {
    expect(() => decodePathStatHeader(Buffer.from('{"name":"x"}').toString('base64'))).toThrow(/malformed/);
  });
});

describe('statContainerPath', () => {
  it('returns the decoded header of a 200', async () => {
    const response = Object.assign(Readable.from([]), { statusCode: 200, headers: { 'x-docker-container-path-stat': observedHeader } });
    const stat = await statContainerPath(fakeContainer({ infoArchive: () => Promise.resolve(response) }), '/sbin/init');
    expect(stat?.linkTarget).toBe('/usr/lib/systemd/systemd');
  });

  it.each([
    { name: 'a missing path (container exists)', info: failure(404), inspect: () => Promise.resolve({}), result: 'undefined' },
    { name: 'a missing container', info: failure(404), inspect: () => Promise.reject(failure(404)), result: 'EngineError 404' },
    { name: 'a symlink loop', info: failure(500), inspect: undefined, result: 'EngineError 500' },
    { name: 'a refused connection', info: failure(undefined, 'ECONNREFUSED'), inspect: undefined, result: 'EngineUnavailableError' },
  ])('maps $name to $result', async ({ info, inspect, result }) => {
    const container = fakeContainer({ infoArchive: () => Promise.reject(info), ...(inspect ? { inspect } : {}) });
    const outcome: unknown = await statContainerPath(container, '/x').catch((e: unknown) => e);
    const described =
      outcome === undefined ? 'undefined'
      : outcome instanceof EngineUnavailableError ? 'EngineUnavailableError'
      : outcome instanceof EngineError ? `EngineError ${outcome.statusCode ?? 'null'}`
      : 'something else';
    expect(described).toBe(result);
  });
});

describe('buildTar and readContainerFile', () => {
  it('round-trips files with path, mode and owner', async () => {
    const tar = await buildTar([
      { path: '/etc/x.conf', content: 'a=1\n', mode: 0o640, uid: 1000, gid: 100 },
      { path: 'bin/run', content: Buffer.from([0, 1, 2]), mode: 0o755 },
    ]);
    const entries: { name: string; mode: number | undefined; uid: number | undefined; gid: number | undefined; body: string }[] = [];
    const extractor = extract();
    extractor.on('entry', (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer); });
      body.on('end', () => {
        entries.push({ name: header.name, mode: header.mode, uid: header.uid, gid: header.gid, body: Buffer.concat(chunks).toString('hex') });
        next();
      });
    });
    await new Promise((resolve, reject) => {
      extractor.on('finish', () => { resolve(undefined); });
      extractor.on('error', reject);
      extractor.end(tar);
    });
    expect(entries).toEqual([
      { name: 'etc/x.conf', mode: 0o640, uid: 1000, gid: 100, body: Buffer.from('a=1\n').toString('hex') },
      { name: 'bin/run', mode: 0o755, uid: 0, gid: 0, body: '000102' },
    ]);
  });

  // The engine's reply is a node stream (an IncomingMessage); tar-stream's pack is a streamx one, so wrap it.
  const reading = (tar: Buffer | Readable): Container => fakeContainer({ getArchive: () => Promise.resolve(Buffer.isBuffer(tar) ? Readable.from([tar]) : tar) });

  it('returns the contents of a regular file within the cap', async () => {
    const tar = await buildTar([{ path: 'passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 }]);
    expect((await readContainerFile(reading(tar), '/etc/passwd', 26))?.toString()).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(await readContainerFile(reading(tar), '/etc/passwd', 25)).toBeUndefined();
  });

  it('returns undefined for a symlink or a directory entry', async () => {
    for (const type of ['symlink', 'directory'] as const) {
      const packer = pack();
      packer.entry({ name: 'os-release', type, ...(type === 'symlink' ? { linkname: '../usr/lib/os-release' } : {}) });
      packer.finalize();
      expect(await readContainerFile(reading(Readable.from(packer)), '/etc/os-release', 1024)).toBeUndefined();
    }
  });

  it('gives up on an over-cap file after its header, without waiting for its body', async () => {
    const packer = pack();
    const body = packer.entry({ name: 'huge', size: 10 ** 9 }); // the body is never completed
    body.write(Buffer.alloc(4096));
    const reply = Readable.from(packer);
    // Resolving at all shows it did not wait for the body, which never ends.
    expect(await readContainerFile(reading(reply), '/huge', 256 * 1024)).toBeUndefined();
    expect(reply.destroyed).toBe(true);
  });

  it('maps a 404 for a missing path to undefined and for a missing container to EngineError', async () => {
    expect(await readContainerFile(fakeContainer({ getArchive: () => Promise.reject(failure(404)) }), '/x', 10)).toBeUndefined();
    const gone = fakeContainer({ getArchive: () => Promise.reject(failure(404)), inspect: () => Promise.reject(failure(404)) });
    await expect(readContainerFile(gone, '/x', 10)).rejects.toBeInstanceOf(EngineError);
  });
});
