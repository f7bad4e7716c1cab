import type { Logger } from 'pino';
import { mapConcurrent } from './concurrent.js';
import { chainIdsOf, type Digest } from './digest.js';
import { ImageStoreError } from './errors.js';
import type { ImageRecords, StoredImage } from './image-records.js';
import type { LayerStore } from './layer-store.js';
import type { ImageStoreLimits } from './limits.js';
import { withLock } from './lock.js';
import type { StorePaths } from './paths.js';
import { formatReference, type ImageReference, type RefStore } from './references.js';
import type { ImageConfig, LayerRecord } from './schemas.js';

/** The parts of a store that its operations (save, load, remove, …) work with. */
export interface StoreContext {
  paths: StorePaths;
  layers: LayerStore;
  images: ImageRecords;
  refs: RefStore;
  log: Logger;
  limits: ImageStoreLimits;
}

/** An image as callers see it. */
export interface Image {
  id: Digest;
  config: ImageConfig;
  manifestDigest: Digest;
  /** Bottom layer first, as in `rootfs.diff_ids`. */
  layers: LayerRecord[];
  /** `repo:tag` names pointing at this image. */
  tags: string[];
  /** Sum of the layers' content sizes (what `docker images` shows as SIZE). */
  size: number;
  created: string | null;
}

/** An image's layer records read at once (mapConcurrent; images are read READS_AT_ONCE at a time). */
const LAYER_READS_AT_ONCE = 8;

export function storeLock<T>(ctx: StoreContext, fn: () => Promise<T>): Promise<T> {
  return withLock(ctx.paths, 'store', fn, ctx.limits.lockTimeoutMs);
}

export async function tagsOf(ctx: StoreContext, id: Digest): Promise<ImageReference[]> {
  return ctx.refs.tagsOf(id);
}

export async function imageView(ctx: StoreContext, stored: StoredImage): Promise<Image> {
  const [layers, tags] = await Promise.all([mapConcurrent(stored.chainIds, LAYER_READS_AT_ONCE, (chainId) => ctx.layers.require(chainId)), tagsOf(ctx, stored.id)]);
  return {
    id: stored.id,
    config: stored.config,
    get manifestDigest() {
      return stored.manifestDigest;
    },
    layers,
    tags: tags.map(formatReference),
    size: layers.reduce((sum, layer) => sum + layer.size, 0),
    created: stored.config.created ?? null,
  };
}

/** Checks, with the store lock held, that every layer an image config names is present. */
export async function requireLayers(ctx: StoreContext, config: ImageConfig): Promise<LayerRecord[]> {
  const layers: LayerRecord[] = [];
  for (const chainId of chainIdsOf(config.rootfs.diff_ids)) {
    const layer = await ctx.layers.get(chainId);
    if (layer === null) {
      throw new ImageStoreError('layer.missing', `image config names layer ${chainId}, which is not in the store`, { layer: chainId });
    }
    layers.push(layer);
  }
  return layers;
}

/**
 * Whether `child` was built on top of `parent`: its layers and its history start with all of
 * the parent's and add more. Docker records parents explicitly for local builds; deriving it
 * from content also covers loaded images.
 */
export function isDerivedFrom(child: ImageConfig, parent: ImageConfig): boolean {
  const parentLayers = parent.rootfs.diff_ids;
  const childLayers = child.rootfs.diff_ids;
  if (childLayers.length < parentLayers.length || parentLayers.some((d, i) => childLayers[i] !== d)) return false;
  const parentHistory = parent.history ?? [];
  const childHistory = child.history ?? [];
  if (parentHistory.length === 0 && childHistory.length === 0) return childLayers.length > parentLayers.length;
  return (
    childHistory.length > parentHistory.length &&
    parentHistory.every((entry, i) => JSON.stringify(entry) === JSON.stringify(childHistory[i]))
  );
}
