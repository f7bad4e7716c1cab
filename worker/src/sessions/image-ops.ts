// Image verbs in a session's names (the command line's and the queue's image-op). The store is shared by every session on the host; a learner's
// `app:latest` is `local.layercake/<session>/app:latest` in it (images.ts). These keep
// the learner inside their own names: `images` lists theirs (and the base images), `rmi` removes
// theirs and never a base image everyone uses nor what another session holds, `load` writes an
// archive's tags only as the session's own names.
import { LearnerError } from '../../../protocol/errors.js';
import { checkQuotas, sessionImages, type SessionQuotas, type SessionUsage } from './quotas.js';
import { isDerivedFrom } from '../image-store/context.js';
import { byCodePoint, formatReference, ImageStoreError, parseReference, type Digest, type Image, type ImageStore, type ImageUser } from '../image-store/index.js';
import { isBaseName, type SessionImages } from './images.js';

export interface ImageRow {
  repository: string;
  tag: string;
  id: Digest;
  created: string | null;
  size: number;
}

/** `images`: the session's tagged images, the base images, and its own untagged leaves as <none>. */
export async function listImages(store: ImageStore, images: SessionImages): Promise<ImageRow[]> {
  // The store read once for both: every image's config, layers and tags.
  const all = await store.images();
  const rows: ImageRow[] = (await images.list(all)).map((r) => ({ ...r }));
  const { visible } = await sessionImages(store, images, all);
  for (const image of visible) {
    if (image.tags.some((t) => images.unqualify(t) !== null)) continue;
    rows.push({ repository: '<none>', tag: '<none>', id: image.id, created: image.created, size: image.size });
  }
  return rows.sort((a, b) => byCodePoint(b.created ?? '', a.created ?? ''));
}

/**
 * The session's containers that use `id` (containers of other sessions are not its business), as
 * the store's image-users hook reports them: containers/ wires it, so sessions/ needs no import of it.
 */
async function usersInSession(store: ImageStore, images: SessionImages, id: Digest): Promise<ImageUser[]> {
  return (await store.usersOf(id)).filter((user) => user.session === images.session);
}

/**
 * `rmi`: by the session's name (that tag, and the image if it was the session's last name for
 * it) or by id. Only this session's names and claim are removed: an image another session also
 * holds (the same content built, committed or loaded there) stays for it, so a removal here never
 * takes another learner's image, and the messages name only this session's tags and containers.
 * The store deletes an image once no session, tag, container or child image holds it; untagged
 * build steps below a removed image go with it, as Docker's do. What is printed does not depend
 * on other sessions (no layer lines, which would tell whether someone else shares the content).
 */
export interface RemovedImages {
  /** The session's names taken off, as the learner writes them. */
  untagged: string[];
  /** Images that left the session (Docker's `Deleted:` lines). */
  deleted: Digest[];
}

export async function removeImage(store: ImageStore, images: SessionImages, ref: string, force: boolean): Promise<RemovedImages> {
  const id = await images.resolve(ref);
  const isId = /^(sha256:)?[0-9a-f]{4,64}$/.test(ref);
  const ownName = isId ? null : await ownNameOf(images, ref, id);
  const baseIds = new Set(await images.baseIds());
  if (ownName === null && (baseIds.has(id) || isBaseName(ref))) throw new LearnerError('image.baseImageShared', { ref });

  const { owned } = await sessionImages(store, images);
  const image = await store.inspect(id);
  const ownTags = image.tags.filter((t) => images.unqualify(t) !== null);
  const shortId = id.slice(7, 19);
  const users = await usersInSession(store, images, id);
  const children = owned.filter((other) => other.id !== id && isDerivedFrom(other.config, image.config));
  const removed: RemovedImages = { untagged: [], deleted: [] };
  const untag = async (name: string): Promise<void> => {
    await store.untag(name);
    removed.untagged.push(images.unqualify(name)!);
  };

  if (ownName !== null) {
    const last = ownTags.length === 1;
    const learnerName = images.unqualify(ownName)!;
    if (last && users.length > 0 && !force) {
      throw conflict(
        `unable to remove repository reference "${learnerName}" (must force) - container ${users[0]!.containerId} is using its referenced image ${shortId}`,
        { ref: learnerName, users: users.map((u) => `container ${u.containerId}`) },
      );
    }
    await untag(ownName);
    // A learner's own name for a base image (`tag busybox mine`) goes; the base image stays everyone's.
    if (!last || users.length > 0 || children.length > 0 || baseIds.has(id)) return removed;
  } else {
    if (ownTags.length > 1 && !force) {
      throw conflict(`unable to delete ${shortId} (must be forced) - image is referenced in multiple repositories`, {
        ref,
        users: ownTags.map((t) => images.unqualify(t)!),
      });
    }
    if (users.length > 0) {
      const user = users[0]!;
      throw conflict(
        `unable to delete ${shortId} (cannot be forced) - image is being used by ${user.running ? 'running' : 'stopped'} container ${user.containerId}`,
        { ref, users: users.map((u) => `container ${u.containerId}`) },
      );
    }
    if (children.length > 0) {
      throw conflict(`unable to delete ${shortId} (cannot be forced) - image has dependent child images`, {
        ref,
        users: children.map((child) => `image ${child.id.slice(7, 19)}`),
      });
    }
    for (const tag of ownTags) await untag(tag);
  }

  // The image leaves this session; then each untagged build step below it that nothing else of the session stands on.
  let remaining = owned.filter((o) => o.id !== id);
  for (let current: Image | null = image; current !== null; ) {
    await release(store, images, current.id);
    removed.deleted.push(current.id);
    const below = parentStep(current, remaining);
    if (below === null || below.tags.some((t) => images.unqualify(t) !== null) || baseIds.has(below.id)) break;
    remaining = remaining.filter((o) => o.id !== below.id);
    if (remaining.some((o) => isDerivedFrom(o.config, below.config)) || (await usersInSession(store, images, below.id)).length > 0) break;
    current = below;
  }
  return removed;
}

/**
 * The build cache's garbage collection. In this engine a build's steps are images (as in Docker's
 * classic builder), so the cache is the session's untagged images, and a rebuild leaves the last
 * one's chain behind as <none>. After a build: an untagged image that nothing stands on (no name,
 * no container, no image built on it) goes, oldest first, while there are more than
 * `danglingMax` of them or while the session is at its image quota, each removal possibly making
 * its parent step the next such image. What a learner named, runs or built on is never touched,
 * nor `keep` (the build's own image).
 * Returns the ids that left the session.
 */
export async function collectBuildCache(
  store: ImageStore,
  images: SessionImages,
  bound: { danglingMax: number; imagesMax: number; keep?: Digest },
): Promise<Digest[]> {
  const removed: Digest[] = [];
  for (;;) {
    const { owned, baseIds } = await sessionImages(store, images);
    const dangling: Image[] = [];
    for (const image of owned) {
      if (image.id === bound.keep || baseIds.has(image.id) || image.tags.some((t) => images.unqualify(t) !== null)) continue;
      if (owned.some((other) => other.id !== image.id && isDerivedFrom(other.config, image.config))) continue;
      if ((await usersInSession(store, images, image.id)).length > 0) continue;
      dangling.push(image);
    }
    // The next build needs room for one more image (StepBudget.admitNewImages).
    if (dangling.length === 0 || (dangling.length <= bound.danglingMax && owned.length < bound.imagesMax)) return removed;
    const oldest = dangling.reduce((a, b) => ((a.created ?? '') <= (b.created ?? '') ? a : b));
    await release(store, images, oldest.id);
    removed.push(oldest.id);
  }
}

/** Drops the session's claim on an image; the store deletes it if no one else holds it. */
async function release(store: ImageStore, images: SessionImages, id: Digest): Promise<void> {
  await images.disown(id);
  await store.removeUnused(id, () => images.ownedElsewhere(id));
}

/** The session's own store name that `ref` means, if `ref` is one of its names for `id`. */
async function ownNameOf(images: SessionImages, ref: string, id: Digest): Promise<string | null> {
  let name: string;
  try {
    name = images.qualify(ref);
  } catch {
    return null;
  }
  return (await images.store.resolve(name).catch(() => null)) === id ? name : null;
}

/** The build step `image` was made on: the one of `candidates` it extends with the longest history. */
function parentStep(image: Image, candidates: readonly Image[]): Image | null {
  let best: Image | null = null;
  for (const other of candidates) {
    if (other.id === image.id || !isDerivedFrom(image.config, other.config)) continue;
    if (best === null || (other.config.history?.length ?? 0) > (best.config.history?.length ?? 0)) best = other;
  }
  return best;
}

/** The learner error for adding `bytes` past the session's disk quota. */
function quotaError(usage: SessionUsage, quotas: Readonly<SessionQuotas>, bytes: number): Error {
  try {
    checkQuotas(usage, quotas, { bytes });
  } catch (err) {
    return err as Error;
  }
  return new Error(`load passed the session's remaining disk quota with ${bytes} bytes`);
}

function conflict(message: string, facts: { ref: string; users: string[] }): ImageStoreError {
  return new ImageStoreError('image.conflict', `conflict: ${message}`, facts);
}

/** What a session may still add: its usage and quotas (Containers gives both). */
export interface QuotaSource {
  usage(): Promise<SessionUsage>;
  readonly sessionQuotas: Readonly<SessionQuotas>;
}

/**
 * `load` into a session: every tag of the archive becomes a name of this session (whichever
 * session, or none, it was saved from), decided and checked before anything is written, so a
 * load never writes another session's name or a base image's. The session's quotas bound what it
 * may stage and add, and its claim on the images is recorded before their names appear.
 */
export async function loadImages(store: ImageStore, images: SessionImages, file: string, quota?: QuotaSource): Promise<string[]> {
  const baseIds = new Set(await images.baseIds());
  const usage = quota ? await quota.usage() : null;
  const visible = new Set((await sessionImages(store, images)).visible.map((i) => i.id));
  const limits =
    quota && usage
      ? {
          maxBytes: Math.max(0, quota.sessionQuotas.layerBytes - usage.layerBytes),
          maxBytesError: (stagedBytes: number) => quotaError(usage, quota.sessionQuotas, stagedBytes),
          admit: ({ images: ids, stagedBytes }: { images: Digest[]; stagedBytes: number }) =>
            checkQuotas(usage, quota.sessionQuotas, {
              images: ids.filter((id) => !visible.has(id) && !baseIds.has(id)).length,
              bytes: stagedBytes,
            }),
        }
      : {};
  const result = await store.load(file, {
    nameFor: (tag, imageId) => images.loadedName(tag, imageId, baseIds),
    ...limits,
    beforeTags: async (ids) => {
      for (const id of ids) if (!baseIds.has(id)) await images.own(id);
    },
  });
  const lines: string[] = [];
  for (const image of result.images) {
    const names = [...image.tags.map((t) => images.unqualify(t) ?? t), ...image.unchangedTags];
    if (names.length === 0) lines.push(`Loaded image ID: ${image.id}`);
    for (const name of names) lines.push(`Loaded image: ${name}`);
  }
  return lines;
}

/**
 * `save`: the images `refs` name, written to `file` under the names the learner gave them
 * (`myapp:v1`, not the store's session-prefixed name), so `docker load` then `docker run myapp:v1`
 * works; a base image keeps its own name.
 */
export async function saveImages(store: ImageStore, images: SessionImages, refs: readonly string[], file: string): Promise<void> {
  const storeRefs: string[] = [];
  const rows = await images.list();
  for (const ref of refs) {
    // A repository without a tag saves every tag the session has of it, as Docker's save does.
    const bare = /^[a-z0-9]+(?:[._/-][a-z0-9]+)*$/.test(ref) && !isBaseName(ref);
    const named = bare ? rows.filter((row) => row.repository === parseReference(ref).repository) : [];
    if (named.length > 0) for (const row of named) storeRefs.push(images.qualify(`${row.repository}:${row.tag}`));
    else storeRefs.push(await storeRefFor(images, ref));
  }
  await store.save(storeRefs, file, {
    archiveName: (tag) => {
      const mine = images.unqualify(formatReference(tag));
      return mine === null ? null : parseReference(mine);
    },
  });
}

/** The store's name for what a learner gave `save` (their tag, or an id). */
export async function storeRefFor(images: SessionImages, ref: string): Promise<string> {
  const id = await images.resolve(ref);
  try {
    const qualified = images.qualify(ref);
    if ((await images.store.resolve(qualified).catch(() => null)) === id) return qualified;
  } catch {
    // not a name: an id
  }
  return isBaseName(ref) ? formatReference(parseReference(ref)) : id;
}
