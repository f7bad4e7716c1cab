// Reading files out of an image without mounting it: the merged view of its layer
// directories (topmost first), as overlayfs would show it. Used to resolve `USER name` from
// the image's /etc/passwd and /etc/group, for RUN, COPY --chown and containers alike. The merge
// rules and the symlink limit are layered-tree.ts's and overlay.ts's; only the reading differs.
import { posix } from 'node:path';
import { LearnerError } from '../../../protocol/errors.js';
import { MAX_SYMLINKS } from './layered-tree.js';
import { hasOpaqueXattr, isWhiteoutEntry } from './overlay.js';
import { TreeAccessError, lookupBeneath, readFileBeneath } from './tree-beneath.js';

interface Entry {
  /** The layer it is in, and its path there (symlink-free: no component of it was a link). */
  layer: string;
  rel: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  /** Symlinks: the target. */
  link?: string;
  /** How many leading path components this entry covers (less than all when a symlink interrupts). */
  depth: number;
}

/**
 * The topmost entry for `parts`, stopping at the first symlink on the way. A whiteout hides
 * the path; an opaque directory or a non-directory in a layer hides everything below it.
 * Each layer is asked through fstree lookup (fd-relative, nothing followed): the topmost layer
 * may be a running container's upper that swaps a directory for a link to a host path while
 * we look, and a path walk from the host (lstat, readlink) would then look at host files.
 */
async function lookup(layers: readonly string[], parts: readonly string[]): Promise<Entry | null> {
  for (const layer of layers) {
    const components = await lookupBeneath(layer, parts.join('/')).catch((err: unknown) => {
      if (!(err instanceof TreeAccessError)) throw err;
      return err.code === 'notfound' ? [] : 'refused'; // no such layer dir yet; or it kept changing
    });
    if (components === 'refused') return null;
    let lowerHidden = false;
    for (const [i, c] of components.entries()) {
      const depth = i + 1;
      const rel = parts.slice(0, depth).join('/');
      if (isWhiteoutEntry(c)) return null;
      if (c.type === 'l') return { layer, rel, kind: 'symlink', link: c.link!.toString('utf8'), depth };
      if (depth === parts.length) return { layer, rel, kind: c.type === 'f' ? 'file' : c.type === 'd' ? 'dir' : 'other', depth };
      if (c.type !== 'd') return null;
      // Nothing below an opaque directory shows through from lower layers.
      if (hasOpaqueXattr(c.xattrs)) lowerHidden = true;
    }
    // Absent here: look in the next layer down, unless this one hides them.
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
    const target = entry.link!;
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
  /** From /etc/passwd; `/` for a user it does not list (runc's default, so Docker's). */
  home: string;
  /** Supplementary groups: those of /etc/group that list the user by name (none with an explicit group). */
  additionalGids: number[];
}

function records(text: string | undefined): string[][] {
  return (text ?? '').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

/** The largest id a container may use: the size of its mapped host range. */
const MAX_ID = 65535;
/** Supplementary groups a process may hold (the kernel's NGROUPS_MAX is larger; no lesson needs more). */
export const MAX_ADDITIONAL_GIDS = 32;

/**
 * A user as `USER`/`--user` write it (`name`, `uid`, `name:group`, `uid:gid`, or nothing for
 * root), as numbers from the image's /etc/passwd and /etc/group, with runc's rules (which are
 * Docker's): a numeric uid need not exist, a user without a passwd entry runs with group 0 and
 * home `/`, supplementary groups are the groups that list the user's name unless a group was
 * given, and a numeric group need not exist.
 */
export async function resolveUser(layers: readonly string[], spec: string): Promise<ResolvedUser> {
  const [userPart = '', groupPart = ''] = spec.split(':', 2);
  const passwd = records((await readImageFile(layers, '/etc/passwd'))?.toString());
  const numeric = userPart === '' ? 0 : /^\d+$/.test(userPart) ? Number(userPart) : null;
  const entry = passwd.find((f) => f[0] === userPart && userPart !== '') ?? (numeric !== null ? passwd.find((f) => Number(f[2]) === numeric) : undefined);
  if (!entry && numeric === null) throw new LearnerError('container.unknownUser', { user: userPart });
  const user: ResolvedUser = entry
    ? { uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] || '/', additionalGids: [] }
    : { uid: numeric!, gid: 0, home: '/', additionalGids: [] };
  const groups = async (): Promise<string[][]> => records((await readImageFile(layers, '/etc/group'))?.toString());
  if (groupPart) {
    if (/^\d+$/.test(groupPart)) user.gid = Number(groupPart);
    else {
      const group = (await groups()).find((f) => f[0] === groupPart);
      if (!group) throw new LearnerError('container.unknownGroup', { group: groupPart });
      user.gid = Number(group[2]);
    }
  } else if (entry?.[0]) {
    const name = entry[0];
    // A group id outside the mapped range could not be set here: left out, not fatal.
    user.additionalGids = (await groups())
      .filter((f) => (f[3] ?? '').split(',').includes(name) && /^\d+$/.test(f[2] ?? '') && Number(f[2]) <= MAX_ID)
      .map((f) => Number(f[2]))
      .slice(0, MAX_ADDITIONAL_GIDS);
  }
  if (!(user.uid <= MAX_ID && user.gid <= MAX_ID)) throw new LearnerError('container.userOutOfRange', { user: spec, max: MAX_ID });
  return user;
}

/**
 * The supplementary groups `docker run` and `docker exec` give a process: its primary group
 * first, then those /etc/group lists it in (`id` says `groups=0(root),10(wheel)` for busybox's
 * root). A BuildKit RUN step holds none.
 */
export function containerGroups(user: ResolvedUser): number[] {
  return [user.gid, ...user.additionalGids.filter((gid) => gid !== user.gid)].slice(0, MAX_ADDITIONAL_GIDS);
}
