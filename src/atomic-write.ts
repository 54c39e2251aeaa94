/**
 * Replaces a file atomically: a temp file beside it (0600: the daemon's files hold secrets), fsync, rename, fsync of
 * the directory, so that a daemon killed mid-write, or a power cut, leaves the old content or the new, never a torn
 * file. A write that fails (a full disk) removes its temp file.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Temp files end so; whoever owns the directory may remove leftovers of a crash by this suffix. */
export const TEMP_SUFFIX = '.tmp';

export async function writeFileAtomic(target: string, content: string): Promise<void> {
  const temp = `${target}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
  try {
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDir(path.dirname(target));
}

/** Makes a rename or removal in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
