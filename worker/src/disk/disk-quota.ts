// A hard bound on the disk one writable layer (a container's, a build step's) can fill, so one
// learner's `dd if=/dev/zero` cannot fill the host. The kernel enforces it; a writer at the limit
// gets EDQUOT (or ENOSPC) while every other directory is unaffected.
//
// Two kernel mechanisms, chosen by the filesystem the engine's data dir is on:
//  - ext4 mounted with `prjquota`: the directory gets a project id of its own, inherited by all
//    it will contain (`chattr -p ID +P`), and a hard block limit (`setquota -P`). Needs a kernel
//    built with CONFIG_QFMT_V2 (Debian's is).
//  - btrfs with quotas on: the directory becomes a subvolume with a qgroup limit. For kernels
//    without ext4 quota support (this project's CI VMs). A subvolume is its own rename domain:
//    moving a file out of it is a copy (the image store falls back to copying on EXDEV), so limit
//    the directory that holds both an overlay's upper/ and work/, never one of them alone.
// On any other filesystem (tests in /tmp) limitDir logs a warning and does nothing, so callers
// can always call it.
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, rmdir, stat, chmod, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';
import { readMounts, type MountEntry } from '../image-store/mounts.js';

// Made on first use: promisifying execFile loads child_process (and net), which `ps` never needs.
const execFileP = (file: string, args: readonly string[]) => promisify(execFile)(file, args);

export type QuotaKind = 'ext4-prjquota' | 'btrfs-qgroup';

export interface QuotaFilesystem {
  kind: QuotaKind;
  mountPoint: string;
}

/** The mount a path lives on (the deepest mount point above it). */
async function mountOf(path: string): Promise<MountEntry | undefined> {
  const within = (await readMounts()).filter((m) => m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`));
  return within.sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.mountPoint === path);
}

/**
 * Mounted btrfs filesystems seen with quotas enabled. Asked on every limit and release (each
 * container create and RUN step), and asking costs a process; nothing here turns quotas off.
 */
const btrfsWithQuotas = new Set<string>();

/** Which quota mechanism covers `dir`, or null when none does. */
export async function quotaFilesystemOf(dir: string): Promise<QuotaFilesystem | null> {
  const m = await mountOf(dir);
  if (!m) return null;
  if (m.fsType === 'ext4' && m.superOptions.includes('prjquota')) return { kind: 'ext4-prjquota', mountPoint: m.mountPoint };
  if (m.fsType === 'btrfs') {
    const key = `${m.mountId} ${m.devNumbers} ${m.mountPoint}`;
    // `btrfs qgroup show` fails unless quotas were enabled on this filesystem.
    if (!btrfsWithQuotas.has(key) && (await execFileP('btrfs', ['qgroup', 'show', m.mountPoint]).then(() => true, () => false)))
      btrfsWithQuotas.add(key);
    if (btrfsWithQuotas.has(key)) return { kind: 'btrfs-qgroup', mountPoint: m.mountPoint };
  }
  return null;
}

// ---- ext4 project quotas ------------------------------------------------------------------

/**
 * A project id never used before on this filesystem. Ids are not reused: files that leave a
 * limited directory (a layer committed by rename) keep their project id and its charge, so a
 * reused id would start out already full. Lock-free: mkdir of the next number either wins or
 * sees EEXIST and tries the one after.
 */
async function newProjectId(mountPoint: string): Promise<number> {
  const dir = join(mountPoint, '.layercake-project-ids');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (;;) {
    const taken = (await readdir(dir)).map(Number).filter(Number.isInteger);
    const next = Math.max(999, ...taken) + 1;
    try {
      await mkdir(join(dir, String(next)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    // Keep only the newest few markers: the highest one is what keeps ids from going back.
    for (const old of taken.filter((n) => n < next - 16)) await rmdir(join(dir, String(old))).catch(() => {});
    return next;
  }
}

async function projectIdOf(dir: string): Promise<number> {
  const { stdout } = await execFileP('lsattr', ['-pd', dir]);
  return Number(stdout.trim().split(/\s+/)[0]);
}

async function ext4Limit(fs: QuotaFilesystem, dir: string, bytes: number): Promise<void> {
  const id = await newProjectId(fs.mountPoint);
  // -R: whatever the directory already holds counts too; +P: what it will hold inherits the id.
  await execFileP('chattr', ['-R', '-p', String(id), dir]);
  await execFileP('chattr', ['+P', dir]);
  // setquota -P ID block-soft block-hard inode-soft inode-hard: blocks in KiB.
  await execFileP('setquota', ['-P', String(id), '0', String(Math.ceil(bytes / 1024)), '0', '0', fs.mountPoint]);
}

async function ext4Release(fs: QuotaFilesystem, dir: string): Promise<void> {
  const id = await projectIdOf(dir);
  if (id > 0) await execFileP('setquota', ['-P', String(id), '0', '0', '0', '0', fs.mountPoint]);
}

// ---- btrfs qgroups ------------------------------------------------------------------------

/** A subvolume's root directory has inode 256 on btrfs. */
async function isSubvolume(dir: string): Promise<boolean> {
  return (await stat(dir)).ino === 256;
}

/** Turns `dir` into a subvolume in place, keeping its contents, owner and mode. */
async function makeSubvolume(dir: string): Promise<void> {
  if (await isSubvolume(dir)) return;
  const before = await stat(dir);
  const entries = await readdir(dir);
  if (entries.length === 0) {
    await rmdir(dir);
    await execFileP('btrfs', ['subvolume', 'create', dir]);
  } else {
    // Files cannot be renamed into a subvolume: copy (reflinks, so no data is duplicated).
    const fresh = `${dir}.subvolume-${process.pid}`;
    await execFileP('btrfs', ['subvolume', 'create', fresh]);
    await execFileP('cp', ['-a', '--reflink=auto', `${dir}/.`, `${fresh}/`]);
    const old = `${dir}.old-${process.pid}`;
    await rename(dir, old);
    await rename(fresh, dir);
    await rm(old, { recursive: true, force: true });
  }
  await chown(dir, before.uid, before.gid);
  await chmod(dir, before.mode & 0o7777);
}

async function btrfsLimit(dir: string, bytes: number): Promise<void> {
  await makeSubvolume(dir);
  await execFileP('btrfs', ['qgroup', 'limit', String(bytes), dir]);
}

async function btrfsRelease(dir: string): Promise<void> {
  if (await isSubvolume(dir)) await execFileP('btrfs', ['qgroup', 'limit', 'none', dir]);
}

// ---- the interface callers use ---------------------------------------------------------------

const defaultLog = pino({ name: 'disk-quota', level: 'warn' });
const warned = new Set<string>();

/**
 * Limits the bytes `dir` (an existing directory, and everything that will be in it) may hold.
 * Returns true when the kernel now enforces the limit, false (with a warning, once per
 * filesystem) when `dir` is not on a quota-capable filesystem.
 */
export async function limitDir(dir: string, bytes: number, log: Logger = defaultLog): Promise<boolean> {
  if (!Number.isInteger(bytes) || bytes < 4096) throw new RangeError(`a disk limit must be a whole number of bytes ≥ 4096: ${bytes}`);
  const fs = await quotaFilesystemOf(dir);
  if (!fs) {
    const where = (await mountOf(dir))?.mountPoint ?? dir;
    if (!warned.has(where)) {
      warned.add(where);
      log.warn({ dir, filesystem: where }, 'no disk quota here (not ext4 with prjquota, nor btrfs with quotas): writable layers are unbounded');
    }
    return false;
  }
  if (fs.kind === 'ext4-prjquota') await ext4Limit(fs, dir, bytes);
  else await btrfsLimit(dir, bytes);
  return true;
}

/** Lifts the limit of a directory limitDir limited (before removing it, or when it is committed). */
export async function releaseDir(dir: string): Promise<void> {
  const fs = await quotaFilesystemOf(dir);
  if (!fs) return;
  if (fs.kind === 'ext4-prjquota') await ext4Release(fs, dir);
  else await btrfsRelease(dir);
}
