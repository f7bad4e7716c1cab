// Base images built once per test run and copied into each test file's fresh store. mmdebstrap
// costs a minute or more of a 2-core machine per build; without this every file that needs
// debian:bookworm-slim built its own. The copy is the same image (same config, so the same id;
// the same files, so the same diff id) committed as a base layer, as ensureBaseImage would.
// debian-slim.test.ts still builds its own: it is the test of the build.
import { inject } from 'vitest';
import { ImageStoreError } from '../../image-store/errors.js';
import { ImageStore, type Image } from '../../image-store/store.js';
import { ensureBaseImage } from '../index.js';

let cache: Promise<ImageStore> | null = null;

/** ensureBaseImage(store, ref), built at most once per run (a named lock makes a concurrent file wait for it). */
export async function sharedBaseImage(store: ImageStore, ref: string): Promise<Image> {
  cache ??= ImageStore.open(inject('baseImageCache'));
  const built = await ensureBaseImage(await cache, ref);
  if (built.layers.length !== 1) throw new Error(`${ref}: a base image is one layer, this one has ${built.layers.length}`);
  try {
    const present = await store.inspect(built.id);
    for (const tag of built.tags) if (!present.tags.includes(tag)) await store.tag(built.id, tag);
    return await store.inspect(built.id);
  } catch (err) {
    if (!(err instanceof ImageStoreError && err.key === 'image.notFound')) throw err;
  }
  const { layer } = await store.commitLayer((await cache).layerDir(built.layers[0]!.chainId), null, { source: 'base', copy: true });
  if (layer.diffId !== built.config.rootfs.diff_ids[0]) throw new Error(`${ref}: the copied layer is ${layer.diffId}, not ${built.config.rootfs.diff_ids[0]}`);
  await store.createImage(built.config, { tags: [...built.tags] });
  return store.inspect(built.id);
}
