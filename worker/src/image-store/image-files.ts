// Reading files out of an image without mounting it: the merged view of its layer
// directories (topmost first), as overlayfs would show it. Used to resolve `USER name` from
// the image's /etc/passwd and /etc/group, for RUN, COPY --chown and containers alike.
import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { LearnerError } from '../../../protocol/errors.js';
import { isOpaqueDir, isWhiteout } from './overlay.js';
import { TreeAccessError, readFileBeneath } from './tree-beneath.js';

const MAX_SYMLINKS = 16;

interface Entry {
  hostPath: string;
  /** The layer it is in, and its path there (symlink-free: each component was just lstat'ed). */
  layer: string;
  rel: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  /** How many leading path components this entry covers (less than all when a symlink interrupts). */
  depth: number;
}

/**
 * The topmost entry for `parts`, stopping at the first symlink on the way. A whiteout hides
 * the path; an opaque directory or a non-directory in a layer hides everything below it.
 */
async function lookup(layers: readonly string[], parts: readonly string[]): Promise<Entry | null> {
  for (const layer of layers) {
    let lowerHidden = false;
    for (let depth = 1; depth <= parts.length; depth++) {
      const rel = parts.slice(0, depth).join('/');
      const hostPath = join(layer, rel);
      const st = await lstat(hostPath).catch(() => null);
      if (!st) break; // absent here: look in the next layer down, unless this one hides them
      if (isWhiteout(st)) return null;
      if (st.isSymbolicLink()) return { hostPath, layer, rel, kind: 'symlink', depth };
      if (depth === parts.length) return { hostPath, layer, rel, kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other', depth };
      if (!st.isDirectory()) return null;
      // Nothing below an opaque directory shows through from lower layers.
      if (await isOpaqueDir(hostPath)) lowerHidden = true;
    }
    if (lowerHidden) return null;
  }
  return null;
}

/** Resolve `path` inside the image, following symlinks but never above the image's root. */
async function resolve(layers: readonly string[], path: string): Promise<Entry | null> {
  let parts = posix.normalize(`/${path}`).split('/').filter(Boolean);
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    const entry = await lookup(layers, parts);
    if (!entry || entry.kind !== 'symlink') return entry;
    const target = await readlink(entry.hostPath);
    const dir = parts.slice(0, entry.depth - 1);
    // posix.normalize of an absolute path never climbs above "/": the image's root.
    const joined = posix.normalize(target.startsWith('/') ? target : `/${[...dir, target].join('/')}`);
    parts = [...joined.split('/').filter(Boolean), ...parts.slice(entry.depth)];
  }
  return null;
}

/**
 * A file of the image, or null. The topmost layer may be a running container's upper (exec
 * resolves its user there): the content is read fd-relative, never through a symlink, so a
 * directory the container swaps for a link to the host meanwhile yields null, not a host file.
 */
export async function readImageFile(layers: readonly string[], path: string, maxBytes = 1 << 20): Promise<Buffer | null> {
  const entry = await resolve(layers, path);
  if (!entry || entry.kind !== 'file') return null;
  return readFileBeneath(entry.layer, entry.rel, maxBytes, { noSymlinks: true }).catch((err: unknown) => {
    if (err instanceof TreeAccessError) return null; // changed meanwhile, or too large
    throw err;
  });
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  home?: string;
}

function records(text: string | undefined): string[][] {
  return (text ?? '').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

/** The largest id a container may use: the size of its mapped host range. */
const MAX_ID = 65535;

/**
 * A user as `USER`/`--user` write it (`name`, `uid`, `name:group`, `uid:gid`), as numbers from
 * the image's /etc/passwd and /etc/group, with Docker's rules: a numeric uid need not exist,
 * and a user without a passwd entry runs with group 0.
 */
export async function resolveUser(layers: readonly string[], spec: string): Promise<ResolvedUser> {
  const [userPart = '', groupPart = ''] = spec.split(':', 2);
  if (!userPart) return { uid: 0, gid: 0 };
  const passwd = records((await readImageFile(layers, '/etc/passwd'))?.toString());
  const numeric = /^\d+$/.test(userPart) ? Number(userPart) : null;
  const entry = passwd.find((f) => f[0] === userPart) ?? (numeric !== null ? passwd.find((f) => Number(f[2]) === numeric) : undefined);
  if (!entry && numeric === null) throw new LearnerError('container.unknownUser', { user: userPart });
  const user: ResolvedUser = entry
    ? { uid: Number(entry[2]), gid: Number(entry[3]), ...(entry[5] ? { home: entry[5] } : {}) }
    : { uid: numeric!, gid: 0 };
  if (groupPart) {
    if (/^\d+$/.test(groupPart)) user.gid = Number(groupPart);
    else {
      const group = records((await readImageFile(layers, '/etc/group'))?.toString()).find((f) => f[0] === groupPart);
      if (!group) throw new LearnerError('container.unknownGroup', { group: groupPart });
      user.gid = Number(group[2]);
    }
  }
  if (!(user.uid <= MAX_ID && user.gid <= MAX_ID)) throw new LearnerError('container.userOutOfRange', { user: spec, max: MAX_ID });
  return user;
}
