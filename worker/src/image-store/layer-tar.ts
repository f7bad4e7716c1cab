/**
 * Serialises a layer directory (overlayfs format) into its OCI changeset tar, deterministically:
 * the same directory always gives the same bytes, so sha256 of the output is the layer's
 * diff_id and can be recomputed at any time (export, verification) without storing the tar.
 *
 * What makes it deterministic:
 * - entries in depth-first order, names sorted by their UTF-8 bytes within each directory;
 * - in each directory the opaque marker first, then whiteouts, then the rest (OCI layer.md asks
 *   for whiteouts before sibling entries, so a streaming importer never hides what it just wrote);
 * - only mode, uid, gid, size, whole-second mtime, link targets, device numbers and
 *   `security.capability` are recorded; no atime, ctime, user or group names;
 * - whiteout and opaque markers get fixed attributes (root, mode 0600, mtime 0), so deleting the
 *   same file twice yields the same layer whatever the time;
 * - a hard-linked inode is stored in full the first time the walk meets it, as a link after.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { getAttribute } from '@napi-rs/xattr';
import type { Digest } from './digest.js';
import { ImageStoreError } from './errors.js';
import {
  CAPABILITY_XATTR,
  OPAQUE_MARKER,
  WHITEOUT_PREFIX,
  deviceNumbers,
  isOpaqueDir,
  isWhiteout,
} from './overlay.js';
import { TAR_END, encodeTarHeader, tarPadding, type TarHeader } from './tar-codec.js';

export interface LayerTarSummary {
  /** Length of the tar in bytes. */
  tarBytes: number;
  /** Apparent size of the content: regular files (each inode once) and symlink targets. */
  contentBytes: number;
  entries: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const READ_CHUNK = 1 << 20;

/** Directory entries sorted by their raw bytes, decoded strictly (a layer path must be UTF-8). */
export async function sortedNames(absDir: string, relDir: string): Promise<string[]> {
  const raw = await readdir(absDir, { encoding: 'buffer' });
  raw.sort(Buffer.compare);
  return raw.map((name) => {
    try {
      return utf8.decode(name);
    } catch {
      throw new ImageStoreError('layer.invalid', `a file name in /${relDir} is not valid UTF-8; image layers only hold UTF-8 names`, {
        directory: `/${relDir}`,
      });
    }
  });
}

export function mtimeSeconds(st: BigIntStats): number {
  const ns = st.mtimeNs;
  let seconds = ns / 1_000_000_000n;
  if (ns < 0n && ns % 1_000_000_000n !== 0n) seconds -= 1n; // floor, not truncate
  return Number(seconds);
}

const markerHeader = (name: string): TarHeader => ({
  name,
  type: 'file',
  mode: 0o600,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 0,
});

/**
 * Streams the changeset tar of `root`. Fills `summary` as it goes (complete once the stream
 * ends). Throws if a file changes size while being read: a layer must not be written to while
 * it is committed.
 */
export async function* layerTar(root: string, summary?: LayerTarSummary): AsyncGenerator<Buffer> {
  const totals = summary ?? { tarBytes: 0, contentBytes: 0, entries: 0 };
  const firstPathOfInode = new Map<string, string>();
  const out = (buf: Buffer): Buffer => {
    totals.tarBytes += buf.length;
    return buf;
  };

  async function* fileBody(abs: string, rel: string, size: number): AsyncGenerator<Buffer> {
    const handle = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      let left = size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        left -= bytesRead;
        yield out(buf.subarray(0, bytesRead));
      }
      const extra = await handle.read(Buffer.alloc(1), 0, 1, null);
      if (left !== 0 || extra.bytesRead !== 0) {
        throw new Error(`/${rel} changed size while its layer was being serialised`);
      }
    } finally {
      await handle.close();
    }
    yield out(tarPadding(size));
  }

  async function* walk(absDir: string, relDir: string): AsyncGenerator<Buffer> {
    const names = await sortedNames(absDir, relDir);
    const entries: { name: string; abs: string; rel: string; st: BigIntStats }[] = [];
    for (const name of names) {
      const abs = join(absDir, name);
      entries.push({ name, abs, rel: relDir === '' ? name : `${relDir}/${name}`, st: await lstat(abs, { bigint: true }) });
    }
    const prefix = relDir === '' ? '' : `${relDir}/`;

    if (relDir !== '' && (await isOpaqueDir(absDir))) {
      totals.entries++;
      yield out(encodeTarHeader(markerHeader(prefix + OPAQUE_MARKER)));
    }
    for (const entry of entries) {
      if (!isWhiteout(entry.st)) continue;
      totals.entries++;
      yield out(encodeTarHeader(markerHeader(prefix + WHITEOUT_PREFIX + entry.name)));
    }

    for (const { name, abs, rel, st } of entries) {
      if (isWhiteout(st)) continue;
      if (name.startsWith(WHITEOUT_PREFIX)) {
        // OCI reserves the prefix: on import this entry would delete a file instead.
        throw new ImageStoreError('layer.invalid', `/${rel}: names starting with ".wh." are reserved by the image format`, {
          path: `/${rel}`,
        });
      }
      if (st.isSocket()) continue; // sockets cannot be archived (Docker skips them too)

      const header: TarHeader = {
        name: rel,
        type: 'file',
        mode: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: 0,
        mtime: mtimeSeconds(st),
      };
      totals.entries++;

      if (st.isDirectory()) {
        yield out(encodeTarHeader({ ...header, type: 'directory' }));
        yield* walk(abs, rel);
        continue;
      }
      if (st.nlink > 1n && !st.isDirectory()) {
        const inode = `${st.dev}:${st.ino}`;
        const first = firstPathOfInode.get(inode);
        if (first !== undefined) {
          yield out(encodeTarHeader({ ...header, type: 'hardlink', linkname: first }));
          continue;
        }
        firstPathOfInode.set(inode, rel);
      }
      if (st.isFile()) {
        const size = Number(st.size);
        const capability = await getAttribute(abs, CAPABILITY_XATTR);
        const xattrs = capability === null ? undefined : new Map([[CAPABILITY_XATTR, capability]]);
        totals.contentBytes += size;
        yield out(encodeTarHeader({ ...header, size, xattrs }));
        yield* fileBody(abs, rel, size);
      } else if (st.isSymbolicLink()) {
        const target = await readlink(abs, { encoding: 'buffer' });
        let linkname: string;
        try {
          linkname = utf8.decode(target);
        } catch {
          throw new ImageStoreError('layer.invalid', `/${rel}: symlink target is not valid UTF-8`, { path: `/${rel}` });
        }
        totals.contentBytes += target.length;
        yield out(encodeTarHeader({ ...header, type: 'symlink', linkname }));
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = deviceNumbers(st.rdev);
        const type = st.isCharacterDevice() ? 'chardev' : 'blockdev';
        yield out(encodeTarHeader({ ...header, type, devmajor: major, devminor: minor }));
      } else if (st.isFIFO()) {
        yield out(encodeTarHeader({ ...header, type: 'fifo' }));
      }
    }
  }

  yield* walk(root, '');
  yield out(TAR_END);
}

/** The diff_id and length of a layer directory's tar, computed by streaming it through sha256. */
/** `signal` stops the work between chunks (a build bounds how long a step's layer may take). */
export async function digestLayerDir(dir: string, signal?: AbortSignal): Promise<{ diffId: Digest; summary: LayerTarSummary }> {
  const summary: LayerTarSummary = { tarBytes: 0, contentBytes: 0, entries: 0 };
  const hash = createHash('sha256');
  for await (const chunk of layerTar(dir, summary)) {
    signal?.throwIfAborted();
    hash.update(chunk);
  }
  return { diffId: `sha256:${hash.digest('hex')}`, summary };
}
