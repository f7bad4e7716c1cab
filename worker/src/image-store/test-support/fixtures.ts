/**
 * Test helpers: real directories on the real filesystem (as root), so whiteouts are real
 * character devices and opaque markers real trusted.* xattrs. Every helper that creates
 * something returns its path so the test can remove it and check it did.
 */
import { spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setAttribute } from '@napi-rs/xattr';

export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `layercake-${label}-`));
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

export function run(command: string, args: string[], input?: Buffer): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

export async function runOk(command: string, args: string[]): Promise<string> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** cap_setuid,cap_net_bind_service+ep as a v2 security.capability value: byte 4 is 0x80. */
export const CAPABILITY = Buffer.from('0100000280040000000000000000000000000000', 'hex');

/** Fixed times make trees reproducible regardless of when the test runs. */
export const FIXED_MTIME = 1_700_000_000;

/** Writes files (string content), directories (trailing slash) and symlinks ("-> target"). */
export async function writeTree(root: string, spec: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(spec)) {
    const abs = join(root, path);
    await mkdir(dirname(abs), { recursive: true });
    if (path.endsWith('/')) await mkdir(abs, { recursive: true });
    else if (content.startsWith('-> ')) await symlink(content.slice(3), abs);
    else await writeFile(abs, content);
  }
  await pinTimes(root);
}

/** Sets every non-symlink's mtime to FIXED_MTIME (deepest first, so directories keep theirs). */
export async function pinTimes(root: string, seconds = FIXED_MTIME): Promise<void> {
  for (const rel of (await listTree(root)).reverse()) {
    const abs = join(root, rel);
    if (!(await lstat(abs)).isSymbolicLink()) await utimes(abs, seconds, seconds);
  }
  await utimes(root, seconds, seconds);
}

export async function makeWhiteout(path: string): Promise<void> {
  await runOk('mknod', [path, 'c', '0', '0']);
}

export async function makeOpaque(path: string): Promise<void> {
  await setAttribute(path, 'trusted.overlay.opaque', 'y');
}

/** Relative paths of everything under root, depth first, sorted. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, dir))).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      out.push(child);
      if ((await lstat(join(root, child))).isDirectory()) await walk(child, child);
    }
  };
  await walk('', '');
  return out;
}

/** Collects an async stream of chunks into one buffer. */
export async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

export async function* chunksOf(buffer: Buffer, size = 7000): AsyncGenerator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

/**
 * Mounts a real overlay (as the launcher will), runs `fn` against the merged directory, and
 * always unmounts. Stands in for a container or build step writing to its upper dir.
 */
export async function withOverlay(
  lowers: readonly string[],
  upper: string,
  work: string,
  fn: (merged: string) => Promise<void>,
  options: string[] = [],
): Promise<void> {
  const merged = `${upper}.merged`;
  await mkdir(merged, { recursive: true });
  await mkdir(upper, { recursive: true });
  await mkdir(work, { recursive: true });
  const data = [`lowerdir=${lowers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`, ...options].join(',');
  await runOk('mount', ['-t', 'overlay', 'overlay', '-o', data, merged]);
  try {
    await fn(merged);
  } finally {
    await runOk('umount', [merged]);
    await rm(merged, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

/** Whether anything is still mounted below `path` (tests check they unmounted). */
export async function mountedBelow(path: string): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').some((line) => line.split(' ')[4]?.startsWith(path));
}
