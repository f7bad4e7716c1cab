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
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { listAttributes, removeAttribute } from '@napi-rs/xattr';
import { ImageStoreError } from './errors.js';
import { LowerView } from './layered-tree.js';
import { OPAQUE_XATTR, USER_OPAQUE_XATTR, hasOpaqueXattr, isOpaqueDir, isWhiteout, isWhiteoutEntry, markOpaque } from './overlay.js';
import { sortedNames } from './layer-tar.js';
import type { ListedEntry } from './tree-beneath.js';

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

/** One entry of an upper directory, as the diff needs it. */
interface UpperEntry {
  name: string;
  rel: string;
  whiteout: boolean;
  directory: boolean;
}

/** Where the diff reads the upper from: a directory of the host's, or a listing of a live one. */
interface UpperSource {
  /** The entries of directory `rel`, in byte order. */
  children(rel: string): Promise<UpperEntry[]>;
  isOpaque(rel: string): Promise<boolean>;
  /** A host path for in-place changes; null when the source is a listing. */
  hostPath(rel: string): string | null;
}

/** A directory nothing else changes (a copy in the store's tmp/, a finished step's upper). */
function directorySource(root: string): UpperSource {
  return {
    async children(rel) {
      const dir = rel === '' ? root : join(root, rel);
      const out: UpperEntry[] = [];
      for (const name of await sortedNames(dir, rel)) {
        const st = await lstat(join(dir, name), { bigint: true });
        out.push({ name, rel: rel === '' ? name : `${rel}/${name}`, whiteout: isWhiteout(st), directory: st.isDirectory() });
      }
      return out;
    },
    isOpaque: (rel) => isOpaqueDir(join(root, rel)),
    hostPath: (rel) => join(root, rel),
  };
}

/** A listing made by tree-beneath.ts of an upper a container may be changing. */
export function listingSource(entries: readonly ListedEntry[]): UpperSource {
  const byDir = new Map<string, UpperEntry[]>([['', []]]);
  const opaque = new Set<string>();
  for (const entry of entries) {
    const slash = entry.path.lastIndexOf(0x2f);
    const relDir = slash < 0 ? '' : decodeName(entry.path.subarray(0, slash), '');
    const name = decodeName(entry.path.subarray(slash + 1), relDir);
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const siblings = byDir.get(relDir);
    if (siblings === undefined) continue; // its directory changed kind while listed
    const directory = entry.type === 'd';
    siblings.push({ name, rel, whiteout: isWhiteoutEntry(entry), directory });
    if (directory) {
      byDir.set(rel, []);
      if (hasOpaqueXattr(entry.xattrs)) opaque.add(rel);
    }
  }
  return {
    children: async (rel) => byDir.get(rel) ?? [],
    isOpaque: async (rel) => opaque.has(rel),
    hostPath: () => null,
  };
}

/**
 * Compares an upper (a directory, or a listing: listingSource) with the merged view of
 * `lowerDirs` (topmost first). Changes are listed in path order, as `docker diff` prints them.
 */
export async function diffUpper(
  upper: string | UpperSource,
  lowerDirs: readonly string[],
  options: DiffOptions = {},
): Promise<{ counts: ChangeCounts; changes: Change[] }> {
  const source = typeof upper === 'string' ? directorySource(upper) : upper;
  const lower = new LowerView(lowerDirs);
  const counts: ChangeCounts = { added: 0, changed: 0, deleted: 0 };
  const changes: Change[] = [];
  const record = (rel: string, kind: ChangeKind): void => {
    if (kind === 'A') counts.added++;
    else if (kind === 'C') counts.changed++;
    else counts.deleted++;
    if (options.collect) changes.push({ path: `/${rel}`, kind });
  };

  async function walk(relDir: string): Promise<void> {
    for (const { rel, whiteout, directory } of await source.children(relDir)) {
      if (whiteout) {
        if (await lower.exists(rel)) record(rel, 'D');
        continue;
      }
      if (options.normalise) {
        const host = source.hostPath(rel);
        if (host === null) throw new Error('a listing cannot be normalised in place');
        await normaliseOverlayXattrs(host, rel);
      }
      record(rel, (await lower.exists(rel)) ? 'C' : 'A');
      if (!directory) continue;
      if (await source.isOpaque(rel)) {
        // Everything the lower directory held and the upper does not re-create is gone.
        const upperNames = new Set((await source.children(rel)).map((child) => child.name));
        for (const child of await lower.children(rel)) {
          if (!upperNames.has(child)) record(`${rel}/${child}`, 'D');
        }
      }
      await walk(rel);
    }
  }

  await walk('');
  if (options.collect) changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { counts, changes };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(bytes: Buffer, relDir: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ImageStoreError('layer.invalid', `a file name in /${relDir} is not valid UTF-8; image layers only hold UTF-8 names`, {
      directory: `/${relDir}`,
    });
  }
}
