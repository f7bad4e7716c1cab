// Image verbs in a session's names. The store is shared by every session on the host; a learner's
// `app:latest` is `local.layercake/<session>/app:latest` in it (session-images.ts). These keep
// the learner inside their own names: `images` lists theirs (and the base images), `rmi` removes
// theirs and never a base image everyone uses, `load` puts an archive's tags into the session.
import { LearnerError } from '../../../protocol/errors.js';
import { availableBaseImages } from '../base-images/index.js';
import { sessionImages } from '../containers/quotas.js';
import {
  formatReference,
  ImageStoreError,
  isImageStoreError,
  parseReference,
  type Digest,
  type ImageStore,
  type LoadResult,
  type RemoveAction,
} from '../image-store/index.js';
import type { SessionImages } from '../session-images.js';

export interface ImageRow {
  repository: string;
  tag: string;
  id: Digest;
  created: string | null;
  size: number;
}

/** `images`: the session's tagged images, the base images, and its own untagged leaves as <none>. */
export async function listImages(store: ImageStore, images: SessionImages): Promise<ImageRow[]> {
  const rows: ImageRow[] = (await images.list()).map((r) => ({ ...r }));
  const { visible } = await sessionImages(store, images);
  for (const image of visible) {
    if (image.tags.some((t) => images.unqualify(t) !== null)) continue;
    rows.push({ repository: '<none>', tag: '<none>', id: image.id, created: image.created, size: image.size });
  }
  return rows.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? ''));
}

function isBaseName(ref: string): boolean {
  try {
    const name = formatReference(parseReference(ref));
    return availableBaseImages().some((b) => b.tags.some((t) => formatReference(parseReference(t)) === name));
  } catch {
    return false;
  }
}

/** `rmi`: by the session's name (that tag, and the image if it was the last) or by id. */
export async function removeImage(store: ImageStore, images: SessionImages, ref: string, force: boolean): Promise<string[]> {
  const id = await images.resolve(ref);
  const baseIds = (await sessionImages(store, images)).baseIds;
  const ownName = (() => {
    try {
      return images.qualify(ref);
    } catch {
      return null;
    }
  })();
  const byOwnName = ownName !== null && (await store.resolve(ownName).catch(() => null)) === id && !/^(sha256:)?[0-9a-f]{4,64}$/.test(ref);
  if (!byOwnName && (baseIds.has(id) || isBaseName(ref))) throw new LearnerError('image.baseImageShared', { ref });
  let actions: RemoveAction[];
  try {
    actions = await store.remove(byOwnName ? ownName! : id, { force });
  } catch (err) {
    throw inLearnerNames(err, images);
  }
  const lines: string[] = [];
  for (const action of actions) {
    if ('untagged' in action) lines.push(`Untagged: ${images.unqualify(action.untagged) ?? action.untagged}`);
    else {
      lines.push(`Deleted: ${action.deleted}`);
      await images.disown(action.deleted);
    }
  }
  return lines;
}

const QUALIFIED = /^local\.layercake\/[a-z0-9]+\/(.+)$/;

/** The store's error about a session's image, with the learner's names in place of the store's. */
function inLearnerNames(err: unknown, images: SessionImages): unknown {
  if (!isImageStoreError(err)) return err;
  const prefix = `local.layercake/${images.session}/`;
  const strip = (text: string): string => text.split(prefix).join('');
  const facts = Object.fromEntries(
    Object.entries(err.facts).map(([k, v]) => [k, typeof v === 'string' ? strip(v) : Array.isArray(v) ? v.map(strip) : v]),
  );
  return new ImageStoreError(err.key, strip(err.message), facts);
}

/**
 * After `store.load`: the archive's tags are moved into the session's names (an archive saved
 * from any session gives back the learner's names), and the images become the session's. Tags
 * the load took from someone else are given back to what they named before.
 */
export async function adoptLoaded(store: ImageStore, images: SessionImages, result: LoadResult): Promise<string[]> {
  const lines: string[] = [];
  const previous = new Map(result.retagged.map((r) => [r.tag, r.previous]));
  for (const image of result.images) {
    await images.own(image.id);
    if (image.tags.length === 0) lines.push(`Loaded image ID: ${image.id}`);
    for (const tag of image.tags) {
      const mine = images.unqualify(tag);
      if (mine !== null) {
        lines.push(`Loaded image: ${mine}`);
        continue;
      }
      const learnerName = QUALIFIED.exec(tag)?.[1] ?? tag;
      await images.tag(image.id, learnerName);
      const before = previous.get(tag);
      if (before) await store.tag(before, tag);
      // A base image's own name stays (loading a saved busybox gives back the same image).
      else if (!isBaseName(tag)) await store.untag(tag);
      lines.push(`Loaded image: ${formatReference(parseReference(learnerName))}`);
    }
  }
  return lines;
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
