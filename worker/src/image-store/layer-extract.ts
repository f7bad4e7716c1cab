/**
 * Applies an OCI layer tar to an empty directory, producing a layer directory in overlayfs's
 * format: `.wh.<name>` entries become whiteout devices, `.wh..wh..opq` makes its directory
 * opaque. The tar may come from anywhere, so nothing in it is trusted:
 * - names with `..` components or absolute names are refused (path traversal);
 * - every parent of an entry must be a directory this same extraction created; an entry beneath
 *   a symlink is refused, so nothing is ever written through a link (a layer's symlinks only
 *   mean something inside the container);
 * - hard links may only point at files already extracted from this tar;
 * - files are created with O_EXCL, which also refuses to open through a symlink;
 * - only `security.capability` is taken from xattrs: a tar must not be able to plant
 *   `trusted.overlay.*` (redirects, metacopy) in a layer.
 * Same-layer conflicts follow image-spec layer.md ("Changeset over existing files", "Whiteouts").
 */
import { constants } from 'node:fs';
import { link, lutimes, lchown, chmod, mkdir, open, rm, symlink, unlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { setAttribute } from '@napi-rs/xattr';
import { ImageStoreError, formatBytes } from './errors.js';
import {
  CAPABILITY_XATTR,
  OPAQUE_MARKER,
  WHITEOUT_PREFIX,
  createSpecialFiles,
  markOpaque,
  type SpecialFile,
} from './overlay.js';
import { TarFormatError, readTar, type TarHeader } from './tar-codec.js';

export interface ExtractLimits {
  maxLayerBytes: number;
  maxEntryBytes: number;
  maxMetaBytes: number;
  maxLayerEntries: number;
}

type Kind = 'dir' | 'file' | 'symlink' | 'special' | 'whiteout';

interface PendingAttrs {
  header: TarHeader;
  abs: string;
}

/**
 * Normalises a tar entry name to a relative path ('' is the layer root), refusing anything that
 * could leave the layer directory.
 */
export function safeEntryPath(name: string, what = 'entry'): string {
  if (name.includes('\0')) throw unsafe(name, what);
  if (name.startsWith('/')) throw unsafe(name, what);
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.some((part) => part === '..')) throw unsafe(name, what);
  return parts.join('/');
}

function unsafe(name: string, what: string): ImageStoreError {
  return new ImageStoreError('archive.unsafePath', `layer ${what} ${JSON.stringify(name)} points outside the layer`, { path: name });
}

function invalid(message: string, path: string): ImageStoreError {
  return new ImageStoreError('layer.invalid', message, { path });
}

/**
 * Reads the whole tar from `source`, writing the layer into `dest` (an existing empty directory).
 * Returns when every entry is applied, attributes included. The caller hashes the stream.
 */
export async function extractLayerTar(
  source: AsyncIterable<Buffer>,
  dest: string,
  limits: ExtractLimits,
): Promise<{ entries: number }> {
  const kinds = new Map<string, Kind>([['', 'dir']]);
  const pendingSpecials = new Map<string, SpecialFile & { header: TarHeader | null }>();
  const dirAttrs = new Map<string, PendingAttrs>();
  const opaqueDirs = new Set<string>();
  const abs = (rel: string): string => (rel === '' ? dest : join(dest, rel));
  let entries = 0;
  let bytes = 0;

  const ensureParents = async (rel: string): Promise<void> => {
    const parts = rel.split('/');
    parts.pop();
    let prefix = '';
    for (const part of parts) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      const kind = kinds.get(prefix);
      if (kind === 'dir') continue;
      if (kind === 'whiteout') {
        // "delete d, then add d/x" in one layer: d is a new directory hiding the old one.
        await removeExisting(prefix);
        opaqueDirs.add(prefix);
      } else if (kind !== undefined) {
        throw invalid(`layer entry /${rel} lies beneath /${prefix}, which is not a directory`, `/${rel}`);
      }
      // Parents the tar never listed (some writers omit them), created as Docker does.
      await mkdir(abs(prefix), { mode: 0o755 });
      kinds.set(prefix, 'dir');
    }
  };

  const removeExisting = async (rel: string): Promise<void> => {
    const kind = kinds.get(rel);
    if (kind === undefined) return;
    if (pendingSpecials.has(rel)) pendingSpecials.delete(rel);
    else if (kind === 'dir') await rm(abs(rel), { recursive: true, force: true });
    else await unlink(abs(rel));
    if (kind === 'dir') {
      for (const key of [...kinds.keys()]) if (key.startsWith(`${rel}/`)) kinds.delete(key);
      for (const key of [...dirAttrs.keys()]) if (key === rel || key.startsWith(`${rel}/`)) dirAttrs.delete(key);
      for (const key of [...pendingSpecials.keys()]) if (key.startsWith(`${rel}/`)) pendingSpecials.delete(key);
      for (const key of [...opaqueDirs]) if (key === rel || key.startsWith(`${rel}/`)) opaqueDirs.delete(key);
    }
    kinds.delete(rel);
  };

  const flushSpecials = async (): Promise<void> => {
    if (pendingSpecials.size === 0) return;
    const batch = [...pendingSpecials.values()];
    pendingSpecials.clear();
    await createSpecialFiles(dest, batch);
    for (const special of batch) {
      if (special.header !== null) await applyAttrs(abs(special.rel), special.header, false);
    }
  };

  try {
    for await (const { header, body } of readTar(source, limits)) {
      if (++entries > limits.maxLayerEntries) {
        throw new ImageStoreError('archive.tooLarge', `layer has more than ${limits.maxLayerEntries} entries`, {
          limit: `${limits.maxLayerEntries} entries`,
        });
      }
      const rel = safeEntryPath(header.name);
      if (rel === '') continue; // "./" itself: a layer never changes the root's attributes
      await ensureParents(rel);
      const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
      const base = posix.basename(rel);

      if (base.startsWith(WHITEOUT_PREFIX)) {
        if (header.type !== 'file') {
          throw invalid(`layer entry /${rel}: names starting with ".wh." are reserved for whiteouts`, `/${rel}`);
        }
        if (base === OPAQUE_MARKER) {
          opaqueDirs.add(parent);
          continue;
        }
        if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) continue; // AUFS bookkeeping
        const victim = base.slice(WHITEOUT_PREFIX.length);
        if (victim === '' || victim === '.' || victim === '..') {
          throw invalid(`layer entry /${rel} is a whiteout for the directory that holds it`, `/${rel}`);
        }
        const victimRel = parent === '' ? victim : `${parent}/${victim}`;
        const existing = kinds.get(victimRel);
        if (existing === 'dir') opaqueDirs.add(victimRel); // same-layer content wins, lower is hidden
        if (existing !== undefined) continue;
        pendingSpecials.set(victimRel, { rel: victimRel, kind: 'c', major: 0, minor: 0, header: null });
        kinds.set(victimRel, 'whiteout');
        continue;
      }

      const existing = kinds.get(rel);
      if (existing !== undefined && !(existing === 'dir' && header.type === 'directory')) {
        if (existing === 'whiteout' && header.type === 'directory') opaqueDirs.add(rel);
        await removeExisting(rel);
      }
      const path = abs(rel);

      switch (header.type) {
        case 'directory':
          if (kinds.get(rel) !== 'dir') await mkdir(path, { mode: 0o700 });
          kinds.set(rel, 'dir');
          dirAttrs.set(rel, { header, abs: path });
          break;
        case 'file': {
          bytes += header.size;
          if (bytes > limits.maxLayerBytes) {
            throw new ImageStoreError('archive.tooLarge', `layer content exceeds ${formatBytes(limits.maxLayerBytes)}`, {
              limit: formatBytes(limits.maxLayerBytes),
            });
          }
          const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            let written = 0;
            for await (const chunk of body) {
              await handle.write(chunk);
              written += chunk.length;
            }
            if (written !== header.size) throw new TarFormatError(`layer entry /${rel} is truncated`);
          } finally {
            await handle.close();
          }
          kinds.set(rel, 'file');
          await applyAttrs(path, header, true);
          break;
        }
        case 'hardlink': {
          const target = safeEntryPath(header.linkname ?? '', 'hard link target');
          const targetKind = kinds.get(target);
          if (targetKind !== 'file' && targetKind !== 'special' && targetKind !== 'symlink') {
            throw invalid(`layer entry /${rel} is a hard link to /${target}, which is not a file of this layer`, `/${rel}`);
          }
          if (pendingSpecials.has(target)) await flushSpecials();
          await link(abs(target), path);
          kinds.set(rel, targetKind);
          break;
        }
        case 'symlink':
          await symlink(header.linkname ?? '', path);
          kinds.set(rel, 'symlink');
          await applyAttrs(path, header, false);
          break;
        case 'chardev':
        case 'blockdev':
        case 'fifo':
          pendingSpecials.set(rel, {
            rel,
            kind: header.type === 'fifo' ? 'p' : header.type === 'chardev' ? 'c' : 'b',
            major: header.devmajor ?? 0,
            minor: header.devminor ?? 0,
            header,
          });
          kinds.set(rel, 'special');
          break;
      }
    }
  } catch (err) {
    if (err instanceof TarFormatError) throw new ImageStoreError('archive.invalid', `layer is not a valid tar: ${err.message}`);
    throw err;
  }

  await flushSpecials();
  for (const rel of opaqueDirs) {
    if (kinds.get(rel) === 'dir') await markOpaque(abs(rel));
  }
  // Directory times last and deepest first: creating children bumps a directory's mtime.
  const dirs = [...dirAttrs.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const rel of dirs) {
    const { header, abs: path } = dirAttrs.get(rel)!;
    await applyAttrs(path, header, false);
  }
  return { entries };
}

/**
 * Ownership, then mode (chown clears setuid/setgid), then the capability (chown clears that
 * too), then times.
 */
async function applyAttrs(path: string, header: TarHeader, isFile: boolean): Promise<void> {
  await lchown(path, header.uid, header.gid);
  if (header.type !== 'symlink') await chmod(path, header.mode & 0o7777);
  const capability = header.xattrs?.get(CAPABILITY_XATTR);
  if (isFile && capability !== undefined) await setAttribute(path, CAPABILITY_XATTR, capability);
  await lutimes(path, header.mtime, header.mtime);
}
