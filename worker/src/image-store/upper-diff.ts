/**
 * What an overlay upper directory changed relative to the layers below it, in `docker diff`'s
 * terms: A (added: the path did not exist below), C (changed: it did, and the upper has its own
 * copy, including directories that overlay copied up to hold a changed child), D (deleted: a
 * whiteout, or an entry of a lower directory hidden by an opaque one).
 *
 * The same walk prepares an upper for use as a lower layer: overlay leaves bookkeeping xattrs in
 * an upper (origin file handles, impure markers) that mean nothing in an image and are not part
 * of its tar, and a `userxattr` mount writes `user.overlay.opaque` where the launcher reads the
 * trusted one.
 */
import { lstat, readdir } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join, posix } from 'node:path';
import { listAttributes, removeAttribute } from '@napi-rs/xattr';
import { ImageStoreError } from './errors.js';
import { OPAQUE_XATTR, USER_OPAQUE_XATTR, isOpaqueDir, isWhiteout, markOpaque } from './overlay.js';
import { sortedNames } from './layer-tar.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  /** Absolute path inside the container, e.g. `/etc/motd`. */
  path: string;
  kind: ChangeKind;
}

export interface ChangeCounts {
  added: number;
  changed: number;
  deleted: number;
}

async function lstatOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
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
        const st = await lstat(join(layer, rel, name), { bigint: true });
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

/** Strips overlay bookkeeping and refuses features whose meaning would not survive export. */
async function normaliseOverlayXattrs(abs: string, rel: string): Promise<void> {
  for (const name of await listAttributes(abs)) {
    const [namespace, overlay, key] = name.split('.', 3);
    if ((namespace !== 'trusted' && namespace !== 'user') || overlay !== 'overlay') continue;
    if (key === 'redirect' || key === 'metacopy') {
      // A renamed directory (redirect_dir=on) or a metadata-only copy-up points into the lower
      // layers; as a tar it would lose its content. Mount uppers without these features.
      throw new ImageStoreError('layer.invalid', `/${rel} uses overlay ${key}, which an image layer cannot represent`, {
        path: `/${rel}`,
        feature: key,
      });
    }
    if (name === OPAQUE_XATTR) continue;
    if (name === USER_OPAQUE_XATTR) {
      if ((await isOpaqueDir(abs)) === true) await markOpaque(abs);
    }
    await removeAttribute(abs, name);
  }
}

export interface DiffOptions {
  /** Also normalise overlay xattrs in place (used when the upper becomes a layer). */
  normalise?: boolean;
  /** Collect the list of changes (a container's `diff`); counts are always computed. */
  collect?: boolean;
}

/**
 * Compares `upperDir` with the merged view of `lowerDirs` (topmost first). Changes are listed
 * in path order, as `docker diff` prints them.
 */
export async function diffUpper(
  upperDir: string,
  lowerDirs: readonly string[],
  options: DiffOptions = {},
): Promise<{ counts: ChangeCounts; changes: Change[] }> {
  const lower = new LowerView(lowerDirs);
  const counts: ChangeCounts = { added: 0, changed: 0, deleted: 0 };
  const changes: Change[] = [];
  const record = (rel: string, kind: ChangeKind): void => {
    if (kind === 'A') counts.added++;
    else if (kind === 'C') counts.changed++;
    else counts.deleted++;
    if (options.collect) changes.push({ path: `/${rel}`, kind });
  };

  async function walk(absDir: string, relDir: string): Promise<void> {
    for (const name of await sortedNames(absDir, relDir)) {
      const abs = join(absDir, name);
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const st = await lstat(abs, { bigint: true });
      if (isWhiteout(st)) {
        if (await lower.exists(rel)) record(rel, 'D');
        continue;
      }
      if (options.normalise) await normaliseOverlayXattrs(abs, rel);
      record(rel, (await lower.exists(rel)) ? 'C' : 'A');
      if (!st.isDirectory()) continue;
      if (await isOpaqueDir(abs)) {
        // Everything the lower directory held and the upper does not re-create is gone.
        const upperNames = new Set(await readdir(abs));
        for (const child of await lower.children(rel)) {
          if (!upperNames.has(child)) record(`${rel}/${child}`, 'D');
        }
      }
      await walk(abs, rel);
    }
  }

  await walk(upperDir, '');
  if (options.collect) changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { counts, changes };
}
