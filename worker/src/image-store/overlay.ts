/**
 * overlayfs's on-disk vocabulary, as layer directories use it (kernel docs,
 * filesystems/overlayfs.rst, "whiteouts and opaque directories"):
 * - a whiteout is a character device 0/0 hiding the same name in lower layers;
 * - an opaque directory carries `trusted.overlay.opaque=y` and hides the lower directory's
 *   entries entirely.
 * An overlay mounted inside a user namespace (`userxattr`) writes `user.overlay.*` instead;
 * both are read, and layers are normalised to the trusted form the launcher mounts with.
 */
import { spawn } from 'node:child_process';
import type { BigIntStats, Stats } from 'node:fs';
import { getAttribute, setAttribute } from '@napi-rs/xattr';
import { TAR_END, encodeTarHeader } from './tar-codec.js';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';
export const USER_OPAQUE_XATTR = 'user.overlay.opaque';
export const CAPABILITY_XATTR = 'security.capability';

/** Tar names OCI uses for the same two ideas (image-spec layer.md, "Whiteouts"). */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

export function isCharDevice(st: BigIntStats | Stats): boolean {
  return (Number(st.mode) & S_IFMT) === S_IFCHR;
}

export function isWhiteout(st: BigIntStats | Stats): boolean {
  return isCharDevice(st) && BigInt(st.rdev) === 0n;
}

/** glibc's major()/minor() split of a dev_t. */
export function deviceNumbers(rdev: bigint | number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/** The same two tests on an entry fstree listed or looked up (tree-beneath.ts), not on lstat's. */
export function isWhiteoutEntry(entry: { type: string; rdev: number }): boolean {
  return entry.type === 'c' && entry.rdev === 0;
}

export function hasOpaqueXattr(xattrs: ReadonlyMap<string, Buffer> | undefined): boolean {
  return [OPAQUE_XATTR, USER_OPAQUE_XATTR].some((name) => xattrs?.get(name)?.toString('latin1') === 'y');
}

/**
 * Whether a directory is opaque. Only call on real directories: @napi-rs/xattr uses the
 * l*xattr calls (it does not follow a final symlink; see its test), but a path through a
 * symlinked parent would still be followed, so callers only pass paths they walked themselves.
 */
export async function isOpaqueDir(path: string): Promise<boolean> {
  for (const name of [OPAQUE_XATTR, USER_OPAQUE_XATTR]) {
    const value = await getAttribute(path, name);
    if (value !== null && value.toString('latin1') === 'y') return true;
  }
  return false;
}

export async function markOpaque(path: string): Promise<void> {
  await setAttribute(path, OPAQUE_XATTR, 'y');
}

export interface SpecialFile {
  /** Path relative to the directory passed to createSpecialFiles. */
  rel: string;
  kind: 'c' | 'b' | 'p';
  major: number;
  minor: number;
}

/**
 * Creates device nodes and FIFOs under `root`. Node has no mknod(2), and one mknod(1) process
 * per node costs milliseconds each (a layer can hold thousands of whiteouts), so the whole batch
 * is handed to GNU tar (Essential in Debian) as a tar of special entries: one process, one
 * mknod(2) per node. Callers have already checked every path stays inside `root` and that its
 * parents are real directories; `-k` makes an existing path an error instead of a replacement.
 * Modes, owners and times are set by the caller afterwards.
 */
export async function createSpecialFiles(root: string, files: readonly SpecialFile[]): Promise<void> {
  if (files.length === 0) return;
  const parts: Buffer[] = [];
  for (const file of files) {
    const type = file.kind === 'c' ? 'chardev' : file.kind === 'b' ? 'blockdev' : 'fifo';
    parts.push(encodeTarHeader({ name: file.rel, type, mode: 0o600, uid: 0, gid: 0, size: 0, mtime: 0, devmajor: file.major, devminor: file.minor }));
  }
  parts.push(TAR_END);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('tar', ['-x', '-k', '-f', '-', '-C', root], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`creating device nodes with tar failed (exit ${code}): ${stderr.trim()}`)),
    );
    child.stdin.on('error', () => undefined); // reported through the exit status
    child.stdin.end(Buffer.concat(parts));
  });
}

export function specialKindOf(st: BigIntStats | Stats): 'c' | 'b' | 'p' | null {
  const type = Number(st.mode) & S_IFMT;
  if (type === S_IFCHR) return 'c';
  if (type === S_IFBLK) return 'b';
  if (type === S_IFIFO) return 'p';
  return null;
}
