// The guest's root disk: an ext4 image of an image's layers, made with `mkfs.ext4 -d` from the
// layers' merged view, once per image (layers never change). The guest mounts it read-only
// under a tmpfs of its own, as a container's overlay stacks a writable layer on the image.
// Owners, modes and whiteouts are resolved here, by the host's overlayfs, so the guest sees
// exactly what a container of the image sees.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Room beside the files: ext4's own metadata, inodes, and the journal mkfs leaves out (-O ^has_journal). */
const SLACK_BYTES = 16 * 1024 * 1024;

async function treeBytes(dirs: string[]): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', '--apparent-size', ...dirs]);
  return stdout.split('\n').filter(Boolean).reduce((sum, line) => sum + Number(line.split('\t')[0]), 0);
}

/**
 * The disk of an image whose layers are `layers` (topmost first), cached as
 * `<cacheDir>/<imageHex>.ext4`. Made under a temporary name and renamed, so a half-made disk is
 * never booted.
 */
export async function imageDisk(cacheDir: string, imageId: string, layers: string[]): Promise<string> {
  const path = join(cacheDir, `${imageId.replace(/^sha256:/, '')}.ext4`);
  if (await stat(path).then(() => true, () => false)) return path;
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(join(cacheDir, '.make-'));
  const merged = join(scratch, 'root');
  await mkdir(merged);
  let mounted = false;
  try {
    let source = merged;
    if (layers.length === 1) source = layers[0]!;
    else if (layers.length > 1) {
      // Read-only overlay of the lower layers only: no upper, nothing can be written.
      await run('mount', ['-t', 'overlay', '-o', `ro,lowerdir=${layers.join(':')}`, 'overlay', merged]);
      mounted = true;
    }
    const bytes = layers.length ? await treeBytes(layers) : 0;
    const size = Math.ceil((bytes * 1.25 + SLACK_BYTES) / 4096) * 4096;
    const tmp = join(scratch, 'disk.ext4');
    // No journal: the guest never writes this disk.
    await run('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-L', 'image', '-d', source, tmp, `${Math.ceil(size / 1024)}k`], { timeout: 5 * 60_000 });
    await rename(tmp, path);
    return path;
  } finally {
    if (mounted) await run('umount', [merged]).catch(() => run('umount', ['-l', merged]));
    await rmdir(merged).catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  }
}
