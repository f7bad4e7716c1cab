// `docker push`: the image as `save` exports it (so pushed bytes are exactly what export
// promises), each layer gzipped (level 6, so the same layer pushed twice has the same digest),
// uploaded unless the registry has it (HEAD), then the manifest. Uploads follow
// distribution-spec "Pushing blobs": POST opens an upload, then one PUT with the whole blob
// (monolithic) or PATCHes of chunks closed by a PUT (chunked).
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { LearnerError } from '../../../protocol/errors.js';
import { sha256, type Digest, type ImageStore } from '../image-store/index.js';
import { MediaType } from '../image-store/media-types.js';
import { storeRefFor } from '../sessions/image-ops.js';
import type { SessionImages } from '../sessions/images.js';
import { hashFile } from './blob-cache.js';
import { DistributionClient, endpointFor, isUnreachable, registryError, type Credentials } from './distribution-client.js';
import { remoteReference } from './remote-reference.js';

export interface PushOptions {
  store: ImageStore;
  images: SessionImages;
  credentialsFor: (host: string) => Promise<Credentials | null>;
  /** Upload blobs in PATCH chunks of this many bytes instead of one PUT. */
  chunkBytes?: number;
  onProgress?: (p: { digest: Digest; status: 'exists' | 'pushed'; totalBytes: number }) => void;
}

export interface PushResult {
  name: string;
  digest: Digest;
  size: number;
}

interface Blob {
  digest: Digest;
  path: string;
  size: number;
}

export async function pushImage(name: string, options: PushOptions): Promise<PushResult> {
  const ref = remoteReference(name);
  const storeRef = await storeRefFor(options.images, name);
  const client = new DistributionClient(endpointFor(ref.host), await options.credentialsFor(ref.host));
  const work = await options.store.scratchDir('push');
  try {
    // 1. the image as `save` writes it; layers gzipped.
    const saved = join(work, 'saved.tar');
    await options.store.save([storeRef], saved);
    const files = await unpack(saved, work);
    const docker = JSON.parse((await readFile(files.get('manifest.json')!)).toString('utf8')) as { Config: string; Layers: string[] }[];
    const entry = docker[0]!;
    const configPath = files.get(entry.Config)!;
    const config: Blob = { digest: await hashFile(configPath), path: configPath, size: (await stat(configPath)).size };
    const layers: Blob[] = [];
    for (const [i, layer] of entry.Layers.entries()) {
      const gz = join(work, `layer-${i}.tar.gz`);
      await pipeline(createReadStream(files.get(layer)!), createGzip({ level: 6 }), createWriteStream(gz));
      layers.push({ digest: await hashFile(gz), path: gz, size: (await stat(gz)).size });
    }

    // 2. blobs the registry lacks, then the manifest that names them.
    const scope = `repository:${ref.repository}:pull,push`;
    await client.authorize(scope).catch((err: unknown) => {
      if (isUnreachable(err)) throw new LearnerError('registry.unreachable', { host: ref.host, image: ref.name });
      throw err;
    });
    for (const blob of [...layers, config]) {
      const exists = await client.send('HEAD', `/v2/${ref.repository}/blobs/${blob.digest}`, { scope });
      exists.body.resume();
      if (exists.status === 200) {
        options.onProgress?.({ digest: blob.digest, status: 'exists', totalBytes: blob.size });
        continue;
      }
      await upload(client, ref.repository, ref.name, blob, options.chunkBytes);
      options.onProgress?.({ digest: blob.digest, status: 'pushed', totalBytes: blob.size });
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: MediaType.ociLayerGzip, digest: l.digest, size: l.size })),
      }),
    );
    const put = await client.send('PUT', `/v2/${ref.repository}/manifests/${ref.tag}`, {
      headers: { 'content-type': MediaType.ociManifest },
      body: manifest,
      scope,
    });
    if (put.status !== 201) throw await refused(put, ref.name);
    put.body.resume();
    return { name: ref.name, digest: sha256(manifest), size: manifest.length };
  } finally {
    await options.store.removeScratchDir(work);
  }
}

/** Pushes a document (manifest or index) as it is: for tests and tools that build their own. */
export async function putManifest(client: DistributionClient, repository: string, reference: string, mediaType: string, body: Buffer): Promise<void> {
  const put = await client.send('PUT', `/v2/${repository}/manifests/${reference}`, { headers: { 'content-type': mediaType }, body, scope: `repository:${repository}:pull,push` });
  if (put.status !== 201) throw await refused(put, `${repository}:${reference}`);
  put.body.resume();
}

/** One blob: POST opens the upload; a PUT with the whole blob, or PATCHed chunks and a closing PUT. */
export async function upload(client: DistributionClient, repository: string, image: string, blob: Blob, chunkBytes?: number): Promise<void> {
  const scope = `repository:${repository}:pull,push`;
  const opened = await client.send('POST', `/v2/${repository}/blobs/uploads/`, { scope, body: Buffer.alloc(0) });
  if (opened.status !== 202) throw await refused(opened, image);
  opened.body.resume();
  let location = uploadUrl(client, opened.headers.location);
  if (chunkBytes !== undefined && chunkBytes > 0) {
    const fd = await open(blob.path, 'r');
    try {
      for (let offset = 0; offset < blob.size; offset += chunkBytes) {
        const length = Math.min(chunkBytes, blob.size - offset);
        const chunk = Buffer.alloc(length);
        await fd.read(chunk, 0, length, offset);
        const res = await client.send('PATCH', location, {
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + length - 1}` },
          body: chunk,
          scope,
        });
        if (res.status !== 202) throw await refused(res, image);
        res.body.resume();
        location = uploadUrl(client, res.headers.location);
      }
    } finally {
      await fd.close();
    }
    const done = await client.send('PUT', withDigest(location, blob.digest), { body: Buffer.alloc(0), scope });
    if (done.status !== 201) throw await refused(done, image);
    done.body.resume();
    return;
  }
  const done = await client.send('PUT', withDigest(location, blob.digest), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: createReadStream(blob.path),
    scope,
  });
  if (done.status !== 201) throw await refused(done, image);
  done.body.resume();
}

function uploadUrl(client: DistributionClient, location: string | undefined): string {
  if (!location) throw new LearnerError('registry.refused', { status: '202', detail: 'the registry gave no upload location' });
  return new URL(location, `http://${client.endpoint.host}`).toString();
}

function withDigest(location: string, digest: Digest): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
}

async function refused(res: { status: number; headers: Record<string, unknown>; body: NodeJS.ReadableStream }, image: string): Promise<LearnerError> {
  const detail = await registryError(res as never);
  if (res.status === 401 || res.status === 403) return new LearnerError('registry.denied', { image, detail });
  return new LearnerError('registry.refused', { status: String(res.status), detail });
}

/** The saved archive's files, each written out under `work` (small documents and layer tars). */
async function unpack(archive: string, work: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const extract = tar.extract();
  let n = 0;
  extract.on('entry', (header, stream, next) => {
    if (header.type !== 'file') {
      stream.resume();
      stream.on('end', next);
      return;
    }
    const path = join(work, `entry-${n++}`);
    files.set(header.name, path);
    pipeline(stream, createWriteStream(path)).then(() => next(), next);
  });
  await pipeline(createReadStream(archive), extract);
  return files;
}
