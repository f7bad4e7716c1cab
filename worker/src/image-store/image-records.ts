/**
 * Images on disk: images/<id>/config.json holds the exact config bytes (the image id is their
 * sha256) and manifest.json the OCI manifest describing the config and the layer tars. An image
 * directory is written in tmp/ and renamed into place, so it is complete or absent. `parent`,
 * when there, names the image `commit` made it from: Docker's parent link, which `history`
 * follows for ids (a build, as BuildKit's, and a pull or load record none).
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mapConcurrent } from './concurrent.js';
import { digestFromHex, sha256, type Digest } from './digest.js';
import { MediaType } from './media-types.js';
import type { StorePaths } from './paths.js';
import { parseRecord } from './record-cache.js';
import { listRecords, readRecord, recordExists } from './record-io.js';
import { ImageConfigSchema, OciManifestSchema, type ImageConfig, type LayerRecord, type OciManifest } from './schemas.js';

export interface StoredImage {
  id: Digest;
  config: ImageConfig;
  configBytes: Buffer;
  manifest: OciManifest;
  manifestBytes: Buffer;
  manifestDigest: Digest;
}

/** The OCI manifest of an image whose layers are stored as uncompressed tars. */
export function buildManifest(configBytes: Buffer, layers: readonly LayerRecord[]): Buffer {
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha256(configBytes), size: configBytes.length },
    // Uncompressed layers: the blob digest is the diff_id itself.
    layers: layers.map((layer) => ({ mediaType: MediaType.ociLayer, digest: layer.diffId, size: layer.tarSize })),
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** Images read at once in a listing (mapConcurrent). */
export const READS_AT_ONCE = 16;

export class ImageRecords {
  constructor(private readonly paths: StorePaths) {}

  async read(id: Digest): Promise<StoredImage | null> {
    const dir = this.paths.image(id);
    let configBytes: Buffer;
    let manifestBytes: Buffer;
    try {
      configBytes = await readRecord(join(dir, 'config.json'));
      manifestBytes = await readRecord(join(dir, 'manifest.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let manifest: OciManifest | undefined;
    let manifestDigest: Digest | undefined;
    return {
      id,
      config: parseRecord(ImageConfigSchema, configBytes.toString('utf8')),
      configBytes,
      // Checked and hashed when first asked for: a listing needs neither (the hash alone loads
      // node:crypto, milliseconds of `layercake images`).
      get manifest() {
        return (manifest ??= parseRecord(OciManifestSchema, manifestBytes.toString('utf8')));
      },
      manifestBytes,
      get manifestDigest() {
        return (manifestDigest ??= sha256(manifestBytes));
      },
    };
  }

  /**
   * Whether the image is stored: its directory is renamed into place complete, so its config being
   * there says so (without reading and checking both documents, as read() does).
   */
  async exists(id: Digest): Promise<boolean> {
    return recordExists(join(this.paths.image(id), 'config.json'));
  }

  async ids(): Promise<Digest[]> {
    const names = (await listRecords(this.paths.imagesDir).catch(() => [] as string[])).filter((name) => /^[0-9a-f]{64}$/.test(name));
    const ids = names.map(digestFromHex);
    const present = await mapConcurrent(ids, READS_AT_ONCE, (id) => this.exists(id));
    return ids.filter((_, i) => present[i]);
  }

  async all(): Promise<StoredImage[]> {
    const images = await mapConcurrent(await this.ids(), READS_AT_ONCE, (id) => this.read(id));
    return images.filter((image): image is StoredImage => image !== null);
  }

  /** The image `id` was committed from, or null (built, pulled, loaded, or from an older store). */
  async parent(id: Digest): Promise<Digest | null> {
    try {
      const text = (await readFile(join(this.paths.image(id), 'parent'), 'utf8')).trim();
      return /^sha256:[0-9a-f]{64}$/.test(text) ? (text as Digest) : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Stores an image; a no-op when the same config is already there (same bytes, same id). */
  async write(configBytes: Buffer, manifestBytes: Buffer, parent: Digest | null = null): Promise<Digest> {
    const id = sha256(configBytes);
    if (await this.exists(id)) return id;
    await mkdir(this.paths.tmpDir, { recursive: true });
    await mkdir(this.paths.imagesDir, { recursive: true });
    const tmp = this.paths.newTmp('image');
    await mkdir(tmp);
    try {
      await writeFile(join(tmp, 'config.json'), configBytes);
      await writeFile(join(tmp, 'manifest.json'), manifestBytes);
      if (parent !== null) await writeFile(join(tmp, 'parent'), parent);
      await rename(tmp, this.paths.image(id));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      // Another process stored the same image between our check and our rename.
      if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
    return id;
  }

  async remove(id: Digest): Promise<void> {
    await mkdir(this.paths.tmpDir, { recursive: true });
    const trash = this.paths.newTmp('trash');
    try {
      await rename(this.paths.image(id), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
  }
}
