// The engine's own filesystem: a sparse image file loop-mounted at the data dir, made so that
// disk-quota.ts can bound each writable layer. ext4 with project quotas where the kernel supports
// them (Debian's does), btrfs with qgroups where it does not (a kernel without CONFIG_QFMT_V2
// cannot even mount an ext4 that has the quota feature). Created once; every later start mounts
// the same image again (after a reboot) or finds it mounted.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { readMounts } from '../image-store/mounts.js';
import { isMountPoint, quotaFilesystemOf, type QuotaKind } from './disk-quota.js';

const execFileP = promisify(execFile);

export interface DataFilesystem {
  image: string;
  mountPoint: string;
  kind: QuotaKind;
  /** What this call did. */
  action: 'created' | 'mounted' | 'already-mounted';
}

/** Can this kernel mount ext4 with project quotas? Tried for real on a 16 MiB image. */
export async function ext4ProjectQuotaWorks(): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), 'lc-quota-probe-'));
  const image = join(dir, 'probe.img');
  const mnt = join(dir, 'mnt');
  try {
    await execFileP('truncate', ['-s', '16M', image]);
    await execFileP('mkfs.ext4', ['-q', '-O', 'quota,project', image]);
    await mkdir(mnt);
    await execFileP('mount', ['-o', 'loop,prjquota', image, mnt]);
    await execFileP('umount', [mnt]);
    return true;
  } catch {
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function fsTypeOf(image: string): Promise<string> {
  const { stdout } = await execFileP('blkid', ['-o', 'value', '-s', 'TYPE', image]);
  return stdout.trim();
}

// Layers and writable layers hold what images and containers put there, landing on disk as
// host uid 0 through the idmapped mounts: a setuid-root file or a device node among them must
// be inert to anyone on the host who reaches it.
export const DATA_MOUNT_OPTIONS = 'nodev,nosuid';

async function mountImage(image: string, mountPoint: string, fsType: string): Promise<void> {
  await mkdir(mountPoint, { recursive: true });
  // `loop` attaches a free loop device and detaches it again at umount (autoclear).
  await execFileP('mount', ['-o', `${fsType === 'ext4' ? 'loop,prjquota' : 'loop'},${DATA_MOUNT_OPTIONS}`, image, mountPoint]);
  if (fsType === 'btrfs') await execFileP('btrfs', ['quota', 'enable', mountPoint]);
}

export interface EnsureOptions {
  image: string;
  mountPoint: string;
  sizeBytes: number;
  log: Logger;
  /** Force a kind (tests); by default ext4 when the kernel supports its quotas, else btrfs. */
  kind?: QuotaKind;
}

/**
 * Makes sure `mountPoint` is the engine's quota filesystem. Returns null (with a warning) when it
 * cannot be: `mountPoint` already holds files of an engine that ran without one, which a mount
 * would hide.
 */
export async function ensureDataFilesystem(options: EnsureOptions): Promise<DataFilesystem | null> {
  const { image, mountPoint, log } = options;
  if (await isMountPoint(mountPoint)) {
    const fs = await quotaFilesystemOf(mountPoint);
    if (!fs) {
      log.warn({ mountPoint }, 'the data dir is a mount without quotas: writable layers are unbounded');
      return null;
    }
    // Mounted by an older checkout, perhaps without them; a remount only adds flags.
    await execFileP('mount', ['-o', `remount,${DATA_MOUNT_OPTIONS}`, mountPoint]);
    return { image, mountPoint, kind: fs.kind, action: 'already-mounted' };
  }
  if (existsSync(image)) {
    const fsType = await fsTypeOf(image);
    await mountImage(image, mountPoint, fsType);
    return { image, mountPoint, kind: fsType === 'ext4' ? 'ext4-prjquota' : 'btrfs-qgroup', action: 'mounted' };
  }
  if ((await readdir(mountPoint).catch(() => [])).length > 0) {
    log.warn({ mountPoint }, 'the data dir already holds an engine’s files; not mounting a quota filesystem over them');
    return null;
  }
  const kind = options.kind ?? ((await ext4ProjectQuotaWorks()) ? 'ext4-prjquota' : 'btrfs-qgroup');
  await mkdir(dirname(image), { recursive: true });
  const partial = `${image}.partial`;
  await rm(partial, { force: true });
  await execFileP('truncate', ['-s', String(options.sizeBytes), partial]);
  if (kind === 'ext4-prjquota') await execFileP('mkfs.ext4', ['-q', '-O', 'quota,project', '-E', 'root_owner=0:0', partial]);
  else await execFileP('mkfs.btrfs', ['-q', partial]);
  // Renamed when complete: an interrupted setup never leaves an image a later start would trust.
  await execFileP('mv', [partial, image]);
  await mountImage(image, mountPoint, kind === 'ext4-prjquota' ? 'ext4' : 'btrfs');
  log.info({ image, mountPoint, kind, sizeBytes: options.sizeBytes }, 'engine data filesystem created');
  return { image, mountPoint, kind, action: 'created' };
}

/**
 * Unmounts it and waits for its loop device to be let go. The kernel detaches an autoclear loop
 * device when its last user drops it, which for btrfs can be a moment after umount returns; a
 * device still attached after 10 s is detached here.
 */
export async function unmountDataFilesystem(mountPoint: string): Promise<void> {
  const mount = (await readMounts()).find((m) => m.mountPoint === mountPoint);
  if (!mount) return;
  const device = mount.source;
  const loop = /^\/dev\/(loop\d+)$/.exec(device)?.[1];
  const backing = loop ? `/sys/block/${loop}/loop/backing_file` : null;
  const image = backing ? await readFile(backing, 'utf8').catch(() => null) : null;
  await execFileP('umount', [mountPoint]);
  if (!backing || image === null) return;
  // Still ours only while it is backed by the same image: the device may be reused at once.
  const stillOurs = async () => (await readFile(backing, 'utf8').catch(() => null)) === image;
  for (const until = Date.now() + 10_000; (await stillOurs()) && Date.now() < until; ) await sleep(50);
  if (await stillOurs()) await execFileP('losetup', ['-d', device]).catch(() => {});
}
