/**
 * The host's mounts, from /proc/self/mountinfo: the one parser of it (the disk quota and the
 * data filesystem read it too), and the mount points below a directory. A process that dies while
 * something is mounted inside its scratch directory (mmdebstrap mounts /proc and /sys into the
 * root filesystem it builds) leaves those mounts behind; deleting the directory without
 * unmounting first would descend into them.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** One line of mountinfo (proc(5)), with the paths unescaped. */
export interface MountEntry {
  mountId: string;
  /** major:minor of the filesystem: with mountId and mountPoint it names one mounted filesystem. */
  devNumbers: string;
  mountPoint: string;
  fsType: string;
  /** The mount source, e.g. /dev/loop3. */
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** Parses mountinfo text; the optional fields end at the lone `-`, after which come type, source, options. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 10 || dash < 0) continue;
    out.push({
      mountId: fields[0]!,
      devNumbers: fields[2]!,
      mountPoint: unescape(fields[4]!),
      fsType: fields[dash + 1] ?? '',
      source: unescape(fields[dash + 2] ?? ''),
      superOptions: (fields[dash + 3] ?? '').split(','),
    });
  }
  return out;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

export async function mountsBelow(dir: string): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const mounts = await readMounts().catch(() => []);
  return mounts
    .map((m) => m.mountPoint)
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(prefix))
    .sort((a, b) => b.length - a.length); // deepest first
}

/** Detaches every mount below `dir` (lazily, so a busy one cannot block cleanup). */
export async function unmountBelow(dir: string): Promise<void> {
  for (const mountPoint of await mountsBelow(dir)) {
    await new Promise<void>((resolve) => {
      const child = spawn('umount', ['-l', mountPoint], { stdio: 'ignore' });
      child.on('error', () => resolve());
      child.on('close', () => resolve());
    });
  }
}

/**
 * Removes a directory tree without ever crossing into another filesystem: mounts below are
 * detached first, and GNU rm's --one-file-system guards against any that remain.
 */
export async function removeTree(dir: string): Promise<void> {
  await unmountBelow(dir);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('rm', ['-rf', '--one-file-system', '--', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`rm -rf ${dir} failed: ${stderr.trim()}`))));
  });
}
