/**
 * The image store: content-addressed layers and images under one root directory, shared safely
 * by several processes on one host. This class is the public face; each concern lives in its
 * own module (layer-store, image-records, references, archive-save, archive-load).
 */
import { mkdirSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { z } from 'zod';
import type { LoadOptions, LoadResult } from './archive-load.js';
import type { SaveOptions } from './archive-save.js';
import {
  imageView,
  isDerivedFrom,
  requireLayers,
  storeLock,
  tagsOf,
  type Image,
  type StoreContext,
} from './context.js';
import { chainIdsOf, digestFromHex, isDigest, type Digest } from './digest.js';
import { ImageStoreError } from './errors.js';
import { mapConcurrent } from './concurrent.js';
import { ImageRecords, READS_AT_ONCE, buildManifest, type StoredImage } from './image-records.js';
import { listRecords, makeRecordDir } from './record-io.js';
import { LayerStore, type CommitOptions } from './layer-store.js';
import { imageStoreLimits, type ImageStoreLimits } from './limits.js';
import { withLock } from './lock.js';
import { removeTree } from './mounts.js';
import { StorePaths, processAlive, tmpOwnerPid } from './paths.js';
import { RefStore, byCodePoint, formatReference, parseReference, tryParseReference } from './references.js';
import { ImageConfigSchema, type ImageConfig, type LayerRecord } from './schemas.js';
import type { Change, ChangeCounts } from './upper-diff.js';

// The archive codecs (tar, gzip), the diff and the tree walker are loaded by the operations that
// use them: a command that lists images or containers opens the store without paying for them.
const archiveLoad = () => import('./archive-load.js');

export type { Image } from './context.js';
export type { LoadAdmission, LoadOptions, LoadResult } from './archive-load.js';

/** A container that uses an image, as the runtime reports it. */
export interface ImageUser {
  containerId: string;
  running: boolean;
  /** The session the container belongs to: a session's `rmi` speaks only of its own. */
  session: string;
}

/**
 * Asked before an image is removed: which containers still use it. Containers wire this up
 * (worker/src/containers/image-users.ts); until they do, no container blocks a removal.
 */
export type ImageUsersHook = (imageId: Digest) => Promise<ImageUser[]> | ImageUser[];

export interface ImageStoreOptions {
  logger?: Logger;
  imageUsers?: ImageUsersHook;
  limits?: Partial<ImageStoreLimits>;
}

export type ImageConfigInput = z.input<typeof ImageConfigSchema>;

/** One line of `docker images`. */
export interface ImageSummary {
  repository: string;
  tag: string;
  id: Digest;
  created: string | null;
  size: number;
}

/** One line of `docker history`, newest first. */
export interface HistoryRow {
  /** The image this step produced, when it exists locally (`<missing>` in Docker's output otherwise). */
  id: Digest | null;
  created: string | null;
  createdBy: string;
  size: number;
  emptyLayer: boolean;
  comment: string;
}

/** What `docker rmi` prints, one action per line. */
export type RemoveAction = { untagged: string } | { deleted: Digest };

export interface CleanupReport {
  /** Store-relative paths that were removed. */
  removed: string[];
}

export class ImageStore {
  private imageUsers: ImageUsersHook;
  /** What open() removed, reported by the next cleanup(). */
  private removedAtOpen: string[] = [];

  private constructor(
    private readonly ctx: StoreContext,
    imageUsers: ImageUsersHook | undefined,
  ) {
    this.imageUsers = imageUsers ?? (() => []);
  }

  /** Opens (creating if needed) a store rooted at `root`, e.g. `.data/engine`. */
  static async open(root: string, options: ImageStoreOptions = {}): Promise<ImageStore> {
    if (/[:,]/.test(root)) {
      // Layer paths end up in overlayfs's lowerdir option, where ':' and ',' are separators.
      throw new Error(`image store root must not contain ':' or ',': ${root}`);
    }
    const paths = new StorePaths(root);
    await makeRecordDir(root, 0o700);
    for (const dir of [paths.layersDir, paths.imagesDir, paths.refsDir, paths.tmpDir, paths.locksDir]) await makeRecordDir(dir);
    // The worker passes its own logger; standalone use (tests, tools) only hears warnings.
    const log = options.logger ?? pino({ name: 'image-store', level: 'warn' });
    const ctx: StoreContext = {
      paths,
      layers: new LayerStore(paths, log),
      images: new ImageRecords(paths),
      refs: new RefStore(paths),
      log,
      limits: Object.freeze({ ...imageStoreLimits, ...options.limits }),
    };
    const store = new ImageStore(ctx, options.imageUsers);
    store.removedAtOpen = await store.removeDeadWork();
    if (store.removedAtOpen.length > 0) log.info({ removed: store.removedAtOpen }, 'removed what exited processes left in tmp/');
    return store;
  }

  get root(): string {
    return this.ctx.paths.root;
  }

  /** Installs the runtime's "which containers use this image" check. */
  setImageUsers(hook: ImageUsersHook): void {
    this.imageUsers = hook;
  }

  /** The containers (of every session) that use `id`, as the hook reports them. */
  async usersOf(id: Digest): Promise<ImageUser[]> {
    return this.imageUsers(id);
  }

  // ---- layers ------------------------------------------------------------------------------

  /**
   * Turns a directory into a committed layer on top of `parent` (a chain id, or null for a base
   * layer): typically the upper dir of a finished build step or of a stopped (or paused)
   * container; nothing may write to it meanwhile. The directory is moved into the store (a
   * rename when it is on the store's filesystem), or copied with `copy: true` for `docker
   * commit`, which keeps the container. Counts (added/changed/deleted) are relative to the
   * parent stack.
   */
  async commitLayer(
    upperDir: string,
    parent: Digest | null,
    options: CommitOptions = {},
  ): Promise<{ layer: LayerRecord; changes: Change[] }> {
    const { staged, changes } = await this.ctx.layers.stageDirectory(upperDir, parent, options);
    try {
      const layer = await storeLock(this.ctx, () => this.ctx.layers.publish(staged));
      return { layer, changes };
    } catch (err) {
      await this.ctx.layers.discard(staged);
      throw err;
    }
  }

  async getLayer(chainId: Digest): Promise<LayerRecord | null> {
    return this.ctx.layers.get(chainId);
  }

  /** A layer's directory (`layers/<chain-id>/diff`). */
  layerDir(chainId: Digest): string {
    return this.ctx.layers.diffDir(chainId);
  }

  /**
   * The layer directories of an image, topmost first: the value for the launcher's
   * `io.layercake.rootfs.layers` annotation (joined with ':').
   */
  async layerDirs(ref: string): Promise<string[]> {
    const image = await this.inspect(ref);
    return image.layers.map((layer) => this.layerDir(layer.chainId)).reverse();
  }

  /**
   * What a container's upper dir changed relative to its image (`docker diff`), without
   * touching the upper. The container may be running and changing it: the upper is read as a
   * listing made fd-relative (tree-beneath.ts), so a swapped symlink cannot point the walk at
   * the host.
   */
  async diff(upperDir: string, imageRef: string | null): Promise<{ counts: ChangeCounts; changes: Change[] }> {
    const lowers = imageRef === null ? [] : await this.layerDirs(imageRef);
    const [{ diffUpper, listingSource }, { listTreeBeneath }] = await Promise.all([import('./upper-diff.js'), import('./tree-beneath.js')]);
    return diffUpper(listingSource(await listTreeBeneath(upperDir)), lowers, { collect: true });
  }

  // ---- images ------------------------------------------------------------------------------

  /**
   * Stores an image config (its layers must already be committed) and tags it. The config is
   * serialised once; its sha256 is the image id. `parent` is the image a commit made it from.
   */
  async createImage(input: ImageConfigInput, options: { tags?: string[]; parent?: Digest } = {}): Promise<Image> {
    const config = ImageConfigSchema.parse(input);
    const history = config.history ?? [];
    const layerSteps = history.filter((entry) => entry.empty_layer !== true).length;
    if (history.length > 0 && layerSteps !== config.rootfs.diff_ids.length) {
      throw new Error(`image config has ${config.rootfs.diff_ids.length} layers but ${layerSteps} history entries that create one`);
    }
    const tags = (options.tags ?? []).map(parseReference);
    const configBytes = Buffer.from(JSON.stringify(config));
    const id = await storeLock(this.ctx, async () => {
      const layers = await requireLayers(this.ctx, config);
      const imageId = await this.ctx.images.write(configBytes, buildManifest(configBytes, layers), options.parent ?? null);
      for (const tag of tags) await this.ctx.refs.set(tag, imageId);
      return imageId;
    });
    return this.inspect(id);
  }

  /** Resolves a name (`repo[:tag]`), a full id (`sha256:…` or hex) or a unique id prefix. */
  async resolve(ref: string): Promise<Digest> {
    const input = ref.trim();
    const full = /^(?:sha256:)?([0-9a-f]{64})$/.exec(input);
    if (full) {
      const id = digestFromHex(full[1]!);
      if (await this.ctx.images.exists(id)) return id;
      throw notFound(input);
    }
    const named = tryParseReference(input);
    if (named !== null) {
      const id = await this.ctx.refs.get(named);
      if (id !== null && (await this.ctx.images.exists(id))) return id;
    }
    const prefix = /^(?:sha256:)?([0-9a-f]{1,63})$/.exec(input);
    if (prefix) {
      const matches = (await this.ctx.images.ids()).filter((id) => id.startsWith(`sha256:${prefix[1]}`));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) {
        throw new ImageStoreError('image.ambiguous', `image id prefix "${input}" is ambiguous: it matches ${matches.length} images`, {
          ref: input,
          matches: matches.map((id) => id.slice(7, 19)),
        });
      }
    }
    throw notFound(named !== null ? formatReference(named) : input);
  }

  async inspect(ref: string): Promise<Image> {
    const stored = await this.ctx.images.read(await this.resolve(ref));
    if (stored === null) throw notFound(ref);
    return imageView(this.ctx, stored);
  }

  /** `docker tag SOURCE TARGET`. Returns the image TARGET named before, if another (it may now be dangling). */
  async tag(source: string, target: string): Promise<Digest | null> {
    const id = await this.resolve(source);
    return this.ctx.refs.set(parseReference(target), id);
  }

  /** Removes one tag; returns the image it pointed at. The image itself stays. */
  async untag(name: string): Promise<Digest> {
    const ref = parseReference(name);
    const id = await this.ctx.refs.get(ref);
    if (id === null || !(await this.ctx.refs.delete(ref))) throw notFound(formatReference(ref));
    return id;
  }

  /**
   * `docker rmi`. By name: removes that tag, and the image too when it was the last one and
   * nothing depends on it. By id: removes the image and its tags (several tags need `force`).
   * Refused while containers use the image or other images are built on it. Layers are deleted
   * only when no remaining image uses them.
   */
  async remove(ref: string, options: { force?: boolean } = {}): Promise<RemoveAction[]> {
    const force = options.force === true;
    const id = await this.resolve(ref);
    const users = await this.imageUsers(id);
    return storeLock(this.ctx, async () => {
      const actions: RemoveAction[] = [];
      const tags = await tagsOf(this.ctx, id);
      const named = tryParseReference(ref.trim());
      const byName = named !== null && (await this.ctx.refs.get(named)) === id;
      const shortId = id.slice(7, 19);

      if (byName) {
        const lastTag = tags.length === 1;
        if (lastTag && users.length > 0 && !force) {
          throw conflict(
            `unable to remove repository reference "${formatReference(named)}" (must force) - container ${users[0]!.containerId} is using its referenced image ${shortId}`,
            { ref: formatReference(named), users: users.map((u) => `container ${u.containerId}`) },
          );
        }
        await this.ctx.refs.delete(named);
        actions.push({ untagged: formatReference(named) });
        if (!lastTag || users.length > 0) return actions;
        // The name is gone either way; the image goes too unless something is built on it.
        if ((await this.children(id)).length > 0) return actions;
      } else {
        if (tags.length > 1 && !force) {
          throw conflict(`unable to delete ${shortId} (must be forced) - image is referenced in multiple repositories`, {
            ref,
            users: tags.map(formatReference),
          });
        }
        if (users.length > 0) {
          const user = users[0]!;
          throw conflict(
            `unable to delete ${shortId} (cannot be forced) - image is being used by ${user.running ? 'running' : 'stopped'} container ${user.containerId}`,
            { ref, users: users.map((u) => `container ${u.containerId}`) },
          );
        }
        const children = await this.children(id);
        if (children.length > 0) {
          throw conflict(`unable to delete ${shortId} (cannot be forced) - image has dependent child images`, {
            ref,
            users: children.map((child) => `image ${child.slice(7, 19)}`),
          });
        }
        for (const tag of tags) {
          await this.ctx.refs.delete(tag);
          actions.push({ untagged: formatReference(tag) });
        }
      }
      actions.push(...(await this.deleteImageAndLayers(id)));
      return actions;
    });
  }

  /**
   * Deletes an image, and its layers no other image uses, only if nothing holds it: no tag, no
   * container, no image built on it, and not `heldElsewhere` (asked with the lock held). A
   * session's `rmi` calls this once its own names and claim are gone; [] when the image stays.
   */
  async removeUnused(id: Digest, heldElsewhere: () => Promise<boolean>): Promise<RemoveAction[]> {
    if ((await this.imageUsers(id)).length > 0) return [];
    return storeLock(this.ctx, async () => {
      if (!(await this.ctx.images.exists(id))) return [];
      if ((await tagsOf(this.ctx, id)).length > 0 || (await this.children(id)).length > 0) return [];
      if (await heldElsewhere()) return [];
      return this.deleteImageAndLayers(id);
    });
  }

  /** Images built on top of `id`. */
  private async children(id: Digest): Promise<Digest[]> {
    const parent = await this.ctx.images.read(id);
    if (parent === null) return [];
    return (await this.ctx.images.all())
      .filter((other) => other.id !== id && isDerivedFrom(other.config, parent.config))
      .map((other) => other.id);
  }

  /** With the store lock held: deletes the image, then each of its layers no other image uses. */
  private async deleteImageAndLayers(id: Digest): Promise<RemoveAction[]> {
    const image = await this.ctx.images.read(id);
    if (image === null) return [];
    await this.ctx.images.remove(id);
    const actions: RemoveAction[] = [{ deleted: id }];
    const stillUsed = new Set<Digest>();
    for (const other of await this.ctx.images.all()) {
      for (const chainId of chainIdsOf(other.config.rootfs.diff_ids)) stillUsed.add(chainId);
    }
    for (const chainId of chainIdsOf(image.config.rootfs.diff_ids).reverse()) {
      if (stillUsed.has(chainId)) continue;
      await this.ctx.layers.remove(chainId);
      actions.push({ deleted: chainId });
    }
    this.ctx.log.info({ imageId: id, deleted: actions.length - 1 }, 'image removed');
    return actions;
  }

  /**
   * `docker images`: one row per tag, plus untagged images. Untagged images that other images
   * are built on (intermediate build steps) are listed only with `all`, as in Docker.
   */
  async list(options: { all?: boolean } = {}): Promise<ImageSummary[]> {
    return summarise(await this.images(), options);
  }

  /** list() of images already read (images()): a caller that needs both reads the store once. */
  static summaries(images: readonly Image[], options: { all?: boolean } = {}): ImageSummary[] {
    return summarise(images, options);
  }

  /** The image `commit` made `id` from (Docker's parent link), or null. */
  async parentOf(id: Digest): Promise<Digest | null> {
    return this.ctx.images.parent(id);
  }

  /** `docker history`: one row per build step, newest first, with the size of its layer. */
  async history(ref: string): Promise<HistoryRow[]> {
    const image = await this.inspect(ref);
    const history = image.config.history ?? [];
    const rows: HistoryRow[] = [];
    if (history.length === 0) {
      for (const layer of image.layers) {
        rows.push({ id: null, created: null, createdBy: '', size: layer.size, emptyLayer: false, comment: '' });
      }
    } else {
      let layerIndex = 0;
      for (const entry of history) {
        const emptyLayer = entry.empty_layer === true;
        const size = emptyLayer ? 0 : (image.layers[layerIndex++]?.size ?? 0);
        rows.push({
          id: null,
          created: entry.created ?? null,
          createdBy: entry.created_by ?? '',
          size,
          emptyLayer,
          comment: entry.comment ?? '',
        });
      }
      // A step whose result is a local image (a parent, e.g. the FROM image) shows that image's id.
      for (const other of await this.ctx.images.all()) {
        const steps = other.config.history?.length ?? 0;
        if (steps > 0 && steps <= rows.length && isDerivedFrom(image.config, other.config)) rows[steps - 1]!.id = other.id;
      }
    }
    if (rows.length > 0) rows[rows.length - 1]!.id = image.id;
    return rows.reverse();
  }

  // ---- archives ----------------------------------------------------------------------------

  /**
   * `docker save -o FILE IMAGE…`: one tar that is both a Docker archive (manifest.json,
   * repositories) and an OCI image layout (oci-layout, index.json, blobs/sha256/…).
   */
  async save(refs: readonly string[], file: string, options: SaveOptions = {}): Promise<void> {
    const { saveArchive } = await import('./archive-save.js');
    await saveArchive(this.ctx, refs, file, (ref) => this.resolve(ref), options);
  }

  /**
   * `docker load -i FILE`: reads a Docker archive or an OCI layout tar (optionally gzipped),
   * verifying every digest. On any error nothing is added to the store. `options.nameFor` gives
   * each archive tag its store name (all decided before anything is written).
   */
  async load(file: string, options: LoadOptions = {}): Promise<LoadResult> {
    return (await archiveLoad()).loadArchive(this.ctx, file, options);
  }

  // ---- maintenance -------------------------------------------------------------------------

  /**
   * A new empty directory in the store's tmp/ (same filesystem as the layers, so committing it
   * is a rename). Its name records this process, so cleanup() removes it once the process is
   * gone: use it for work that dies with the process (a build step's upper dir, a base image
   * being built), not for containers meant to outlive a worker restart.
   */
  async scratchDir(kind: string): Promise<string> {
    // Remove it with removeScratchDir (or leave it to cleanup() if the process dies).
    if (!/^[a-z][a-z-]*$/.test(kind)) throw new Error(`scratch dir kind must be lowercase words: ${kind}`);
    const dir = this.ctx.paths.newTmp(kind);
    // Synchronous: one mkdir takes microseconds, an awaited one a trip through libuv's pool and a
    // wake-up of this process (5-35 ms on a loaded host, on the way to a build's first event).
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Removes a scratch dir, detaching anything mounted inside it first. */
  async removeScratchDir(dir: string): Promise<void> {
    if (!dir.startsWith(`${this.ctx.paths.tmpDir}/`)) throw new Error(`not a scratch dir of this store: ${dir}`);
    await removeTree(dir);
  }

  /**
   * Runs `fn` holding a named cross-process lock, e.g. so two workers do not build the same base
   * image at once. Separate from the store's own short lock, so long work does not block it.
   */
  async withNamedLock<T>(name: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(name) || name === 'store') throw new Error(`invalid lock name: ${name}`);
    return withLock(this.ctx.paths, `named-${name}`, fn, timeoutMs ?? this.ctx.limits.lockTimeoutMs);
  }

  /**
   * Removes what crashed processes left behind: tmp/ entries of dead processes (half-written
   * layers, images, loads), layer and image directories without their records, tags pointing
   * at missing images, and locks of dead owners. Safe while other processes use the store.
   */
  async cleanup(): Promise<CleanupReport> {
    const { paths } = this.ctx;
    const removed = [...this.removedAtOpen, ...(await this.removeDeadWork())];
    this.removedAtOpen = [];
    await storeLock(this.ctx, async () => {
      for (const name of await readdir(paths.layersDir).catch(() => [] as string[])) {
        if (/^[0-9a-f]{64}$/.test(name) && (await exists(join(paths.layersDir, name, 'layer.json')))) continue;
        await rm(join(paths.layersDir, name), { recursive: true, force: true });
        removed.push(`layers/${name}`);
      }
      for (const name of await readdir(paths.imagesDir).catch(() => [] as string[])) {
        if (/^[0-9a-f]{64}$/.test(name) && (await this.ctx.images.exists(digestFromHex(name)))) continue;
        await rm(join(paths.imagesDir, name), { recursive: true, force: true });
        removed.push(`images/${name}`);
      }
      for (const { ref, imageId } of await this.ctx.refs.list()) {
        if (await this.ctx.images.exists(imageId)) continue;
        await this.ctx.refs.delete(ref);
        removed.push(`refs/${encodeURIComponent(formatReference(ref))}`);
      }
    });
    if (removed.length > 0) this.ctx.log.info({ removed }, 'image store cleaned up');
    return { removed };
  }

  /**
   * Removes the tmp/ entries of processes that are gone (a killed commit's copy, a killed load's
   * staging), first undoing a load that died while publishing. Cheap (one readdir when there is
   * nothing to do), so every open() runs it: what a killed command left goes at the next one.
   */
  private async removeDeadWork(): Promise<string[]> {
    const { paths } = this.ctx;
    const removed: string[] = [];
    for (const name of await listRecords(paths.tmpDir).catch(() => [] as string[])) {
      const pid = tmpOwnerPid(name);
      if (pid !== null && processAlive(pid)) continue;
      const path = join(paths.tmpDir, name);
      if (name.startsWith('load-')) {
        const { undoInterruptedLoad } = await archiveLoad();
        await storeLock(this.ctx, () => undoInterruptedLoad(this.ctx, path));
      }
      await removeTree(path);
      removed.push(`tmp/${name}`);
    }
    return removed;
  }

  /**
   * Removes this process's own tmp/ entries, for a process about to exit on a signal while its
   * work is in flight (a copy or an extraction may still be writing: retried until it is gone).
   * A load caught publishing (its journal exists) is left: once this process is gone, the next
   * open() undoes it under the store lock.
   */
  async discardOwnWork(): Promise<void> {
    const { paths } = this.ctx;
    for (const name of await readdir(paths.tmpDir).catch(() => [] as string[])) {
      if (tmpOwnerPid(name) !== process.pid) continue;
      const path = join(paths.tmpDir, name);
      if (name.startsWith('load-') && (await exists(join(path, 'journal.json')))) continue;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await removeTree(path);
          break;
        } catch {
          // ENOTEMPTY: a writer added an entry meanwhile
        }
      }
    }
  }

  /** Every stored image (for tooling and tests). */
  async images(): Promise<Image[]> {
    return mapConcurrent(await this.ctx.images.all(), READS_AT_ONCE, (stored) => imageView(this.ctx, stored));
  }

  /** @internal for archive tests: the raw stored documents of an image. */
  async storedImage(id: Digest): Promise<StoredImage | null> {
    return isDigest(id) ? this.ctx.images.read(id) : null;
  }
}

function summarise(images: readonly Image[], options: { all?: boolean }): ImageSummary[] {
  const rows: ImageSummary[] = [];
  for (const image of images) {
    for (const tag of image.tags) {
      const ref = parseReference(tag);
      rows.push({ repository: ref.repository, tag: ref.tag, id: image.id, created: image.created, size: image.size });
    }
    if (image.tags.length > 0) continue;
    const intermediate = images.some((other) => other.id !== image.id && isDerivedFrom(other.config, image.config));
    if (intermediate && options.all !== true) continue;
    rows.push({ repository: '<none>', tag: '<none>', id: image.id, created: image.created, size: image.size });
  }
  return rows.sort(
    (a, b) => byCodePoint(b.created ?? '', a.created ?? '') || byCodePoint(a.repository, b.repository) || byCodePoint(a.tag, b.tag),
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function notFound(ref: string): ImageStoreError {
  return new ImageStoreError('image.notFound', `No such image: ${ref}`, { ref });
}

/** `users` name what holds the image (containers, child images, other tags), for the learner. */
function conflict(message: string, facts: { ref: string; users: string[] } & Record<string, string | string[]>): ImageStoreError {
  return new ImageStoreError('image.conflict', `conflict: ${message}`, facts);
}

export type { ImageConfig, LayerRecord, Change, ChangeCounts };
