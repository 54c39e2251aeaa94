/**
 * Desired state on disk: one JSON file per workspace under <stateDir>/workspaces. Written atomically (temp file,
 * fsync, rename, fsync of the directory) so a daemon killed mid-write leaves the old or the new record, never a
 * torn one. Records hold secrets (pull auth, bootstrap script, env), so files are 0600 and the directory 0700.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkspaceSpec } from '../spec/workspace-spec.js';
import type { SettledBoot } from './boot.js';
import { KeyedQueue } from './keyed-queue.js';

export type DesiredState = 'running' | 'stopped';
/** `pull: false` (a changed boot declaration) pulls only what is missing; an explicit rebuild pulls again. */
export type PendingOperation = { op: 'create' } | { op: 'rebuild'; pull: boolean } | { op: 'delete'; purge: boolean };

export interface WorkspaceRecord {
  id: string;
  spec: WorkspaceSpec;
  desired: DesiredState;
  /** Bumped by every create/rebuild; the container carries it as a label so adoption can tell old from new. */
  generation: number;
  /** An operation that was started and must be finished after a crash. */
  pending: PendingOperation | null;
  createdAt: string;
  restarts: number;
  /** The last settled boot, so that a restarted daemon does not boot an adopted workspace again (boot.ts). */
  boot?: SettledBoot;
}

export class StateStore {
  private readonly dir: string;
  private readonly writes = new KeyedQueue();

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'workspaces');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.removeTempFiles();
  }

  /**
   * Writes of one workspace run one after the other, in the order they were called: concurrent writes would
   * rename in whichever order they finish, and an older record could replace a newer one.
   */
  save(record: WorkspaceRecord): Promise<void> {
    return this.writes.run(record.id, () => this.write(record));
  }

  remove(id: string): Promise<void> {
    return this.writes.run(id, async () => {
      await rm(this.path(id), { force: true });
      await this.syncDir();
    });
  }

  private async write(record: WorkspaceRecord): Promise<void> {
    const target = this.path(record.id);
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(record, null, 2));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
    await this.syncDir();
  }

  async loadAll(): Promise<WorkspaceRecord[]> {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const records = await Promise.all(names.map(async (n) => JSON.parse(await readFile(join(this.dir, n), 'utf8')) as WorkspaceRecord));
    return records.sort((a, b) => a.id.localeCompare(b.id));
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Leftovers of writes interrupted by a crash. */
  private async removeTempFiles(): Promise<void> {
    const names = await readdir(this.dir);
    await Promise.all(names.filter((n) => n.endsWith('.tmp')).map((n) => rm(join(this.dir, n), { force: true })));
  }
}
