// Reading merged layers, the one place that knows how overlay layers stack (with overlay.ts's
// whiteout and opaque tests, and one symlink limit): LowerView for the diff's lower layers, and
// the file trees a build reads from and resolves paths in: the build context, an image's merged
// layers (COPY --from), and a step's layers plus the upper dir it is writing (COPY's
// destination). Paths are resolved one component at a time, following symlinks *inside* the
// tree: an absolute target or a `..` stops at the tree's root, as in a chroot, so no symlink in
// an image or a context can lead a host-side copy anywhere else. The host path of an entry is
// only ever built from components already seen to be real directories. These read by path:
// store layers and an upper nothing runs in. image-files.ts reads a live container's upper
// fd-relative, with the same rules.
import { lstat, readdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { isOpaqueDir, isWhiteout } from './overlay.js';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'other';

export interface TreeEntry {
  kind: EntryKind;
  /** Where the entry is on the host (inside a layer, the upper or the context). */
  hostPath: string;
  /** Permission bits and setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  /** Symlink target as stored. */
  target?: string;
  /** For content hashing memos: identifies the inode and its last change. */
  ino: number;
  ctimeMs: number;
  /** Only LayeredTree: the entry is in the writable upper dir. */
  inUpper?: boolean;
}

export interface SourceTree {
  /** The tree's root directory. */
  root(): Promise<TreeEntry>;
  /** The entry at `parts` without following a final symlink; parents must be directories. */
  lookup(parts: readonly string[]): Promise<TreeEntry | null>;
  /** Names in directory `parts`, sorted. */
  children(parts: readonly string[]): Promise<string[]>;
}

export function entryFromStats(st: Stats, hostPath: string, target?: string): TreeEntry {
  const kind: EntryKind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return {
    kind,
    hostPath,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ino: st.ino,
    ctimeMs: st.ctimeMs,
    ...(target !== undefined ? { target } : {}),
  };
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** Splits an in-tree path into components ('' and '.' dropped; '..' kept for resolution). */
export function pathParts(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

export class NotADirectoryError extends Error {
  constructor(readonly path: string) {
    super(`${path} is not a directory`);
    this.name = 'NotADirectoryError';
  }
}

export class SymlinkLoopError extends Error {
  constructor(readonly path: string) {
    super(`too many levels of symbolic links resolving ${path}`);
    this.name = 'SymlinkLoopError';
  }
}

/** Symlinks followed in one resolution: Linux's MAXSYMLINKS, so a path resolves here as in the container. */
export const MAX_SYMLINKS = 40;

export interface Resolved {
  /** Symlink-free components from the root. */
  parts: string[];
  /** What is there, or null when nothing is (the missing tail is then taken literally). */
  entry: TreeEntry | null;
}

/**
 * Resolves `path` in `tree`, following symlinks in the tree's scope (Docker's
 * FollowSymlinkInScope). `followFinal: false` stops at a final symlink, for writes that replace it.
 */
export async function resolveInTree(tree: SourceTree, path: string, options: { followFinal?: boolean } = {}): Promise<Resolved> {
  const followFinal = options.followFinal ?? true;
  let queue = pathParts(path);
  let resolved: string[] = [];
  const root = await tree.root();
  let entry: TreeEntry | null = root;
  let hops = 0;
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (name === '..') {
      resolved.pop();
      entry = resolved.length === 0 ? root : await tree.lookup(resolved);
      continue;
    }
    if (entry === null) {
      // Below something missing everything is missing: keep the rest literally (lexically).
      resolved.push(name);
      continue;
    }
    if (entry.kind !== 'dir') throw new NotADirectoryError(`/${resolved.join('/')}`);
    const child = await tree.lookup([...resolved, name]);
    if (child?.kind === 'symlink' && (queue.length > 0 || followFinal)) {
      if (++hops > MAX_SYMLINKS) throw new SymlinkLoopError(path);
      const target = child.target ?? '';
      if (target.startsWith('/')) resolved = [];
      queue = [...pathParts(target), ...queue];
      entry = resolved.length === 0 ? root : await tree.lookup(resolved);
      continue;
    }
    resolved.push(name);
    entry = child;
  }
  return { parts: resolved, entry };
}

/** Whether a source path uses wildcards (Go's filepath.Match syntax, as Docker's COPY does). */
export function hasGlob(path: string): boolean {
  return /[*?[]/.test(path);
}

/** One path component's pattern (filepath.Match: `*`, `?`, `[…]`, `[^…]`, `\x`) as a RegExp. */
export function componentPattern(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else if (ch === '\\' && i + 1 < pattern.length) out += escapeRe(pattern[++i]!);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`;
      i = end;
    } else out += escapeRe(ch);
  }
  return new RegExp(`^${out}$`, 's');
}

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * Every path in `tree` matching a wildcard pattern, expanded one component at a time (a `*`
 * never crosses a `/`). Symlinked directories on the way are followed in scope.
 */
export async function expandGlob(tree: SourceTree, pattern: string): Promise<string[][]> {
  let current: string[][] = [[]];
  for (const component of pathParts(pattern)) {
    const next: string[][] = [];
    for (const base of current) {
      if (component === '..') {
        next.push(base.slice(0, -1));
        continue;
      }
      if (!hasGlob(component)) {
        next.push([...base, component]);
        continue;
      }
      const dir = await resolveInTree(tree, `/${base.join('/')}`).catch(() => null);
      if (dir?.entry?.kind !== 'dir') continue;
      const re = componentPattern(component);
      for (const name of await tree.children(dir.parts)) if (re.test(name)) next.push([...dir.parts, name]);
    }
    current = next;
  }
  const existing: string[][] = [];
  for (const parts of current) if ((await tree.lookup(parts).catch(() => null)) !== null) existing.push(parts);
  return existing;
}

/** A plain directory (a test fixture, or the context before .dockerignore applies). */
export class DirectoryTree implements SourceTree {
  constructor(readonly dir: string) {}

  async root(): Promise<TreeEntry> {
    return entryFromStats(await lstat(this.dir), this.dir);
  }

  async lookup(parts: readonly string[]): Promise<TreeEntry | null> {
    const hostPath = join(this.dir, ...parts);
    const st = await lstatOrNull(hostPath);
    if (st === null) return null;
    return entryFromStats(st, hostPath, st.isSymbolicLink() ? await readlink(hostPath) : undefined);
  }

  async children(parts: readonly string[]): Promise<string[]> {
    return (await readdir(join(this.dir, ...parts))).sort();
  }
}

/**
 * The merged view of a stack of read-only layers, resolved the way overlayfs resolves a lookup:
 * the topmost layer holding a name wins; a whiteout or a non-directory ends the search; an
 * opaque directory stops merging with the layers below it.
 */
export class LowerView {
  private readonly dirCache = new Map<string, Promise<string[] | null>>();

  /** @param layers layer directories, topmost first */
  constructor(private readonly layers: readonly string[]) {}

  /** The layers whose copies of directory `rel` are merged, topmost first; null if not a directory. */
  contributors(rel: string): Promise<string[] | null> {
    let cached = this.dirCache.get(rel);
    if (cached === undefined) {
      cached = this.resolveDir(rel);
      this.dirCache.set(rel, cached);
    }
    return cached;
  }

  private async resolveDir(rel: string): Promise<string[] | null> {
    if (rel === '') return [...this.layers];
    const parent = await this.contributors(parentOf(rel));
    if (parent === null) return null;
    const merged: string[] = [];
    for (const layer of parent) {
      const st = await lstatOrNull(join(layer, rel));
      if (st === null) continue;
      if (isWhiteout(st) || !st.isDirectory()) break;
      merged.push(layer);
      if (await isOpaqueDir(join(layer, rel))) break;
    }
    return merged.length > 0 ? merged : null;
  }

  async exists(rel: string): Promise<boolean> {
    const parent = await this.contributors(parentOf(rel));
    if (parent === null) return false;
    for (const layer of parent) {
      const st = await lstatOrNull(join(layer, rel));
      if (st === null) continue;
      return !isWhiteout(st);
    }
    return false;
  }

  /** Names visible in directory `rel` of the merged lower view. */
  async children(rel: string): Promise<string[]> {
    const layers = await this.contributors(rel);
    if (layers === null) return [];
    const decided = new Set<string>();
    const visible: string[] = [];
    for (const layer of layers) {
      for (const name of await readdir(join(layer, rel))) {
        if (decided.has(name)) continue;
        decided.add(name);
        const st = await lstat(join(layer, rel, name));
        if (!isWhiteout(st)) visible.push(name);
      }
    }
    return visible.sort();
  }
}

function parentOf(rel: string): string {
  const parent = posix.dirname(rel);
  return parent === '.' ? '' : parent;
}

/**
 * The merged view of overlay layers (topmost first), optionally with a writable upper dir on
 * top that the builder itself is filling (COPY, ADD, WORKDIR). Lookups follow overlayfs: the
 * topmost layer holding a name wins, a whiteout hides it, a non-directory or an opaque
 * directory stops merging with the layers below. The upper never holds whiteouts or opaque
 * directories (the builder writes only files, directories and symlinks into it).
 */
export class LayeredTree implements SourceTree {
  private readonly lower: LowerView;

  constructor(
    readonly upper: string | null,
    readonly lowers: readonly string[],
  ) {
    this.lower = new LowerView(lowers);
  }

  async root(): Promise<TreeEntry> {
    if (this.upper !== null) {
      const st = await lstatOrNull(this.upper);
      if (st) return { ...entryFromStats(st, this.upper), inUpper: true };
    }
    for (const layer of this.lowers) {
      const st = await lstatOrNull(layer);
      if (st) return entryFromStats(st, layer);
    }
    return { kind: 'dir', hostPath: '', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0, ino: 0, ctimeMs: 0 };
  }

  async lookup(parts: readonly string[]): Promise<TreeEntry | null> {
    if (parts.length === 0) return this.root();
    const rel = parts.join('/');
    if (this.upper !== null) {
      const hostPath = join(this.upper, rel);
      const st = await lstatOrNull(hostPath);
      if (st !== null) {
        if (isWhiteout(st)) return null;
        return { ...entryFromStats(st, hostPath, st.isSymbolicLink() ? await readlink(hostPath) : undefined), inUpper: true };
      }
      // An upper entry that is not a directory hides everything below it.
      const parentInUpper = await lstatOrNull(join(this.upper, posix.dirname(rel)));
      if (parentInUpper !== null && !parentInUpper.isDirectory()) return null;
    }
    const contributors = await this.lower.contributors(parts.length === 1 ? '' : parts.slice(0, -1).join('/'));
    if (contributors === null) return null;
    for (const layer of contributors) {
      const hostPath = join(layer, rel);
      const st = await lstatOrNull(hostPath);
      if (st === null) continue;
      if (isWhiteout(st)) return null;
      return entryFromStats(st, hostPath, st.isSymbolicLink() ? await readlink(hostPath) : undefined);
    }
    return null;
  }

  async children(parts: readonly string[]): Promise<string[]> {
    const rel = parts.join('/');
    const names = new Set<string>();
    let lowerHidden = false;
    if (this.upper !== null) {
      const dir = join(this.upper, rel);
      const st = await lstatOrNull(dir);
      if (st?.isDirectory()) {
        for (const name of await readdir(dir)) {
          const child = await lstat(join(dir, name));
          if (!isWhiteout(child)) names.add(name);
        }
      } else if (st !== null) lowerHidden = true;
    }
    if (!lowerHidden) {
      for (const name of await this.lower.children(rel)) {
        if (this.upper !== null && (await lstatOrNull(join(this.upper, rel, name))) !== null) {
          // Decided by the upper above (kept, or a whiteout that hides it).
          continue;
        }
        names.add(name);
      }
    }
    return [...names].sort();
  }
}
