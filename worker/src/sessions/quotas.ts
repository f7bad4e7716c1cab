// Per-session quotas (limits.ts sessionQuotas): how many images and containers a learner keeps,
// the disk their images' layers and their containers' writable layers take, and the memory and
// pids their running containers may use together. Checked when something new would be made or
// started (create, start, commit, build, load), with a learner error that says what to remove.
import { LearnerError } from '../../../protocol/errors.js';
import { availableBaseImages } from '../base-images/index.js';
import { formatBytes } from '../image-store/errors.js';
import { chainIdsOf, formatReference, parseReference, type Digest, type Image, type ImageStore } from '../image-store/index.js';
import { TreeAccessError, treeBytesBeneath } from '../image-store/tree-beneath.js';
import type { SessionImages } from './images.js';

export interface SessionQuotas {
  images: number;
  containers: number;
  layerBytes: number;
  runningMemoryBytes: number;
  runningPids: number;
}

export interface SessionUsage {
  /** Images the learner sees as theirs: tagged in the session, or made by it and left untagged. */
  images: number;
  containers: number;
  /** Their images' layers (base images' layers excluded: everyone shares those) + writable layers. */
  layerBytes: number;
}

/**
 * Apparent bytes of a directory tree (each inode once), like the layer sizes the store records.
 * A writable layer's container may be running and swapping symlinks in: read fd-relative.
 */
export async function treeBytes(dir: string): Promise<number> {
  return treeBytesBeneath(dir).catch((err: unknown) => {
    if (err instanceof TreeAccessError && err.code === 'notfound') return 0; // gone meanwhile
    throw err;
  });
}

/** Whether `child`'s layers and history extend `parent`'s: a build step under a later one. */
function extendsImage(child: Image, parent: Image): boolean {
  const a = parent.config.rootfs.diff_ids;
  const b = child.config.rootfs.diff_ids;
  const ha = parent.config.history ?? [];
  const hb = child.config.history ?? [];
  if (b.length < a.length || a.some((d, i) => b[i] !== d)) return false;
  return hb.length > ha.length && ha.every((h, i) => JSON.stringify(h) === JSON.stringify(hb[i]));
}

/**
 * The session's images, as `images` lists them: every image one of its names points at, and
 * every image it made that has no name and no image of its own built on top (a `commit` without a
 * name; build steps are intermediates and do not count). Base images are everyone's. `read`: the
 * store's images, when the caller has read them already (store.images()).
 */
export async function sessionImages(
  store: ImageStore,
  images: SessionImages,
  read?: Image[],
): Promise<{ all: Image[]; visible: Image[]; owned: Image[]; baseIds: Set<Digest> }> {
  const all = read ?? (await store.images());
  const ownedIds = await images.owned();
  const baseNames = new Set(availableBaseImages().flatMap((b) => b.tags.map((t) => formatReference(parseReference(t)))));
  const baseIds = new Set(all.filter((image) => image.tags.some((t) => baseNames.has(t))).map((image) => image.id));
  const owned = all.filter((image) => ownedIds.has(image.id));
  const visible = all.filter((image) => {
    if (baseIds.has(image.id)) return false;
    if (image.tags.some((t) => images.unqualify(t) !== null)) return true;
    if (!ownedIds.has(image.id) || image.tags.length > 0) return false;
    return !owned.some((other) => other.id !== image.id && extendsImage(other, image));
  });
  return { all, visible, owned, baseIds };
}

/** Bytes of the layers of `images`, each layer once, leaving out layers of base images. */
export function layerBytesOf(images: readonly Image[], baseLayers: ReadonlySet<Digest>): number {
  const counted = new Map<Digest, number>();
  for (const image of images) {
    image.layers.forEach((layer) => {
      if (!baseLayers.has(layer.chainId)) counted.set(layer.chainId, layer.size);
    });
  }
  return [...counted.values()].reduce((sum, size) => sum + size, 0);
}

export async function measureUsage(
  store: ImageStore,
  images: SessionImages,
  writableLayers: readonly string[],
): Promise<SessionUsage> {
  const { all, visible, owned, baseIds } = await sessionImages(store, images);
  const baseLayers = new Set<Digest>(all.filter((i) => baseIds.has(i.id)).flatMap((i) => chainIdsOf(i.config.rootfs.diff_ids)));
  let writable = 0;
  for (const dir of writableLayers) writable += await treeBytes(dir);
  return {
    images: visible.length,
    containers: writableLayers.length,
    layerBytes: layerBytesOf([...visible, ...owned], baseLayers) + writable,
  };
}

/** Throws the learner error for the first quota that `adding` would pass. */
export function checkQuotas(usage: SessionUsage, quotas: SessionQuotas, adding: { images?: number; containers?: number; bytes?: number }): void {
  if (adding.containers && usage.containers + adding.containers > quotas.containers) {
    throw new LearnerError('quota.containers', { count: usage.containers, limit: quotas.containers });
  }
  if (adding.images && usage.images + adding.images > quotas.images) {
    throw new LearnerError('quota.images', { count: usage.images, limit: quotas.images });
  }
  const bytes = adding.bytes ?? 0;
  if (usage.layerBytes + bytes > quotas.layerBytes) {
    const facts = { size: formatBytes(usage.layerBytes), limit: formatBytes(quotas.layerBytes) };
    throw bytes > 0 ? new LearnerError('quota.layerBytesAdding', { ...facts, adding: formatBytes(bytes) }) : new LearnerError('quota.layerBytes', facts);
  }
}

/** What a container may take while it runs, as its limits say. */
export interface RunningLimits {
  memoryBytes: number;
  pidsMax: number;
}

/** Throws when starting a container with `adding` would take the session's running containers past their totals. */
export function checkRunningTotals(running: readonly RunningLimits[], quotas: SessionQuotas, adding: RunningLimits): void {
  const memory = running.reduce((sum, r) => sum + r.memoryBytes, 0);
  if (memory + adding.memoryBytes > quotas.runningMemoryBytes) {
    throw new LearnerError('quota.memory', { used: formatBytes(memory), adding: formatBytes(adding.memoryBytes), limit: formatBytes(quotas.runningMemoryBytes) });
  }
  const pids = running.reduce((sum, r) => sum + r.pidsMax, 0);
  if (pids + adding.pidsMax > quotas.runningPids) {
    throw new LearnerError('quota.pids', { used: pids, adding: adding.pidsMax, limit: quotas.runningPids });
  }
}
