/**
 * A cross-process lock for the few store mutations that must see a consistent set of images and
 * layers (creating an image from existing layers, removing images and their layers, moving a
 * finished layer into place). Heavy work (hashing, extracting) happens outside it.
 *
 * mkdir(2) is atomic, so the lock is a directory; it records its owner's pid, and a lock whose
 * owner died is broken by renaming it away (rename is atomic too, so only one waiter wins).
 * Node has no flock(2); this is the portable equivalent for processes on one host, which is
 * the scope of a store (a learner's images live on one worker host).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageStoreLimits } from './limits.js';
import { processAlive, type StorePaths } from './paths.js';

interface LockOwner {
  pid: number;
  token: string;
  since: string;
}

async function readOwner(lockDir: string): Promise<LockOwner | null> {
  try {
    return JSON.parse(await readFile(join(lockDir, 'owner'), 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

async function isAbandoned(lockDir: string, ownerlessStaleMs: number): Promise<boolean> {
  const owner = await readOwner(lockDir);
  if (owner !== null) return !processAlive(owner.pid);
  try {
    // Between mkdir and writing `owner` the lock is briefly ownerless; only old ones are dead.
    const st = await stat(lockDir);
    return Date.now() - st.mtimeMs > ownerlessStaleMs;
  } catch {
    return false; // already released
  }
}

export async function withLock<T>(
  paths: StorePaths,
  name: string,
  fn: () => Promise<T>,
  timeoutMs: number = imageStoreLimits.lockTimeoutMs,
): Promise<T> {
  const lockDir = join(paths.locksDir, `${name}.lock`);
  const token = randomBytes(8).toString('hex');
  const deadline = Date.now() + timeoutMs;
  let delayMs = 5;
  await mkdir(paths.locksDir, { recursive: true });

  for (;;) {
    try {
      await mkdir(lockDir);
      const owner: LockOwner = { pid: process.pid, token, since: new Date().toISOString() };
      await writeFile(join(lockDir, 'owner'), JSON.stringify(owner));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isAbandoned(lockDir, imageStoreLimits.lockOwnerlessStaleMs)) {
      const away = paths.newTmp('stale-lock');
      await mkdir(paths.tmpDir, { recursive: true });
      try {
        await rename(lockDir, away);
        await rm(away, { recursive: true, force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      continue;
    }
    if (Date.now() > deadline) {
      const owner = await readOwner(lockDir);
      throw new Error(`timed out after ${timeoutMs} ms waiting for image store lock "${name}" (held by pid ${owner?.pid ?? 'unknown'})`);
    }
    await sleep(delayMs);
    delayMs = Math.min(delayMs * 2, 200);
  }

  try {
    return await fn();
  } finally {
    const owner = await readOwner(lockDir);
    if (owner?.token === token) await rm(lockDir, { recursive: true, force: true });
  }
}
