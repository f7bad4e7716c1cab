/**
 * `docker save`: one tar that Docker reads through either door, as Docker 25+ writes it.
 *
 *   blobs/sha256/<hex>   layer tars (uncompressed, digest = diff_id), configs, OCI manifests
 *   oci-layout           {"imageLayoutVersion":"1.0.0"}            (OCI image-layout.md)
 *   index.json           OCI index, one manifest descriptor per tag, annotated with
 *                        io.containerd.image.name and org.opencontainers.image.ref.name
 *   manifest.json        [{Config, RepoTags, Layers}] with paths into blobs/ (Docker image spec
 *                        v1.2, "Combined Image JSON + Filesystem Changeset Format")
 *   repositories         {repo: {tag: <top layer id>}}, for pre-1.10 readers
 *
 * Every entry has mtime 0 and root ownership, so saving the same images twice gives the same
 * bytes. The archive is written beside the target and renamed into place: a failed save
 * leaves no partial file behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar, { type Header, type Pack } from 'tar-stream';
import { imageView, type Image, type StoreContext } from './context.js';
import { digestHex, type Digest } from './digest.js';
import { MediaType } from './media-types.js';
import {
  formatReference,
  hasExplicitTag,
  qualifiedReference,
  tryParseReference,
  type ImageReference,
} from './references.js';
import type { Descriptor } from './schemas.js';

const EPOCH = new Date(0);

interface Selected {
  image: Image;
  configBytes: Buffer;
  manifestBytes: Buffer;
  tags: ImageReference[];
}

const blobPath = (digest: Digest): string => `blobs/sha256/${digestHex(digest)}`;

/** Which images (and under which tags) the arguments of `docker save` name. */
async function selectImages(
  ctx: StoreContext,
  refs: readonly string[],
  resolve: (ref: string) => Promise<Digest>,
): Promise<Map<Digest, ImageReference[]>> {
  const selected = new Map<Digest, ImageReference[]>();
  const add = (id: Digest, tag: ImageReference | null): void => {
    const tags = selected.get(id) ?? [];
    if (tag !== null && !tags.some((t) => formatReference(t) === formatReference(tag))) tags.push(tag);
    selected.set(id, tags);
  };
  const allRefs = await ctx.refs.list();
  for (const raw of refs) {
    const input = raw.trim();
    const named = tryParseReference(input);
    if (named !== null && !hasExplicitTag(input)) {
      // A bare repository name saves every tag of it, as Docker does.
      const ofRepo = allRefs.filter((entry) => entry.ref.repository === named.repository);
      if (ofRepo.length > 0) {
        for (const entry of ofRepo) add(entry.imageId, entry.ref);
        continue;
      }
    } else if (named !== null) {
      const id = await ctx.refs.get(named);
      if (id !== null) {
        add(id, named);
        continue;
      }
    }
    add(await resolve(input), null);
  }
  return selected;
}

export interface SaveOptions {
  /**
   * The name a store tag gets in the archive (null: the store's own). A session's names live in
   * the store under a prefix of its own; the archive carries the name the learner gave, so
   * `docker load` then `docker run NAME` works.
   */
  archiveName?: (storeTag: ImageReference) => ImageReference | null;
}

export async function saveArchive(
  ctx: StoreContext,
  refs: readonly string[],
  file: string,
  resolve: (ref: string) => Promise<Digest>,
  options: SaveOptions = {},
): Promise<void> {
  if (refs.length === 0) throw new Error('save needs at least one image');
  const chosen: Selected[] = [];
  for (const [id, storeTags] of await selectImages(ctx, refs, resolve)) {
    const tags = storeTags.map((tag) => options.archiveName?.(tag) ?? tag);
    const stored = await ctx.images.read(id);
    if (stored === null) continue;
    chosen.push({ image: await imageView(ctx, stored), configBytes: stored.configBytes, manifestBytes: stored.manifestBytes, tags });
  }

  const tmpFile = join(dirname(file), `.${basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.partial`);
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(tmpFile, { flags: 'wx', mode: 0o644 }));
  written.catch(() => undefined); // awaited below; keeps an early failure from going unhandled

  const entry = (header: Partial<Header> & Pick<Header, 'name'>, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const full = { uid: 0, gid: 0, mtime: EPOCH, mode: header.type === 'directory' ? 0o755 : 0o644, ...header };
      if (body === undefined) pack.entry(full, (err) => (err ? reject(err) : resolve()));
      else pack.entry(full, body, (err) => (err ? reject(err) : resolve()));
    });

  try {
    await entry({ name: 'blobs/', type: 'directory' });
    await entry({ name: 'blobs/sha256/', type: 'directory' });
    const blobsWritten = new Set<Digest>();

    for (const { image } of chosen) {
      for (const layer of image.layers) {
        if (blobsWritten.has(layer.diffId)) continue;
        blobsWritten.add(layer.diffId);
        await writeLayer(ctx, pack, layer);
      }
    }
    for (const { image, configBytes, manifestBytes } of chosen) {
      for (const [digest, bytes] of [
        [image.id, configBytes],
        [image.manifestDigest, manifestBytes],
      ] as const) {
        if (blobsWritten.has(digest)) continue;
        blobsWritten.add(digest);
        await entry({ name: blobPath(digest), size: bytes.length }, bytes);
      }
    }

    const manifests: Descriptor[] = [];
    const dockerManifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const { image, manifestBytes, tags } of chosen) {
      const descriptor: Descriptor = {
        mediaType: MediaType.ociManifest,
        digest: image.manifestDigest,
        size: manifestBytes.length,
        platform: { architecture: image.config.architecture, os: image.config.os },
      };
      if (tags.length === 0) manifests.push(descriptor);
      for (const tag of tags) {
        manifests.push({
          ...descriptor,
          annotations: {
            'io.containerd.image.name': qualifiedReference(tag),
            'org.opencontainers.image.ref.name': tag.tag,
          },
        });
        const top = image.layers.at(-1);
        if (top !== undefined) (repositories[tag.repository] ??= {})[tag.tag] = digestHex(top.diffId);
      }
      dockerManifest.push({
        Config: blobPath(image.id),
        RepoTags: tags.length > 0 ? tags.map(formatReference) : null,
        Layers: image.layers.map((layer) => blobPath(layer.diffId)),
      });
    }

    const json = (value: unknown): Buffer => Buffer.from(`${JSON.stringify(value)}\n`);
    await entry({ name: 'index.json' }, json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
    await entry({ name: 'manifest.json' }, json(dockerManifest));
    await entry({ name: 'oci-layout' }, json({ imageLayoutVersion: '1.0.0' }));
    if (Object.keys(repositories).length > 0) await entry({ name: 'repositories' }, json(repositories));
    pack.finalize();
    await written;
    await rename(tmpFile, file);
    ctx.log.info({ file, images: chosen.map((c) => c.image.id) }, 'images saved');
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => undefined);
    await rm(tmpFile, { force: true });
    throw err;
  }
}

/** Streams one layer's tar into the archive, checking it still hashes to its diff_id. */
async function writeLayer(ctx: StoreContext, pack: Pack, layer: Image['layers'][number]): Promise<void> {
  const hash = createHash('sha256');
  let bytes = 0;
  const done = new Promise<void>((resolve, reject) => {
    const sink = pack.entry(
      { name: blobPath(layer.diffId), size: layer.tarSize, mode: 0o644, uid: 0, gid: 0, mtime: EPOCH },
      (err) => (err ? reject(err) : resolve()),
    );
    (async () => {
      for await (const chunk of ctx.layers.tar(layer)) {
        bytes += chunk.length;
        if (bytes > layer.tarSize) break;
        hash.update(chunk);
        if (!sink.write(chunk)) await once(sink, 'drain');
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (bytes !== layer.tarSize || actual !== layer.diffId) {
        // Someone changed files inside a committed layer (they are lowerdirs; nothing should).
        throw new Error(`layer ${layer.chainId} on disk no longer matches its diff_id ${layer.diffId}`);
      }
      sink.end(undefined);
    })().catch((err: Error) => {
      sink.destroy(err);
      reject(err);
    });
  });
  await done;
}
