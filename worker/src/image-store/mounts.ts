/**
 * Mount points below a directory, from /proc/self/mountinfo. A process that dies while
 * something is mounted inside its scratch directory (mmdebstrap mounts /proc and /sys into the
 * root filesystem it builds) leaves those mounts behind; deleting the directory without
 * unmounting first would descend into them.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

export async function mountsBelow(dir: string): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined)
    .map(unescape)
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
