/**
 * Desired state on disk: one JSON file per workspace under <stateDir>/workspaces, written atomically
 * (../atomic-write.ts) so a daemon killed mid-write leaves the old or the new record, never a torn one. Records hold
 * secrets (pull auth, bootstrap script, env), so files are 0600 and the directory 0700.
 */
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, TEMP_SUFFIX, writeFileAtomic } from '../atomic-write.js';
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

/** The record a file holds, or null when it is not one (not JSON, another id, or without the fields resume reads). */
function asRecord(text: string, id: string): WorkspaceRecord | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null) return null;
  const r = doc as Partial<Record<keyof WorkspaceRecord, unknown>>;
  const spec = r.spec as { image?: unknown } | null | undefined;
  const valid =
    r.id === id &&
    typeof spec === 'object' &&
    spec !== null &&
    typeof spec.image === 'string' &&
    (r.desired === 'running' || r.desired === 'stopped') &&
    typeof r.generation === 'number' &&
    typeof r.createdAt === 'string' &&
    typeof r.restarts === 'number';
  return valid ? (doc as WorkspaceRecord) : null;
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
    return this.writes.run(record.id, () => writeFileAtomic(this.path(record.id), JSON.stringify(record, null, 2)));
  }

  remove(id: string): Promise<void> {
    return this.writes.run(id, async () => {
      await rm(this.path(id), { force: true });
      await syncDir(this.dir);
    });
  }

  /**
   * Every record, by id. One that is not a record (torn by a crash outside the daemon, edited by hand) is set aside
   * as `<name>.corrupt-<ms>`, so that the other workspaces still load; `onSetAside` hears of each. A read that
   * fails (EIO) rejects: the record may be fine, and the daemon tries again.
   */
  async loadAll(onSetAside: (file: string, setAsideAs: string) => void = () => undefined): Promise<WorkspaceRecord[]> {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const records: WorkspaceRecord[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      const record = asRecord(await readFile(file, 'utf8'), name.slice(0, -'.json'.length));
      if (record) {
        records.push(record);
        continue;
      }
      const aside = `${file}.corrupt-${Date.now()}`;
      await rename(file, aside);
      onSetAside(file, aside);
    }
    return records.sort((a, b) => a.id.localeCompare(b.id));
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  /** Leftovers of writes interrupted by a crash. */
  private async removeTempFiles(): Promise<void> {
    const names = await readdir(this.dir);
    await Promise.all(names.filter((n) => n.endsWith(TEMP_SUFFIX)).map((n) => rm(join(this.dir, n), { force: true })));
  }
}
