// Disk bounds enforced by the kernel: on a small loop filesystem this test makes (and unmounts),
// a writer in a limited directory is stopped at the limit while a neighbour writes on. Run for
// each quota mechanism this kernel has; one it lacks is skipped and says why.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ext4ProjectQuotaWorks, ensureDataFilesystem, unmountDataFilesystem } from './data-filesystem.js';
import { isMountPoint, limitDir, quotaFilesystemOf, releaseDir, type QuotaKind } from './disk-quota.js';

const execFileP = promisify(execFile);
const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;
const ext4Works = await ext4ProjectQuotaWorks();

/** Writes up to `bytes` of zeros with fsync; returns how much got in and the error that stopped it. */
async function fill(path: string, bytes: number): Promise<{ written: number; code?: string }> {
  const file = await open(path, 'w');
  const chunk = Buffer.alloc(MiB);
  let written = 0;
  try {
    while (written < bytes) {
      written += (await file.write(chunk)).bytesWritten;
      await file.sync(); // delayed allocation would otherwise report the failure only at close
    }
    return { written };
  } catch (err) {
    // libuv has no name for EDQUOT: it reports "Unknown system error -122".
    const e = err as NodeJS.ErrnoException;
    return { written, code: e.errno === -constants.errno.EDQUOT ? 'EDQUOT' : e.code };
  } finally {
    await file.close().catch(() => {});
  }
}

async function loopDevicesFor(image: string): Promise<string> {
  return (await execFileP('losetup', ['-j', image])).stdout.trim();
}

function suite(kind: QuotaKind, supported: boolean, why: string) {
  describe.skipIf(!supported)(`${kind}${supported ? '' : ` (skipped: ${why})`}`, () => {
    let work: string;
    let image: string;
    let mnt: string;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), `lc-quota-${kind}-`));
      image = join(work, 'fs.img');
      mnt = join(work, 'mnt');
      const fs = await ensureDataFilesystem({ image, mountPoint: mnt, sizeBytes: 256 * MiB, log, kind });
      expect(fs).toMatchObject({ kind, action: 'created' });
    });

    afterAll(async () => {
      await unmountDataFilesystem(mnt);
      expect(await isMountPoint(mnt)).toBe(false);
      expect(await loopDevicesFor(image)).toBe(''); // the loop device went with the mount
      await rm(work, { recursive: true, force: true });
      expect(existsSync(work)).toBe(false);
    });

    it('a writer in a limited directory hits the limit; its neighbour does not', async () => {
      const limited = join(mnt, 'containers', 'c1', 'rw');
      const neighbour = join(mnt, 'containers', 'c2', 'rw');
      await mkdir(limited, { recursive: true });
      await mkdir(neighbour, { recursive: true });
      expect(await limitDir(limited, 8 * MiB, log)).toBe(true);
      await mkdir(join(limited, 'upper', 'deep'), { recursive: true }); // inherits the limit

      const stopped = await fill(join(limited, 'upper', 'deep', 'big'), 32 * MiB);
      expect(['EDQUOT', 'ENOSPC']).toContain(stopped.code);
      expect(stopped.written).toBeLessThanOrEqual(8 * MiB);
      expect(stopped.written).toBeGreaterThanOrEqual(4 * MiB);

      const free = await fill(join(neighbour, 'big'), 32 * MiB);
      expect(free).toEqual({ written: 32 * MiB });
    });

    it('a second limited directory has its own budget, and release lifts a limit', async () => {
      const a = join(mnt, 'steps', 'a');
      const b = join(mnt, 'steps', 'b');
      await mkdir(a, { recursive: true });
      await mkdir(b, { recursive: true });
      await writeFile(join(a, 'existing'), Buffer.alloc(2 * MiB)); // already there: counts too
      await limitDir(a, 6 * MiB, log);
      await limitDir(b, 6 * MiB, log);
      expect((await fill(join(a, 'more'), 16 * MiB)).written).toBeLessThanOrEqual(4 * MiB);
      expect((await fill(join(b, 'more'), 5 * MiB)).written).toBe(5 * MiB);

      await releaseDir(a);
      await rm(join(a, 'more'));
      expect(await fill(join(a, 'more'), 16 * MiB)).toEqual({ written: 16 * MiB });
    });

    it('a second start finds the filesystem mounted, and mounts the same image again after an unmount', async () => {
      await writeFile(join(mnt, 'marker'), 'kept');
      expect(await ensureDataFilesystem({ image, mountPoint: mnt, sizeBytes: 256 * MiB, log })).toMatchObject({ action: 'already-mounted', kind });
      await unmountDataFilesystem(mnt);
      expect(await ensureDataFilesystem({ image, mountPoint: mnt, sizeBytes: 256 * MiB, log })).toMatchObject({ action: 'mounted', kind });
      expect(existsSync(join(mnt, 'marker'))).toBe(true);
      expect(await quotaFilesystemOf(join(mnt, 'anything'))).toEqual({ kind, mountPoint: mnt });
    });
  });
}

suite('ext4-prjquota', ext4Works, 'this kernel cannot mount ext4 with quotas (built without CONFIG_QFMT_V2)');
suite('btrfs-qgroup', true, '');

describe('off a quota filesystem', () => {
  it('limitDir is a no-op that says so, so callers can always call it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lc-noquota-'));
    try {
      const warnings: unknown[] = [];
      const recorder = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
      expect(await limitDir(dir, 8 * MiB, recorder)).toBe(false);
      expect(warnings).toHaveLength(1);
      await releaseDir(dir);
      expect((await fill(join(dir, 'f'), 12 * MiB)).written).toBe(12 * MiB);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
