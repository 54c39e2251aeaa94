/**
 * A HostFs over a fixture host tree in test/fixtures/gpu/<host>. Git cannot hold device nodes, so a regular file
 * under /dev whose content is `char MAJOR:MINOR MODE` stands in for a character device with those numbers and
 * permission bits; everything else is the real file system read by NodeHostFs, symlinks included.
 */
import path from 'node:path';
import { type HostEntry, type HostFs, NodeHostFs } from '../../src/host/host-fs.js';

export const GPU_FIXTURES = path.resolve(import.meta.dirname, '../fixtures/gpu');

const DEVICE_STAND_IN = /^char (\d+):(\d+) (0[0-7]{3,4})\n?$/;

export class FixtureHostFs implements HostFs {
  private readonly tree: NodeHostFs;

  /** `root` is what messages call the host root (--host-root); the files come from the fixture tree. */
  constructor(
    host: string,
    readonly root = '/',
  ) {
    this.tree = new NodeHostFs(path.join(GPU_FIXTURES, host));
  }

  async lstat(hostPath: string): Promise<HostEntry | null> {
    return this.deviceStandIn(hostPath, await this.tree.lstat(hostPath));
  }

  async stat(hostPath: string): Promise<HostEntry | null> {
    return this.deviceStandIn(hostPath, await this.tree.stat(hostPath));
  }

  private async deviceStandIn(hostPath: string, entry: HostEntry | null): Promise<HostEntry | null> {
    if (entry?.type !== 'file' || !hostPath.startsWith('/dev/')) return entry;
    const m = DEVICE_STAND_IN.exec((await this.tree.readText(hostPath)) ?? '');
    if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined) return entry;
    return { type: 'char', major: Number(m[1]), minor: Number(m[2]), mode: parseInt(m[3], 8) };
  }

  readText(hostPath: string): Promise<string | null> {
    return this.tree.readText(hostPath);
  }

  readdir(hostPath: string): Promise<string[] | null> {
    return this.tree.readdir(hostPath);
  }

  readlink(hostPath: string): Promise<string | null> {
    return this.tree.readlink(hostPath);
  }

  realpath(hostPath: string): Promise<string | null> {
    return this.tree.realpath(hostPath);
  }
}
