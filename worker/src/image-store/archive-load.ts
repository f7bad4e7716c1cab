/**
 * `docker load`: reads a `docker save` archive (manifest.json) or an OCI image layout tar
 * (index.json), gzipped or not, and adds its images, layers and tags to the store.
 *
 * An archive is untrusted input, so loading is all-or-nothing and checked at every step:
 * 1. index: one pass over the outer tar records each entry (offset, size, sha256, and the bytes
 *    of small documents). Names with `..` or absolute paths, symlinks leaving the archive,
 *    unsupported entry types and sizes beyond the file or the limits fail here;
 * 2. plan: the JSON documents are validated (zod) and every digest the names or descriptors
 *    promise is compared with what was hashed: config digests, blob digests and sizes;
 * 3. stage: each new layer is extracted into tmp/ straight from its place in the archive file
 *    and its uncompressed sha256 compared with the config's diff_id;
 * 4. publish: only then, under the store lock, layers are renamed into place, images written
 *    and tags set. A failure at any point removes whatever this load created.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { requireLayers, storeLock, type StoreContext } from './context.js';
import { chainIdOf, sha256, type Digest } from './digest.js';
import { ImageStoreError, formatBytes } from './errors.js';
import { imageStoreLimits } from './limits.js';
import { buildManifest } from './image-records.js';
import type { StagedLayer } from './layer-store.js';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from './media-types.js';
import { formatReference, parseReference, type ImageReference } from './references.js';
import {
  DockerArchiveManifestSchema,
  ImageConfigSchema,
  OciIndexSchema,
  OciManifestSchema,
  type Descriptor,
  type ImageConfig,
} from './schemas.js';

export interface LoadResult {
  images: { id: Digest; tags: string[] }[];
  /** Tags that pointed at another image before the load (Docker prints a notice for these). */
  retagged: { tag: string; previous: Digest }[];
}

interface ArchiveEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  /** Offset of the entry's data in the (uncompressed) archive file. */
  offset: number;
  size: number;
  digest: Digest | null;
  /** The first bytes, to recognise compressed layers. */
  magic: Buffer;
  /** The whole content, kept for small documents only. */
  data: Buffer | null;
  linkTarget: string | null;
}

type Compression = 'none' | 'gzip';

interface PlannedLayer {
  entry: ArchiveEntry;
  compression: Compression;
  diffId: Digest;
}

interface PlannedImage {
  configBytes: Buffer;
  config: ImageConfig;
  layers: PlannedLayer[];
  tags: ImageReference[];
}

const bad = (message: string, facts: Record<string, string> = {}): ImageStoreError =>
  new ImageStoreError('archive.invalid', message, facts);

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** An archive member name as a clean relative path; refuses anything that could escape. */
export function safeArchivePath(name: string): string {
  if (name.includes('\0') || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\')) {
    throw new ImageStoreError('archive.unsafePath', `archive entry "${name}" is not a safe relative path`, { path: name });
  }
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new ImageStoreError('archive.unsafePath', `archive entry "${name}" points outside the archive`, { path: name });
  }
  return parts.join('/');
}

// ---- 1. index -------------------------------------------------------------------------------

async function indexArchive(file: string, ctx: StoreContext): Promise<Map<string, ArchiveEntry>> {
  const { limits } = ctx;
  const fileSize = (await stat(file)).size;
  const entries = new Map<string, ArchiveEntry>();
  let keptBytes = 0;
  const extract = tar.extract();
  const input = createReadStream(file);
  const feeding = pipeline(input, extract).catch((err: Error) => err);
  try {
    for await (const member of extract) {
      const header = member.header;
      if (entries.size >= limits.maxArchiveEntries) {
        throw new ImageStoreError('archive.tooLarge', `archive has more than ${limits.maxArchiveEntries} entries`, {
          limit: `${limits.maxArchiveEntries} entries`,
        });
      }
      const name = safeArchivePath(header.name);
      if (entries.has(name)) throw bad(`archive has two entries named "${name}"`, { path: name });
      const size = header.size ?? 0;
      const offset = (header as Header & { byteOffset?: number }).byteOffset ?? member.offset + 512;
      const entry: ArchiveEntry = { name, type: 'file', offset, size, digest: null, magic: Buffer.alloc(0), data: null, linkTarget: null };

      if (header.type === 'directory') {
        entry.type = 'directory';
        member.resume();
      } else if (header.type === 'symlink') {
        entry.type = 'symlink';
        entry.linkTarget = header.linkname ?? '';
        member.resume();
      } else if (header.type === 'file' || header.type === 'contiguous-file') {
        if (offset + size > fileSize) {
          throw new ImageStoreError('archive.tooLarge', `archive entry "${name}" claims ${size} bytes, more than the archive holds`, {
            path: name,
            limit: formatBytes(fileSize),
          });
        }
        const keep = size <= limits.maxJsonBytes && keptBytes + size <= limits.maxArchiveMetadataBytes;
        if (keep) keptBytes += size;
        const hash: Hash = createHash('sha256');
        const kept: Buffer[] = [];
        let magicLength = 0;
        for await (const chunk of member as AsyncIterable<Buffer>) {
          hash.update(chunk);
          if (magicLength < 4) {
            entry.magic = Buffer.concat([entry.magic, chunk.subarray(0, 4 - magicLength)]);
            magicLength = entry.magic.length;
          }
          if (keep) kept.push(chunk);
        }
        entry.digest = `sha256:${hash.digest('hex')}`;
        entry.data = keep ? Buffer.concat(kept) : null;
      } else {
        throw bad(`archive entry "${name}" has unsupported type ${header.type}`, { path: name });
      }
      entries.set(name, entry);
    }
  } catch (err) {
    input.destroy();
    extract.destroy();
    if (err instanceof ImageStoreError) throw err;
    throw bad(`not a valid tar archive: ${(err as Error).message}`);
  }
  const fed = await feeding;
  if (fed instanceof Error) throw bad(`not a valid tar archive: ${fed.message}`);
  return entries;
}

/** Follows symlinks (older `docker save` links shared layers) without leaving the archive. */
function lookup(entries: Map<string, ArchiveEntry>, rawPath: string, what: string): ArchiveEntry {
  let path = safeArchivePath(rawPath);
  for (let hops = 0; hops < 16; hops++) {
    const entry = entries.get(path);
    if (entry === undefined) throw bad(`archive is missing ${what} "${rawPath}"`, { path: rawPath });
    if (entry.type === 'file') return entry;
    if (entry.type !== 'symlink') throw bad(`${what} "${rawPath}" is not a file`, { path: rawPath });
    const target = entry.linkTarget ?? '';
    if (target.startsWith('/')) {
      throw new ImageStoreError('archive.unsafePath', `archive symlink "${entry.name}" points outside the archive`, { path: entry.name });
    }
    const joined = posix.normalize(posix.join(posix.dirname(entry.name), target));
    if (joined === '..' || joined.startsWith('../')) {
      throw new ImageStoreError('archive.unsafePath', `archive symlink "${entry.name}" points outside the archive`, { path: entry.name });
    }
    path = safeArchivePath(joined);
  }
  throw bad(`archive symlinks for "${rawPath}" loop`, { path: rawPath });
}

function documentOf(entry: ArchiveEntry, what: string): Buffer {
  if (entry.data === null) {
    throw new ImageStoreError('archive.tooLarge', `${what} "${entry.name}" (${entry.size} bytes) is larger than the limit for JSON documents`, {
      path: entry.name,
      limit: formatBytes(imageStoreLimits.maxJsonBytes),
    });
  }
  return entry.data;
}

function parseJson<T>(bytes: Buffer, schema: { parse(value: unknown): T }, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad(`${what} is not valid JSON`);
  }
  try {
    return schema.parse(value);
  } catch (err) {
    throw bad(`${what} is not valid: ${(err as Error).message.slice(0, 500)}`);
  }
}

function mismatch(what: string, expected: string, actual: string): ImageStoreError {
  return new ImageStoreError('archive.digestMismatch', `${what} does not match its digest: expected ${expected}, got ${actual}`, {
    item: what,
    expected,
    actual,
  });
}

/** The digest a `blobs/sha256/<hex>` (or legacy `<hex>.json`) name promises, if any. */
function digestInName(path: string): Digest | null {
  const match = /(?:^|\/)(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(path);
  return match ? `sha256:${match[1]}` : null;
}

function compressionOf(entry: ArchiveEntry): Compression {
  if (entry.magic.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (entry.magic.equals(ZSTD_MAGIC)) throw bad(`layer "${entry.name}" is zstd-compressed, which this engine cannot load yet`);
  return 'none';
}

function checkConfig(config: ImageConfig, layerCount: number, what: string): void {
  if (config.os !== 'linux') throw bad(`cannot load ${config.os} image on linux (${what})`);
  if (config.rootfs.diff_ids.length !== layerCount) {
    throw bad(`invalid manifest, layers length mismatch: expected ${config.rootfs.diff_ids.length}, got ${layerCount} (${what})`);
  }
}

// ---- 2. plan --------------------------------------------------------------------------------

function planDockerArchive(entries: Map<string, ArchiveEntry>): PlannedImage[] {
  const items = parseJson(documentOf(lookup(entries, 'manifest.json', 'manifest'), 'manifest.json'), DockerArchiveManifestSchema, 'manifest.json');
  return items.map((item) => {
    const configEntry = lookup(entries, item.Config, 'image config');
    const configBytes = documentOf(configEntry, 'image config');
    const promised = digestInName(item.Config);
    if (promised !== null && sha256(configBytes) !== promised) throw mismatch(`image config "${item.Config}"`, promised, sha256(configBytes));
    const config = parseJson(configBytes, ImageConfigSchema, `image config "${item.Config}"`);
    checkConfig(config, item.Layers.length, item.Config);
    const layers = item.Layers.map((path, i): PlannedLayer => {
      const entry = lookup(entries, path, 'layer');
      const blobDigest = digestInName(path);
      if (blobDigest !== null && entry.digest !== blobDigest) throw mismatch(`layer blob "${path}"`, blobDigest, entry.digest ?? '');
      return { entry, compression: compressionOf(entry), diffId: config.rootfs.diff_ids[i]! };
    });
    const tags = (item.RepoTags ?? []).map((tag) => parseReference(tag));
    return { configBytes, config, layers, tags };
  });
}

function blobEntry(entries: Map<string, ArchiveEntry>, descriptor: Descriptor, what: string): ArchiveEntry {
  const entry = lookup(entries, `blobs/sha256/${descriptor.digest.slice(7)}`, what);
  if (entry.digest !== descriptor.digest) throw mismatch(`${what} ${descriptor.digest}`, descriptor.digest, entry.digest ?? '');
  if (entry.size !== descriptor.size) {
    throw bad(`${what} ${descriptor.digest} is ${entry.size} bytes, its descriptor says ${descriptor.size}`);
  }
  return entry;
}

const hostArchitecture = (): string => ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' })[process.arch as string] ?? process.arch;

function planOciLayout(entries: Map<string, ArchiveEntry>): PlannedImage[] {
  const byConfig = new Map<Digest, PlannedImage>();
  const visit = (descriptors: Descriptor[], depth: number): void => {
    for (const descriptor of descriptors) {
      if (INDEX_MEDIA_TYPES.includes(descriptor.mediaType)) {
        if (depth > 2) throw bad('OCI index nests too deeply');
        const nested = parseJson(documentOf(blobEntry(entries, descriptor, 'index'), 'index'), OciIndexSchema, `index ${descriptor.digest}`);
        // A multi-platform index: load the variant this host can run.
        const matching = nested.manifests.filter(
          (m) => m.platform === undefined || (m.platform.os === 'linux' && m.platform.architecture === hostArchitecture()),
        );
        visit(matching.slice(0, 1), depth + 1);
        continue;
      }
      if (!MANIFEST_MEDIA_TYPES.includes(descriptor.mediaType)) continue; // signatures, attestations…
      const manifest = parseJson(documentOf(blobEntry(entries, descriptor, 'manifest'), 'manifest'), OciManifestSchema, `manifest ${descriptor.digest}`);
      const configBytes = documentOf(blobEntry(entries, manifest.config, 'image config'), 'image config');
      const config = parseJson(configBytes, ImageConfigSchema, `image config ${manifest.config.digest}`);
      checkConfig(config, manifest.layers.length, `manifest ${descriptor.digest}`);
      const layers = manifest.layers.map((layer, i): PlannedLayer => {
        const entry = blobEntry(entries, layer, 'layer');
        if (layer.mediaType === MediaType.ociLayerZstd) throw bad(`layer ${layer.digest} is zstd-compressed, which this engine cannot load yet`);
        return { entry, compression: compressionOf(entry), diffId: config.rootfs.diff_ids[i]! };
      });
      const planned = byConfig.get(manifest.config.digest) ?? { configBytes, config, layers, tags: [] };
      const name = descriptor.annotations?.['io.containerd.image.name'] ?? descriptor.annotations?.['org.opencontainers.image.ref.name'];
      // A bare `ref.name` ("latest") names no repository, so it cannot become a tag here.
      if (name !== undefined && /[:/]/.test(name)) planned.tags.push(parseReference(name));
      byConfig.set(manifest.config.digest, planned);
    }
  };
  const index = parseJson(documentOf(lookup(entries, 'index.json', 'index'), 'index.json'), OciIndexSchema, 'index.json');
  visit(index.manifests, 0);
  return [...byConfig.values()];
}

// ---- 3. stage and 4. publish -----------------------------------------------------------------

/** The uncompressed bytes of a layer blob, read from its place in the archive file. */
async function* layerBytes(file: string, layer: PlannedLayer): AsyncGenerator<Buffer> {
  if (layer.entry.size === 0) return;
  const raw = createReadStream(file, { start: layer.entry.offset, end: layer.entry.offset + layer.entry.size - 1 });
  const stream: Readable = layer.compression === 'gzip' ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (err) => stream.destroy(err));
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } finally {
    raw.destroy();
    stream.destroy();
  }
}

async function verifyOnly(file: string, layer: PlannedLayer, maxBytes: number): Promise<void> {
  let actual: Digest | null = layer.compression === 'none' ? layer.entry.digest : null;
  if (actual === null) {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of layerBytes(file, layer)) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        throw new ImageStoreError('archive.tooLarge', `layer "${layer.entry.name}" decompresses to more than ${formatBytes(maxBytes)}`, {
          limit: formatBytes(maxBytes),
        });
      }
      hash.update(chunk);
    }
    actual = `sha256:${hash.digest('hex')}`;
  }
  if (actual !== layer.diffId) throw mismatch(`layer "${layer.entry.name}"`, layer.diffId, actual ?? '');
}

/** A gzipped archive (`docker save | gzip`) is unpacked into tmp/ first: loading reads it twice. */
async function uncompressedArchive(ctx: StoreContext, file: string): Promise<{ path: string; temporary: boolean }> {
  const handle = await open(file, 'r');
  const magic = Buffer.alloc(2);
  try {
    await handle.read(magic, 0, 2, 0);
  } finally {
    await handle.close();
  }
  if (!magic.equals(GZIP_MAGIC)) return { path: file, temporary: false };
  const path = ctx.paths.newTmp('load-archive');
  let bytes = 0;
  const limit = ctx.limits.maxLayerBytes * 4;
  try {
    await pipeline(
      createReadStream(file),
      createGunzip(),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.length;
          if (bytes > limit) {
            throw new ImageStoreError('archive.tooLarge', `archive decompresses to more than ${formatBytes(limit)}`, { limit: formatBytes(limit) });
          }
          yield chunk;
        }
      },
      createWriteStream(path, { flags: 'wx', mode: 0o600 }),
    );
  } catch (err) {
    await rm(path, { force: true });
    if (err instanceof ImageStoreError) throw err;
    throw bad(`archive is not valid gzip: ${(err as Error).message}`);
  }
  return { path, temporary: true };
}

export async function loadArchive(ctx: StoreContext, file: string): Promise<LoadResult> {
  const archive = await uncompressedArchive(ctx, file);
  const staged: StagedLayer[] = [];
  try {
    const entries = await indexArchive(archive.path, ctx);
    const plan = entries.has('manifest.json')
      ? planDockerArchive(entries)
      : entries.has('index.json')
        ? planOciLayout(entries)
        : (() => {
            throw bad('not an image archive: it has neither manifest.json nor index.json');
          })();
    if (plan.length === 0) throw bad('archive contains no images');

    // Fail fast on uncompressed layers whose bytes were already hashed while indexing.
    for (const image of plan) {
      for (const layer of image.layers) {
        if (layer.compression === 'none' && layer.entry.digest !== layer.diffId) {
          throw mismatch(`layer "${layer.entry.name}"`, layer.diffId, layer.entry.digest ?? '');
        }
      }
    }

    const stagedChains = new Set<Digest>();
    for (const image of plan) {
      let parent: Digest | null = null;
      for (const layer of image.layers) {
        const chainId: Digest = chainIdOf(parent, layer.diffId);
        if (stagedChains.has(chainId)) {
          // shared with an image earlier in this archive
        } else if ((await ctx.layers.get(chainId)) !== null) {
          await verifyOnly(archive.path, layer, ctx.limits.maxLayerBytes);
        } else {
          staged.push(await ctx.layers.stageTar(layerBytes(archive.path, layer), parent, layer.diffId, ctx.limits));
          stagedChains.add(chainId);
        }
        parent = chainId;
      }
    }

    return await storeLock(ctx, async () => {
      const createdLayers: Digest[] = [];
      const createdImages: Digest[] = [];
      const result: LoadResult = { images: [], retagged: [] };
      try {
        for (const layer of staged) {
          const existed = (await ctx.layers.get(layer.record.chainId)) !== null;
          await ctx.layers.publish(layer);
          if (!existed) createdLayers.push(layer.record.chainId);
        }
        for (const image of plan) {
          const layers = await requireLayers(ctx, image.config);
          const id = sha256(image.configBytes);
          if (!(await ctx.images.exists(id))) {
            await ctx.images.write(image.configBytes, buildManifest(image.configBytes, layers));
            createdImages.push(id);
          }
          result.images.push({ id, tags: image.tags.map(formatReference) });
        }
        // Tags last: an image and its layers are all in place before any name points at them.
        for (const [i, image] of plan.entries()) {
          for (const tag of image.tags) {
            const previous = await ctx.refs.set(tag, result.images[i]!.id);
            if (previous !== null) result.retagged.push({ tag: formatReference(tag), previous });
          }
        }
      } catch (err) {
        for (const id of createdImages) await ctx.images.remove(id);
        for (const chainId of createdLayers.reverse()) await ctx.layers.remove(chainId);
        throw err;
      }
      ctx.log.info({ file, images: result.images }, 'images loaded');
      return result;
    });
  } finally {
    for (const layer of staged) await ctx.layers.discard(layer);
    if (archive.temporary) await rm(archive.path, { force: true });
  }
}
