/**
 * The engine's archive API (`/containers/{id}/archive`): stat a path, read one small file, put files in.
 * Works on unstarted containers, which is how init detection reads an image without running it.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { extract, pack } from 'tar-stream';
import { EngineError, statusOf, toEngineError } from './engine-errors.js';
import type { PathStat } from './types.js';

export interface ArchiveOptions {
  /** Budget for the whole request, body included. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The archive API answers 404 both for a missing path and a missing container; only the first means "absent". */
async function throwIfContainerMissing(container: Dockerode.Container, operation: string): Promise<void> {
  try {
    await container.inspect();
  } catch (err) {
    if (statusOf(err) === 404) throw new EngineError(operation, 404, `no such container: ${container.id}`);
    throw toEngineError(operation, err);
  }
}

/** Decodes X-Docker-Container-Path-Stat: base64 JSON `{name,size,mode,mtime,linkTarget}`. */
export function decodePathStatHeader(header: string): PathStat {
  const parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as Partial<Record<keyof PathStat, unknown>>;
  const { name, size, mode, linkTarget } = parsed;
  if (typeof name !== 'string' || typeof size !== 'number' || typeof mode !== 'number' || typeof linkTarget !== 'string') {
    throw new Error(`malformed path stat header: ${header}`);
  }
  return { name, size, mode, linkTarget };
}

/**
 * `HEAD /containers/{id}/archive?path=P`. dockerd follows symlinks in P's parents, lstats the last element and
 * reports a symlink's target fully resolved (see image/resolve.ts). 404: undefined. Anything else, such as
 * the 500 a symlink loop gets, throws EngineError with that status.
 */
export async function statContainerPath(container: Dockerode.Container, path: string, options: ArchiveOptions = {}): Promise<PathStat | undefined> {
  const operation = `stat ${path}`;
  let response: IncomingMessage;
  try {
    response = (await container.infoArchive({
      _query: { path },
      abortSignal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    })) as IncomingMessage;
  } catch (err) {
    if (statusOf(err) !== 404) throw toEngineError(operation, err);
    await throwIfContainerMissing(container, operation);
    return undefined;
  }
  response.resume();
  const header = response.headers['x-docker-container-path-stat'];
  if (typeof header !== 'string') throw new EngineError(operation, response.statusCode ?? null, 'reply lacks X-Docker-Container-Path-Stat');
  return decodePathStatHeader(header);
}

/**
 * The first tar entry's contents if it is a regular file of at most maxBytes. Decided on the entry's header,
 * before any of its body is read (tar-stream never yields more body than the header's size), so a huge file
 * costs one 512-byte header; the caller then drops the connection.
 */
function readSingleFile(tar: Readable, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const extractor = extract();
    let settled = false;
    const finish = (content: Buffer | undefined): void => {
      if (settled) return;
      settled = true;
      tar.unpipe(extractor);
      extractor.destroy();
      resolve(content);
    };
    extractor.on('entry', (header, body) => {
      if (header.type !== 'file' || header.size > maxBytes) {
        finish(undefined);
        return;
      }
      const chunks: Buffer[] = [];
      body.on('data', (data: unknown) => {
        chunks.push(data as Buffer);
      });
      body.on('end', () => {
        finish(Buffer.concat(chunks));
      });
    });
    extractor.on('finish', () => {
      finish(undefined);
    });
    extractor.on('error', (err) => {
      if (!settled) reject(err);
    });
    tar.on('error', (err) => {
      if (!settled) reject(err);
    });
    tar.pipe(extractor);
  });
}

/**
 * `GET /containers/{id}/archive?path=P` and the contents of the one regular file in the tar. undefined when the
 * path is missing, is not a regular file (a symlink comes back as a link entry: resolve it first), or is larger
 * than maxBytes, which is enforced while streaming so a huge file costs no more than maxBytes.
 */
export async function readContainerFile(
  container: Dockerode.Container,
  path: string,
  maxBytes: number,
  options: ArchiveOptions = {},
): Promise<Buffer | undefined> {
  const operation = `read ${path}`;
  let tar: IncomingMessage;
  try {
    tar = (await container.getArchive({
      _query: { path },
      abortSignal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    })) as unknown as IncomingMessage;
  } catch (err) {
    if (statusOf(err) !== 404) throw toEngineError(operation, err);
    await throwIfContainerMissing(container, operation);
    return undefined;
  }
  try {
    return await readSingleFile(tar, maxBytes);
  } catch (err) {
    throw toEngineError(operation, err);
  } finally {
    tar.destroy();
  }
}

export interface ContainerFile {
  /** Relative to the target directory. */
  path: string;
  content: Buffer | string;
  mode: number;
  uid?: number;
  gid?: number;
}

/** Builds an uncompressed tar of regular files. */
export async function buildTar(files: readonly ContainerFile[]): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  packer.on('data', (chunk: unknown) => {
    chunks.push(chunk as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    packer.on('end', resolve);
    packer.on('error', reject);
  });
  for (const file of files) {
    const content = typeof file.content === 'string' ? Buffer.from(file.content) : file.content;
    packer.entry({ name: file.path.replace(/^\/+/, ''), type: 'file', mode: file.mode, uid: file.uid ?? 0, gid: file.gid ?? 0, size: content.length }, content);
  }
  packer.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** `PUT /containers/{id}/archive?path=dir`. The directory must exist in the container (else 404). */
export async function putContainerFiles(
  container: Dockerode.Container,
  dir: string,
  files: readonly ContainerFile[],
  options: ArchiveOptions = {},
): Promise<void> {
  const tar = await buildTar(files);
  try {
    await container.putArchive(tar, {
      _query: { path: dir },
      abortSignal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (err) {
    throw toEngineError(`put files into ${dir}`, err);
  }
}
