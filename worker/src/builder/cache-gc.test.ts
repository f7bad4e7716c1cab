// The build cache's bound and collection (sessions/image-ops.ts collectBuildCache, called as a
// build finishes): a session's untagged step images that nothing stands on go, oldest first, beyond
// limits.ts buildCacheLimits.danglingImagesMax and whenever the session is at its image quota, so
// rebuilds no longer pile up <none> images until the quota refuses the next build. Named images
// are never collected: the control shows the quota still refusing when every image has a name.
// ENV steps make images without starting a container, so each build here is quick.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LearnerError } from '../../../protocol/errors.js';
import type { Digest } from '../image-store/index.js';
import { buildCacheLimits } from '../limits.js';
import { SessionImages } from '../sessions/images.js';
import { createHarness, sessionOf, type Harness } from './test-support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await createHarness('cache-gc');
}, 120_000);

afterAll(async () => {
  await h?.close();
});

const exists = async (id: Digest): Promise<boolean> => h.store.resolve(id).then(() => true, () => false);

async function cacheEntries(): Promise<number> {
  const root = join(h.dataDir, 'build-cache', h.session);
  let n = 0;
  for (const dir of await readdir(root).catch(() => [] as string[])) n += (await readdir(join(root, dir))).filter((f) => f.endsWith('.json')).length;
  return n;
}

it('keeps at most the bound of untagged images nothing stands on: the oldest go, with their cache entries', { timeout: 120_000 }, async () => {
  const max = buildCacheLimits.danglingImagesMax;
  const ids: Digest[] = [];
  for (let i = 0; i <= max + 1; i++) ids.push((await h.build(`FROM busybox\nENV STEP=${i}\n`)).imageId as Digest);
  // After each build at most `max` stay besides that build's own image.
  const present = await Promise.all(ids.map(exists));
  expect(present).toEqual([false, ...Array<boolean>(max + 1).fill(true)]);
  expect(await cacheEntries()).toBe(max + 1);
  // The newest is still a cache hit.
  expect((await h.build(`FROM busybox\nENV STEP=${max + 1}\n`)).steps.at(-1)).toMatchObject({ cacheHit: true });
  for (const id of ids.slice(1)) await sessionOf(h).disown(id);
  for (const id of ids.slice(1)) await h.store.removeUnused(id, async () => false);
});

it('at the image quota the oldest untagged image goes before a build is refused; a named image never does (control)', { timeout: 120_000 }, async () => {
  const four = h.builderWith({ quotas: { images: 4 } });
  const session = sessionOf(h);
  const kept = (await h.build('FROM busybox\nENV KEPT=1\n', { tags: ['kept'] }, four)).imageId as Digest;
  const loose: Digest[] = [];
  for (let i = 0; i < 3; i++) loose.push((await h.build(`FROM busybox\nENV LOOSE=${i}\n`, {}, four)).imageId as Digest);
  // The third loose one filled the quota: the oldest went, so the next build fits (and makes room in turn).
  expect(await Promise.all([kept, ...loose].map(exists))).toEqual([true, false, true, true]);
  const next = (await h.build('FROM busybox\nENV LOOSE=3\n', {}, four)).imageId as Digest;
  expect(await Promise.all([kept, ...loose, next].map(exists))).toEqual([true, false, false, true, true]);

  // Control: named images and the build's own image are not the cache's to collect, and the quota refuses.
  for (const [i, id] of [loose[2]!, next].entries()) await session.tag(id, `named${i}`);
  const own = (await h.build('FROM busybox\nENV LOOSE=4\n', {}, four)).imageId as Digest;
  const { error } = await h.buildFails('FROM busybox\nENV LOOSE=5\n', {}, four);
  expect((error as LearnerError).key).toBe('quota.images');
  expect(await Promise.all([kept, loose[2]!, next, own].map(exists))).toEqual([true, true, true, true]);
  expect(await h.leftovers()).toEqual([]);
});

it('a cached rebuild that moves a tag still collects the image it left dangling; one that changes nothing skips the collection', { timeout: 120_000 }, async () => {
  // A session of its own, at a quota of two images.
  const session = new SessionImages(h.store, 'movetag', h.dataDir);
  const two = h.builderWith({ quotas: { images: 2 } });
  const build = (dockerfile: string, tag: string) => h.build(dockerfile, { session: 'movetag', tags: [tag] }, two);
  const q = (await build('FROM busybox\nENV MOVE=q\n', 'move-q')).imageId as Digest;
  const p = (await build('FROM busybox\nENV MOVE=p\n', 'move-app')).imageId as Digest;
  // All cache hits, no image made; `move-app` leaves p for q, so p is dangling at the quota and goes.
  // (The build skips its collection only when no tag moved: without that check p would stay.)
  const moved = await build('FROM busybox\nENV MOVE=q\n', 'move-app');
  expect(moved.steps.at(-1)).toMatchObject({ cacheHit: true });
  expect(moved.imageId).toBe(q);
  expect(await Promise.all([q, p].map(exists))).toEqual([true, false]);

  // Nothing made, nothing moved: no collection. An image another command left dangling (the tag
  // removed here) stays until a build that changes something, as it did before any build ran.
  const r = (await build('FROM busybox\nENV MOVE=r\n', 'move-r')).imageId as Digest;
  await h.store.untag(session.qualify('move-r'));
  const same = await build('FROM busybox\nENV MOVE=q\n', 'move-app');
  expect(same.steps.at(-1)).toMatchObject({ cacheHit: true });
  expect(await exists(r)).toBe(true);

  for (const id of [q, r]) await session.disown(id);
  for (const id of [q, r]) await h.store.removeUnused(id, async () => false);
});
