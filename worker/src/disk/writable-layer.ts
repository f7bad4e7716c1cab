// The disk bound of a container's writable layer. The kernel enforces it where the engine's data
// filesystem has quotas (disk-quota.ts: ext4 project quotas or btrfs qgroups); elsewhere (a test
// in /tmp, a laptop checkout) the limit is recorded but only the session quota's check at create
// and commit stands between a container and a full disk.
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { limitDir, releaseDir } from './disk-quota.js';
import { removeTree } from '../image-store/mounts.js';

// Made on first use: promisifying execFile loads child_process (and net), which `ps` never needs.
const execFileP = (file: string, args: readonly string[]) => promisify(execFile)(file, args);

export interface WritableLayerLimiter {
  /** Bound `dir` (holding upper/ and work/, still empty) to `bytes`; true when the kernel enforces it. */
  limit(dir: string, bytes: number): Promise<boolean>;
  /** Lift the bound before `dir` is removed. */
  release(dir: string): Promise<void>;
}

export function diskQuotaLimiter(log?: Logger): WritableLayerLimiter {
  return {
    limit: (dir, bytes) => limitDir(dir, bytes, log),
    release: (dir) => releaseDir(dir),
  };
}

/**
 * Removes a writable layer. Its container should be gone, but if a process of it were still
 * swapping a directory for a symlink, Node's recursive rm (path strings) would follow the link
 * and delete host files (hostile-upper.test.ts shows it): removeTree is GNU rm, whose walk is
 * fd-relative and never follows a symlink. On btrfs the limited directory is a subvolume, which
 * rm cannot always take away (older kernels refuse rmdir of a subvolume): then btrfs deletes it.
 */
export async function removeLayerDir(dir: string): Promise<void> {
  try {
    await removeTree(dir);
  } catch (err) {
    if (!existsSync(dir)) return;
    await execFileP('btrfs', ['subvolume', 'delete', dir]).catch(() => {
      throw err;
    });
  }
}
