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
