// The engine's data filesystem is mounted nodev,nosuid: a setuid-root file or a device node that
// a loaded layer or a container's writable layer put there (files land on disk as host uid 0
// through the idmapped mounts) gives nobody on the host anything. The control is a bind mount
// of the same directory with dev,suid: there the same files work.
import { execFile, spawnSync } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_MOUNT_OPTIONS, ensureDataFilesystem, unmountDataFilesystem } from './data-filesystem.js';
import { isMountPoint } from './disk-quota.js';

const execFileP = promisify(execFile);
const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;
const NOBODY = 65534;

/** The options of the mount at `mountPoint`, from mountinfo (per-mount flags: field 6). */
async function mountOptions(mountPoint: string): Promise<string[]> {
  const { stdout } = await execFileP('findmnt', ['-n', '-o', 'VFS-OPTIONS', '--mountpoint', mountPoint]);
  return stdout.trim().split(',');
}

/** `id -u` of a copy of id(1) at `path`, run as nobody: the effective uid it ran with. */
function euidRunning(path: string): string {
  const r = spawnSync(path, ['-u'], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
  return r.stdout.trim();
}

/** Opening a device node at `path` for reading: 'ok' or the error code. */
async function openNode(path: string): Promise<string> {
  try {
    const fh = await open(path, 'r');
    await fh.close();
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  }
}

describe('the data filesystem', () => {
  let work: string;
  let mnt: string;
  let control: string;
  let upper: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lc-datafs-'));
    await chmod(work, 0o755); // nobody must reach the files, as any host user could
    mnt = join(work, 'mnt');
    control = join(work, 'control');
    await ensureDataFilesystem({ image: join(work, 'fs.img'), mountPoint: mnt, sizeBytes: 256 * MiB, log });
    // What a container's writable layer can hold: a setuid-root program, a device node.
    upper = join(mnt, 'containers/c1/upper');
    await mkdir(upper, { recursive: true, mode: 0o755 });
    await copyFile('/usr/bin/id', join(upper, 'id'));
    await chown(join(upper, 'id'), 0, 0);
    await chmod(join(upper, 'id'), 0o4755);
    await execFileP('mknod', ['-m', '666', join(upper, 'null'), 'c', '1', '3']);
    await mkdir(control);
    await execFileP('mount', ['--bind', mnt, control]);
    await execFileP('mount', ['-o', 'remount,bind,dev,suid', control]);
  });

  afterAll(async () => {
    await execFileP('umount', [control]).catch(() => {});
    await unmountDataFilesystem(mnt);
    expect(await isMountPoint(mnt)).toBe(false);
    expect(await isMountPoint(control)).toBe(false);
    await rm(work, { recursive: true, force: true });
  });

  it(`is mounted ${DATA_MOUNT_OPTIONS}`, async () => {
    expect(await mountOptions(mnt)).toEqual(expect.arrayContaining(['nodev', 'nosuid']));
    expect(await mountOptions(control)).not.toContain('nosuid');
  });

  it('a setuid-root program in a writable layer, run by an unprivileged host user, does not run as root', async () => {
    expect(euidRunning(join(upper, 'id'))).toBe(String(NOBODY));
    // The control: the same file through a mount that honours setuid runs as root.
    expect(euidRunning(join(control, 'containers/c1/upper/id'))).toBe('0');
  });

  it('a device node in a writable layer cannot be opened from the host, not even by root', async () => {
    expect(await openNode(join(upper, 'null'))).toBe('EACCES');
    expect(await openNode(join(control, 'containers/c1/upper/null'))).toBe('ok');
  });

  it('an engine data filesystem mounted without the options (by an older checkout) gets them at the next start', async () => {
    await execFileP('mount', ['-o', 'remount,dev,suid', mnt]);
    expect(await mountOptions(mnt)).not.toContain('nosuid');
    expect(await ensureDataFilesystem({ image: join(work, 'fs.img'), mountPoint: mnt, sizeBytes: 256 * MiB, log })).toMatchObject({
      action: 'already-mounted',
    });
    expect(await mountOptions(mnt)).toEqual(expect.arrayContaining(['nodev', 'nosuid']));
  });
});
