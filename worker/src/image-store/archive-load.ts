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
 *    and tags set. A failure at any point removes whatever this load created; a process killed
 *    while publishing leaves a journal that cleanup() uses to do the same.
 * Every tag's store name is decided (by the caller's `nameFor`) and checked before any write, and
 * every byte written is bounded (LoadBudget), so a hostile archive can neither write a name it
 * was not given nor fill the disk.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { requireLayers, storeLock, type StoreContext } from './context.js';
import { chainIdOf, chainIdsOf, sha256, type Digest } from './digest.js';
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

export interface LoadOptions {
  /**
   * The store name each of the archive's tags becomes (a session's own name for it), or null to
   * leave that name as it is (it already names this image). Called for every tag before anything
   * is written; a throw refuses the whole load.
   */
  nameFor?: (tag: ImageReference, imageId: Digest) => ImageReference | null;
  /**
   * Called once every new layer is staged, before anything is published, with what the load
   * would add; a throw (a quota) refuses the whole load.
   */
  admit?: (adding: LoadAdmission) => Promise<void> | void;
  /** Called with the store lock held once images are written, before any tag (to record who owns them); a throw undoes the load. */
  beforeTags?: (imageIds: Digest[]) => Promise<void>;
  /** Most uncompressed layer bytes the load may stage (a session's remaining disk quota). */
  maxBytes?: number;
  /** The error for passing `maxBytes`, given the bytes staged so far (default: archive.tooLarge). */
  maxBytesError?: (stagedBytes: number) => Error;
  /** Called after each new layer is staged (tests use it to fail or stop a load midway). */
  afterLayerStaged?: (count: number) => Promise<void> | void;
}

export interface LoadAdmission {
  images: Digest[];
  /** Images not yet in the store. */
  newImages: Digest[];
  /** Uncompressed tar bytes of the layers the store did not have. */
  stagedBytes: number;
}

export interface LoadResult {
  /** `tags`: the store names written; `unchangedTags`: archive tags `nameFor` left as they were. */
  images: { id: Digest; tags: string[]; unchangedTags: string[] }[];
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
  /** Archive tags left unwritten (nameFor gave null). */
  unchanged: string[];
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
    return { configBytes, config, layers, tags, unchanged: [] };
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
      const planned = byConfig.get(manifest.config.digest) ?? { configBytes, config, layers, tags: [], unchanged: [] };
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

/**
 * What one load may write. Two bounds, each checked as bytes arrive (so a gzip bomb stops at the
 * bound, not when the disk is full): `disk`, what the data filesystem has free less a reserve
 * for everyone else, charged for every byte this load writes (the unpacked archive, each layer's
 * extracted files and its kept tar); `content`, the caller's bound on layer bytes (a session's
 * remaining quota), charged for each staged layer's tar.
 */
class LoadBudget {
  private diskUsed = 0;
  private contentUsed = 0;

  constructor(
    readonly disk: number,
    readonly content: number,
    private readonly contentError?: (stagedBytes: number) => Error,
  ) {}

  static async of(ctx: StoreContext, options: LoadOptions): Promise<LoadBudget> {
    const fs = await statfs(ctx.paths.tmpDir);
    const size = fs.blocks * fs.bsize;
    const reserve = Math.max(64 * 1024 ** 2, Math.round(size * 0.02));
    const disk = Math.max(0, fs.bavail * fs.bsize - reserve);
    return new LoadBudget(disk, options.maxBytes ?? ctx.limits.maxLayerBytes * 4, options.maxBytesError);
  }

  get stagedBytes(): number {
    return this.contentUsed;
  }

  writeDisk(bytes: number, what: string): void {
    this.diskUsed += bytes;
    if (this.diskUsed > this.disk) {
      throw new ImageStoreError('archive.tooLarge', `${what} needs more than the ${formatBytes(this.disk)} this machine has free for it`, {
        limit: formatBytes(this.disk),
      });
    }
  }

  stageLayer(bytes: number, what: string): void {
    this.contentUsed += bytes;
    if (this.contentUsed > this.content) {
      if (this.contentError) throw this.contentError(this.contentUsed);
      throw new ImageStoreError('archive.tooLarge', `${what}: the archive's layers hold more than ${formatBytes(this.content)}`, {
        limit: formatBytes(this.content),
      });
    }
    // Extracted files, and the tar kept beside them until it is known to be reproducible.
    this.writeDisk(2 * bytes, what);
  }
}

/** A layer's bytes, charged to the budget as they are read. */
async function* budgeted(source: AsyncIterable<Buffer>, budget: LoadBudget, what: string): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    budget.stageLayer(chunk.length, what);
    yield chunk;
  }
}

/** A gzipped archive (`docker save | gzip`) is unpacked into the load's work dir first: loading reads it twice. */
async function uncompressedArchive(ctx: StoreContext, file: string, workDir: string, budget: LoadBudget): Promise<string> {
  const handle = await open(file, 'r');
  const magic = Buffer.alloc(2);
  try {
    await handle.read(magic, 0, 2, 0);
  } finally {
    await handle.close();
  }
  if (!magic.equals(GZIP_MAGIC)) return file;
  const path = join(workDir, 'archive.tar');
  let bytes = 0;
  // An archive holds its layers and small documents: more than the layers may hold is a bomb.
  const limit = Math.min(ctx.limits.maxLayerBytes * 4, budget.content + ctx.limits.maxArchiveMetadataBytes);
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
          budget.writeDisk(chunk.length, 'unpacking the archive');
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
  return path;
}

/**
 * What publishing will create, written before the first change: if the loading process dies
 * mid-publish, cleanup() finds this file in a dead process's tmp/ entry and undoes the load. Its
 * removal, the last step under the lock, is the load's commit point.
 */
interface LoadJournal {
  layers: Digest[];
  images: Digest[];
  tags: { ref: string; imageId: Digest; previous: Digest | null }[];
}

const JOURNAL = 'journal.json';

/**
 * With the store lock held: puts back what a load's journal lists. A tag goes back to what it
 * named before only if it still names what the load put there; an image or layer goes only if
 * nothing else came to use it meanwhile.
 */
export async function undoLoad(ctx: StoreContext, journal: LoadJournal): Promise<void> {
  for (const { ref, imageId, previous } of [...journal.tags].reverse()) {
    const parsed = parseReference(ref);
    if ((await ctx.refs.get(parsed)) !== imageId) continue;
    if (previous !== null && (await ctx.images.exists(previous))) await ctx.refs.set(parsed, previous);
    else await ctx.refs.delete(parsed);
  }
  for (const id of [...journal.images].reverse()) {
    if ((await ctx.refs.tagsOf(id)).length === 0) await ctx.images.remove(id);
  }
  const used = new Set<Digest>();
  for (const image of await ctx.images.all()) for (const chainId of chainIdsOf(image.config.rootfs.diff_ids)) used.add(chainId);
  for (const chainId of [...journal.layers].reverse()) if (!used.has(chainId)) await ctx.layers.remove(chainId);
}

/** For cleanup(): undoes the load a dead process left in `workDir`, if it died mid-publish. */
export async function undoInterruptedLoad(ctx: StoreContext, workDir: string): Promise<boolean> {
  let journal: LoadJournal;
  try {
    journal = JSON.parse(await readFile(join(workDir, JOURNAL), 'utf8')) as LoadJournal;
  } catch {
    return false;
  }
  await undoLoad(ctx, journal);
  ctx.log.warn({ workDir, images: journal.images, tags: journal.tags.map((t) => t.ref) }, 'undid a load its process did not finish');
  return true;
}

export async function loadArchive(ctx: StoreContext, file: string, options: LoadOptions = {}): Promise<LoadResult> {
  const workDir = ctx.paths.newTmp('load');
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const staged: StagedLayer[] = [];
  try {
    const budget = await LoadBudget.of(ctx, options);
    const archivePath = await uncompressedArchive(ctx, file, workDir, budget);
    const entries = await indexArchive(archivePath, ctx);
    const plan = entries.has('manifest.json')
      ? planDockerArchive(entries)
      : entries.has('index.json')
        ? planOciLayout(entries)
        : (() => {
            throw bad('not an image archive: it has neither manifest.json nor index.json');
          })();
    if (plan.length === 0) throw bad('archive contains no images');
    // Every name the load will write, decided (and refused) before anything is written.
    const nameFor = options.nameFor ?? ((ref: ImageReference) => ref);
    const tagged = new Map<string, Digest>();
    for (const image of plan) {
      const id = sha256(image.configBytes);
      const names: ImageReference[] = [];
      for (const tag of image.tags) {
        const name = nameFor(tag, id);
        if (name === null) {
          image.unchanged.push(formatReference(tag));
          continue;
        }
        const text = formatReference(name);
        if (tagged.has(text) && tagged.get(text) !== id) throw bad(`archive gives the name ${text} to two different images`);
        if (!tagged.has(text)) names.push(name);
        tagged.set(text, id);
      }
      image.tags = names;
    }

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
          await verifyOnly(archivePath, layer, ctx.limits.maxLayerBytes);
        } else {
          const what = `layer "${layer.entry.name}"`;
          staged.push(await ctx.layers.stageTar(budgeted(layerBytes(archivePath, layer), budget, what), parent, layer.diffId, ctx.limits));
          stagedChains.add(chainId);
          await options.afterLayerStaged?.(staged.length);
        }
        parent = chainId;
      }
    }

    const imageIds = [...new Set(plan.map((image) => sha256(image.configBytes)))];
    const newImages: Digest[] = [];
    for (const id of imageIds) if (!(await ctx.images.exists(id))) newImages.push(id);
    await options.admit?.({ images: imageIds, newImages, stagedBytes: budget.stagedBytes });

    return await storeLock(ctx, async () => {
      const journal: LoadJournal = { layers: [], images: [], tags: [] };
      for (const layer of staged) if ((await ctx.layers.get(layer.record.chainId)) === null) journal.layers.push(layer.record.chainId);
      for (const id of imageIds) if (!(await ctx.images.exists(id))) journal.images.push(id);
      for (const image of plan) {
        const imageId = sha256(image.configBytes);
        for (const tag of image.tags) journal.tags.push({ ref: formatReference(tag), imageId, previous: await ctx.refs.get(tag) });
      }
      await writeFile(join(workDir, JOURNAL), JSON.stringify(journal));
      const result: LoadResult = { images: [], retagged: [] };
      try {
        for (const layer of staged) await ctx.layers.publish(layer);
        for (const image of plan) {
          const layers = await requireLayers(ctx, image.config);
          const id = sha256(image.configBytes);
          if (!(await ctx.images.exists(id))) await ctx.images.write(image.configBytes, buildManifest(image.configBytes, layers));
          result.images.push({ id, tags: image.tags.map(formatReference), unchangedTags: image.unchanged });
        }
        await options.beforeTags?.(imageIds);
        // Tags last: an image and its layers are all in place before any name points at them.
        for (const entry of journal.tags) {
          await ctx.refs.set(parseReference(entry.ref), entry.imageId);
          if (entry.previous !== null && entry.previous !== entry.imageId) result.retagged.push({ tag: entry.ref, previous: entry.previous });
        }
        await unlink(join(workDir, JOURNAL)); // the commit point
      } catch (err) {
        await undoLoad(ctx, journal);
        throw err;
      }
      ctx.log.info({ file, images: result.images }, 'images loaded');
      return result;
    });
  } finally {
    for (const layer of staged) await ctx.layers.discard(layer);
    await rm(workDir, { recursive: true, force: true });
  }
}
