// `docker pull`: the manifest (an index or list narrowed to linux/amd64), then each blob through
// the host's blob cache (verified against its digest), then one OCI image layout handed to the
// session's `load`, so a pulled image enters the store exactly as a loaded one does: every
// layer's diff_id checked, its files counted, the session's quotas and names applied.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { LearnerError } from '../../../protocol/errors.js';
import { availableBaseImages } from '../base-images/index.js';
import { sha256, type Digest, type ImageStore } from '../image-store/index.js';
import { MediaType } from '../image-store/media-types.js';
import { loadImages, type QuotaSource } from '../sessions/image-ops.js';
import type { SessionImages } from '../sessions/images.js';
import { hashFile, type BlobCache, type BlobLease, type BlobProgress, type FetchStats } from './blob-cache.js';
import { DistributionClient, endpointFor, isUnreachable, readAll, registryError, type Credentials } from './distribution-client.js';
import { remoteReference, type RemoteReference } from './remote-reference.js';

const run = promisify(execFile);

const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');
const MAX_MANIFEST_BYTES = 4 << 20;
const PLATFORM = { os: 'linux', architecture: 'amd64' };

interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface PullProgress extends BlobProgress {
  image: string;
}

export interface PullOptions {
  store: ImageStore;
  images: SessionImages;
  cache: BlobCache;
  credentialsFor: (host: string) => Promise<Credentials | null>;
  quota?: QuotaSource;
  onProgress?: (p: PullProgress) => void;
  /** For the resume test: called as a layer's bytes arrive. */
  onChunk?: (digest: Digest, receivedBytes: number) => void;
}

export interface PullResult {
  name: string;
  /** The manifest's digest as the registry serves it (`docker pull`'s "Digest:"), the index's when there was one. */
  digest: Digest;
  imageId: Digest;
  layers: { digest: Digest; size: number; stats: FetchStats }[];
  lines: string[];
}

export async function pullImage(input: string, options: PullOptions): Promise<PullResult> {
  const ref = remoteReference(input);
  const client = new DistributionClient(endpointFor(ref.host), await options.credentialsFor(ref.host));
  const scope = `repository:${ref.repository}:pull`;

  // 1. manifest: by tag, then (for an index or list) the linux/amd64 one by digest.
  const top = await getManifest(client, ref, ref.tag, scope).catch(async (err: unknown) => {
    if (isUnreachable(err)) throw await offline(ref, options.images);
    throw err;
  });
  let manifest = top;
  if (top.mediaType === MediaType.ociIndex || top.mediaType === MediaType.dockerManifestList) {
    const list = (top.doc.manifests ?? []) as Descriptor[];
    const chosen = list.find((m) => m.platform?.os === PLATFORM.os && m.platform?.architecture === PLATFORM.architecture);
    if (chosen === undefined) {
      const platforms = list.map((m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`).join(', ');
      throw new LearnerError('registry.noPlatform', { image: ref.name, platforms });
    }
    manifest = await getManifest(client, ref, chosen.digest, scope);
  }
  if (manifest.mediaType !== MediaType.ociManifest && manifest.mediaType !== MediaType.dockerManifest) {
    throw new LearnerError('registry.badManifest', { detail: `unsupported manifest type ${manifest.mediaType}` });
  }
  const config = manifest.doc.config as Descriptor;
  const layers = (manifest.doc.layers ?? []) as Descriptor[];

  // 2. blobs, through the host's cache; each verified against its digest as it arrives, and held
  //    (not evicted) until step 3 has copied it.
  const lease = options.cache.lease();
  try {
    return await intoStore(ref, client, top.digest, config, layers, lease, options);
  } finally {
    await lease.release();
  }
}

async function intoStore(
  ref: RemoteReference,
  client: DistributionClient,
  topDigest: Digest,
  config: Descriptor,
  layers: Descriptor[],
  lease: BlobLease,
  options: PullOptions,
): Promise<PullResult> {
  const configBlob = await options.cache.fetch(client, ref.repository, config.digest, config.size, () => {}, {}, lease);
  const fetched: PullResult['layers'] = [];
  const paths: string[] = [];
  for (const layer of layers) {
    const result = await options.cache.fetch(
      client,
      ref.repository,
      layer.digest,
      layer.size,
      (p) => options.onProgress?.({ ...p, image: ref.name }),
      { onChunk: (bytes) => options.onChunk?.(layer.digest, bytes) },
      lease,
    );
    fetched.push({ digest: layer.digest, size: layer.size, stats: result.stats });
    paths.push(result.path);
  }

  // 3. one OCI layout for the session's load: zstd layers decompressed here (the loader reads
  //    plain and gzip tars), the manifest rewritten to say so.
  const work = await options.store.scratchDir('pull');
  try {
    const blobs: { digest: Digest; path: string; size: number }[] = [{ digest: config.digest, path: configBlob.path, size: config.size }];
    const localLayers: Descriptor[] = [];
    for (const [i, layer] of layers.entries()) {
      let blob = { digest: layer.digest, path: paths[i]!, size: layer.size, mediaType: layer.mediaType };
      if (layer.mediaType === MediaType.ociLayerZstd) blob = { ...(await unzstd(paths[i]!, work)), mediaType: MediaType.ociLayer };
      else if (![MediaType.ociLayer, MediaType.ociLayerGzip, MediaType.dockerLayer, MediaType.dockerLayerGzip].includes(blob.mediaType as never)) {
        throw new LearnerError('registry.badManifest', { detail: `unsupported layer type ${layer.mediaType}` });
      }
      blobs.push(blob);
      localLayers.push({ mediaType: blob.mediaType, digest: blob.digest, size: blob.size });
    }
    const localManifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size }, layers: localLayers }),
    );
    const manifestDigest = sha256(localManifest);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: MediaType.ociManifest, digest: manifestDigest, size: localManifest.length, annotations: { 'io.containerd.image.name': ref.name } }],
      }),
    );
    const archive = join(work, 'pulled.tar');
    await writeLayout(archive, index, localManifest, manifestDigest, blobs);
    const lines = await loadImages(options.store, options.images, archive, options.quota);
    // The image id is the config's digest, which the cache verified.
    return { name: ref.name, digest: topDigest, imageId: config.digest, layers: fetched, lines };
  } finally {
    await options.store.removeScratchDir(work);
  }
}

interface FetchedManifest {
  mediaType: string;
  digest: Digest;
  doc: Record<string, unknown>;
}

async function getManifest(client: DistributionClient, ref: RemoteReference, reference: string, scope: string): Promise<FetchedManifest> {
  const res = await client.send('GET', `/v2/${ref.repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT }, scope });
  if (res.status === 404) {
    res.body.resume();
    throw new LearnerError('registry.notFound', { image: ref.name });
  }
  if (res.status === 401 || res.status === 403) {
    throw new LearnerError('registry.denied', { image: ref.name, detail: await registryError(res) });
  }
  if (res.status !== 200) throw new LearnerError('registry.refused', { status: String(res.status), detail: await registryError(res) });
  const bytes = await readAll(res.body, MAX_MANIFEST_BYTES);
  const digest = sha256(bytes);
  // By digest the bytes must hash to it; by tag, to what the registry says it served.
  const promised = reference.startsWith('sha256:') ? reference : (res.headers['docker-content-digest'] as string | undefined);
  if (promised !== undefined && promised !== digest) throw new LearnerError('registry.digestMismatch', { digest: promised, actual: digest });
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new LearnerError('registry.badManifest', { detail: 'the manifest is not JSON' });
  }
  const mediaType = String(doc.mediaType ?? String(res.headers['content-type'] ?? '').split(';')[0]);
  return { mediaType, digest, doc };
}

/** Decompresses a zstd layer with Debian's `zstd` (Node 20's zlib has no zstd). */
async function unzstd(path: string, work: string): Promise<{ digest: Digest; path: string; size: number }> {
  const out = join(work, `${path.split('/').pop()}.tar`);
  try {
    await run('zstd', ['-q', '-d', '-f', path, '-o', out]);
  } catch (err) {
    throw new LearnerError('registry.badManifest', { detail: `a zstd layer did not decompress: ${(err as Error).message.split('\n')[0]}` });
  }
  return { digest: await hashFile(out), path: out, size: (await stat(out)).size };
}

async function writeLayout(file: string, index: Buffer, manifest: Buffer, manifestDigest: Digest, blobs: { digest: Digest; path: string; size: number }[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(file));
  const add = (name: string, body: Buffer) => new Promise<void>((resolve, reject) => pack.entry({ name, size: body.length }, body, (err) => (err ? reject(err) : resolve())));
  await add('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  await add('index.json', index);
  await add(`blobs/sha256/${manifestDigest.slice(7)}`, manifest);
  const seen = new Set<string>();
  for (const blob of blobs) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name: `blobs/sha256/${blob.digest.slice(7)}`, size: blob.size }, (err) => (err ? reject(err) : resolve()));
      createReadStream(blob.path).on('error', reject).pipe(entry);
    });
  }
  pack.finalize();
  await done;
}

/** With no registry reachable: what the learner can use instead. */
async function offline(ref: RemoteReference, images: SessionImages): Promise<LearnerError> {
  const base = availableBaseImages().flatMap((b) => [...b.tags]);
  const own = (await images.list().catch(() => [])).map((row) => `${row.repository}:${row.tag}`).filter((n) => !base.includes(n));
  return new LearnerError('registry.offline', { image: ref.name, host: ref.host, available: [...base, ...own].join(', ') });
}
