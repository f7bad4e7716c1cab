/**
 * The engine's only access to a directory tree that a container or a learner controls while
 * the host reads it: a running container's upper (commit, diff, disk use) and a build context's
 * Dockerfile and .dockerignore. Node resolves every path string from the top, so a container
 * that swaps a directory with a symlink (renameat2 RENAME_EXCHANGE) between two calls points
 * the host at its own files; Node also has no openat2. So the work is done by `fstree`
 * (sandbox-native/fstree), a small static program that walks fd-relative: each name is opened
 * beneath a directory fd it already holds, with RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV, and
 * never through a path string (see sandbox-native/README.md). What it hands back — a copy in a
 * directory of the host's, or a listing — cannot change any more, and path-based code may read it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** Built by `make -C sandbox-native` beside the launcher. */
export const FSTREE = new URL('../../../sandbox-native/build/fstree', import.meta.url).pathname;

export type TreeErrorCode = 'escapes' | 'notfound' | 'notfile' | 'toolarge' | 'loop' | 'changed' | 'xdev' | 'limit' | 'io';

/** fstree refused or failed; `code` says which (its one JSON error line). */
export class TreeAccessError extends Error {
  constructor(
    readonly code: TreeErrorCode,
    message: string,
    /** The entry, relative to the tree's root. */
    readonly path: string,
    readonly sizeBytes?: number,
  ) {
    super(message);
    this.name = 'TreeAccessError';
  }
}

interface FstreeFailure {
  error: TreeErrorCode;
  message: string;
  path: string;
  size?: number;
}

function failureOf(stderr: string, args: readonly string[], status: number | null): Error {
  const line = stderr.trim().split('\n').at(-1) ?? '';
  try {
    const parsed = JSON.parse(line) as FstreeFailure;
    const path = Buffer.from(parsed.path, 'hex').toString('utf8');
    return new TreeAccessError(parsed.error, `fstree ${args[0]}: /${path}: ${parsed.message}`, path, parsed.size);
  } catch {
    return new Error(`fstree ${args.join(' ')} exited with ${status}: ${stderr.trim()}`);
  }
}

/** Runs fstree; `onStdout` sees its output as it comes. */
async function fstree(args: readonly string[], onStdout?: (child: ReturnType<typeof spawn>) => Promise<void>, signal?: AbortSignal): Promise<void> {
  // Aborted: the child is killed and this rejects with an AbortError.
  const child = spawn(FSTREE, args, { stdio: ['ignore', onStdout ? 'pipe' : 'ignore', 'pipe'], ...(signal ? { signal, killSignal: 'SIGKILL' as const } : {}) });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const closed = (once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${FSTREE} is missing: build it with make -C sandbox-native`);
    throw err;
  });
  try {
    await onStdout?.(child);
  } catch (err) {
    child.kill('SIGKILL');
    await closed;
    throw err;
  }
  const [status] = await closed;
  if (status !== 0) throw failureOf(stderr, args, status);
}

/**
 * Copies `source` to `destination` (which must not exist) with everything a layer keeps:
 * owners, modes, times, xattrs, hard links, device nodes, holes. `source` may be changing
 * meanwhile; the copy holds only what was beneath it, and at most `maxBytes` of data (a file
 * moved ahead of the walk is met again): past it, code `limit`. Aborted by `signal`, the copy
 * stops where it was (the caller removes what it wrote).
 */
export async function copyTreeBeneath(source: string, destination: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<void> {
  const max = options.maxBytes !== undefined ? ['--max-bytes', String(Math.floor(options.maxBytes))] : [];
  await fstree(['copy', ...max, source, destination], undefined, options.signal);
}

/** One entry of a listing: lstat's facts, and the xattrs of directories and regular files. */
export interface ListedEntry {
  /** Relative to the tree's root, as raw bytes (a name may be any bytes). */
  path: Buffer;
  type: 'd' | 'f' | 'l' | 'c' | 'b' | 'p' | 's';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  nlink: number;
  dev: number;
  ino: number;
  rdev: number;
  link?: Buffer;
  xattrs?: Map<string, Buffer>;
}

interface RawEntry extends Omit<ListedEntry, 'path' | 'link' | 'xattrs'> {
  path: string;
  link?: string;
  xattrs?: Record<string, string>;
}

/** The entries below `root`, parents first, names in byte order within each directory. */
export async function listTreeBeneath(root: string): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = [];
  await fstree(['list', root], async (child) => {
    for await (const line of createInterface({ input: child.stdout!, crlfDelay: Infinity })) {
      if (line === '') continue;
      const raw = JSON.parse(line) as RawEntry;
      const entry: ListedEntry = { ...raw, path: Buffer.from(raw.path, 'hex'), link: undefined, xattrs: undefined };
      if (raw.link !== undefined) entry.link = Buffer.from(raw.link, 'hex');
      else delete entry.link;
      if (raw.xattrs !== undefined) {
        entry.xattrs = new Map(Object.entries(raw.xattrs).map(([name, value]) => [Buffer.from(name, 'hex').toString('latin1'), Buffer.from(value, 'hex')]));
      } else delete entry.xattrs;
      entries.push(entry);
    }
  });
  return entries;
}

/**
 * The regular file `path` (relative) beneath `root`. Symlinks on the way are followed only while
 * they stay beneath `root` (one that leads out is refused with code `escapes`), or with
 * `noSymlinks` not at all (code `loop`): for a path the caller resolved itself in a tree that
 * may be changing.
 */
export async function readFileBeneath(root: string, path: string, maxBytes: number, options: { noSymlinks?: boolean } = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await fstree(['read', '--max', String(maxBytes), ...(options.noSymlinks ? ['--no-symlinks'] : []), root, path], async (child) => {
    for await (const chunk of child.stdout!) chunks.push(chunk as Buffer);
  });
  return Buffer.concat(chunks);
}

/** One component of a path as `lookupBeneath` met it. */
export interface LookedUpComponent {
  type: ListedEntry['type'];
  rdev: number;
  /** Symlinks: the target, as raw bytes, for the caller to resolve in its own view. */
  link?: Buffer;
  /** Directories: their xattrs (names latin1). */
  xattrs?: Map<string, Buffer>;
}

/**
 * What each component of the relative `path` is beneath `root`, first to last, stopping after
 * one that is absent (not in the result), not a directory, or the last. Nothing is followed: a
 * symlink comes back with its target, and a tree swapping a directory for a link meanwhile is
 * seen holding that link (fstree lookup).
 */
export async function lookupBeneath(root: string, path: string): Promise<LookedUpComponent[]> {
  const found: LookedUpComponent[] = [];
  await fstree(['lookup', root, path], async (child) => {
    for await (const line of createInterface({ input: child.stdout!, crlfDelay: Infinity })) {
      if (line === '') continue;
      const raw = JSON.parse(line) as { type: ListedEntry['type']; rdev: number; link?: string; xattrs?: Record<string, string> };
      const component: LookedUpComponent = { type: raw.type, rdev: raw.rdev };
      if (raw.link !== undefined) component.link = Buffer.from(raw.link, 'hex');
      if (raw.xattrs !== undefined) {
        component.xattrs = new Map(Object.entries(raw.xattrs).map(([name, value]) => [Buffer.from(name, 'hex').toString('latin1'), Buffer.from(value, 'hex')]));
      }
      found.push(component);
    }
  });
  return found;
}

/** Apparent bytes of a tree: every non-directory inode once (what a commit would store). */
export async function treeBytesBeneath(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  for (const entry of await listTreeBeneath(root)) {
    if (entry.type === 'd') continue;
    const inode = `${entry.dev}:${entry.ino}`;
    if (seen.has(inode)) continue;
    seen.add(inode);
    total += entry.size;
  }
  return total;
}
