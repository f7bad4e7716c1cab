// For tests of what the kernel's disk quotas bound: a small loop filesystem of each kind the
// engine can use (as `npm start` sets up), made in a temp dir and unmounted and removed after.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { ensureDataFilesystem, ext4ProjectQuotaWorks, unmountDataFilesystem } from '../data-filesystem.js';
import { isMountPoint, type QuotaKind } from '../disk-quota.js';

/** Each kind, and whether this kernel can mount it with quotas (ext4 needs QFMT_V2). */
export const quotaKinds: readonly { kind: QuotaKind; supported: boolean }[] = [
  { kind: 'btrfs-qgroup', supported: true },
  { kind: 'ext4-prjquota', supported: await ext4ProjectQuotaWorks() },
];

export interface QuotaFilesystem {
  /** A directory on it, for the engine's data. */
  dataDir: string;
  /** Unmounts (checked) and removes it. */
  remove(): Promise<void>;
}

export async function mountQuotaFilesystem(kind: QuotaKind, label: string, sizeBytes = 512 * 1024 * 1024): Promise<QuotaFilesystem> {
  const work = await mkdtemp(`/tmp/lc-${label}-${kind}-`);
  const mnt = join(work, 'mnt');
  await ensureDataFilesystem({ image: join(work, 'fs.img'), mountPoint: mnt, sizeBytes, log: pino({ level: 'silent' }), kind });
  return {
    dataDir: join(mnt, 'data'),
    async remove() {
      await unmountDataFilesystem(mnt);
      if (await isMountPoint(mnt)) throw new Error(`${mnt} is still mounted`);
      await rm(work, { recursive: true, force: true });
    },
  };
}
