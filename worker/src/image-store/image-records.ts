/**
 * Images on disk: images/<id>/config.json holds the exact config bytes (the image id is their
 * sha256) and manifest.json the OCI manifest describing the config and the layer tars. An image
 * directory is written in tmp/ and renamed into place, so it is complete or absent. `parent`,
 * when there, names the image `commit` made it from: Docker's parent link, which `history`
 * follows for ids (a build, as BuildKit's, and a pull or load record none). `derived-N.json`
 * keeps what reading the config works out (below, DERIVED_FILE).
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mapConcurrent } from './concurrent.js';
import { chainIdsOf, digestFromHex, sha256, type Digest } from './digest.js';
import { MediaType } from './media-types.js';
import type { StorePaths } from './paths.js';
import { parseRecord } from './record-cache.js';
import { listRecords, readRecord, recordExists } from './record-io.js';
import { ImageConfigSchema, OciManifestSchema, type ImageConfig, type LayerRecord, type OciManifest } from './schemas.js';

export interface StoredImage {
  id: Digest;
  config: ImageConfig;
  /** Its layers' chain ids, bottom first (the layer store's keys). */
  chainIds: Digest[];
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

/**
 * The config as ImageConfigSchema gives it and its layers' chain ids: both pure functions of the
 * config's bytes, which the image's id names, so they are worked out once per image and kept
 * beside it. A read then needs neither zod nor node:crypto, which were most of `layercake
 * images` (the schema's first parses and the module's load, ~30 ms of ~150). The number is the
 * schema's version: a change to ImageConfigSchema bumps it (image-records.test.ts pins the
 * schema's shape), so records derived under the old one are worked out again.
 */
export const DERIVED_FILE = 'derived-1.json';

interface Derived {
  config: ImageConfig;
  chainIds: Digest[];
}

function derive(configBytes: Buffer): Derived {
  const config = parseRecord(ImageConfigSchema, configBytes.toString('utf8'));
  return { config, chainIds: chainIdsOf(config.rootfs.diff_ids) };
}

/** The kept record, or null when it is missing or not one (then it is derived again). */
function parseDerived(text: string): Derived | null {
  try {
    const kept = JSON.parse(text) as Partial<Derived>;
    const diffIds = kept.config?.rootfs?.diff_ids;
    return Array.isArray(diffIds) && Array.isArray(kept.chainIds) && kept.chainIds.length === diffIds.length ? (kept as Derived) : null;
  } catch {
    return null;
  }
}

let keptWrites = 0;

/**
 * Keeps a derived record for an image stored before there were any, if the store can be written;
 * nothing is lost when it cannot. Written beside and renamed in the image's own directory: an
 * image removed meanwhile has no directory there any more (remove() renames it away first), so
 * the write fails instead of racing the removal.
 */
function keepDerived(dir: string, derived: Derived): void {
  const tmp = join(dir, `.${DERIVED_FILE}.${process.pid}.${keptWrites++}`);
  try {
    writeFileSync(tmp, JSON.stringify(derived));
    renameSync(tmp, join(dir, DERIVED_FILE));
  } catch {
    rmSync(tmp, { force: true });
  }
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
    const keptText = await readRecord(join(dir, DERIVED_FILE), 'utf8').catch(() => null);
    let derived = keptText === null ? null : parseDerived(keptText);
    if (derived === null) {
      derived = derive(configBytes);
      keepDerived(dir, derived);
    }
    return {
      id,
      config: derived.config,
      chainIds: derived.chainIds,
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
      await writeFile(join(tmp, DERIVED_FILE), JSON.stringify(derive(configBytes)));
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
