// `load` into a session is bounded by that session's quotas, checked before anything is
// published and, for bytes, while the archive is read: a refused load leaves the store and the
// session as they were. (The usage figures are given here, as Containers.usage() reports them.)
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionQuotas, SessionUsage } from './quotas.js';
import { ImageStore } from '../image-store/index.js';
import { removeDir, tempDir, writeTree } from '../image-store/test-support/fixtures.js';
import { sessionQuotas } from '../limits.js';
import { SessionImages } from './images.js';
import { ensureBaseImage } from '../base-images/index.js';
import { loadImages, removeImage } from './image-ops.js';

const MiB = 1024 * 1024;
let work: string;
let archive: string;

const quota = (usage: Partial<SessionUsage>, quotas: Partial<SessionQuotas>) => ({
  usage: async (): Promise<SessionUsage> => ({ images: 0, containers: 0, layerBytes: 0, ...usage }),
  sessionQuotas: { ...sessionQuotas, ...quotas },
});

async function state(dataDir: string, store: ImageStore): Promise<string[][]> {
  const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
  return Promise.all([list(join(store.root, 'refs')), list(join(store.root, 'images')), list(join(store.root, 'layers')), list(join(store.root, 'tmp')), list(join(dataDir, 'sessions'))]);
}

beforeAll(async () => {
  work = await tempDir('session-load');
  const source = await ImageStore.open(join(work, 'source'));
  const dir = join(work, 'layer');
  // Incompressible, so its size on disk is its size.
  await writeTree(dir, { blob: Buffer.from(Array.from({ length: 3 * MiB }, (_, i) => (i * 7919) % 251)).toString('latin1') });
  const { layer } = await source.commitLayer(dir, null);
  await source.createImage(
    { architecture: 'amd64', os: 'linux', config: { Cmd: ['/blob'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } },
    { tags: ['three:mib'] },
  );
  archive = join(work, 'three.tar');
  await source.save(['three:mib'], archive);
});
afterAll(async () => {
  await removeDir(work);
});

describe('load into a session', () => {
  it('is refused past the session’s disk quota while it reads, and past its image count before it publishes', async () => {
    const dataDir = join(work, 'data');
    const store = await ImageStore.open(join(dataDir, 'store'));
    const images = new SessionImages(store, 's1', dataDir);
    const before = await state(dataDir, store);

    const bytes = await loadImages(store, images, archive, quota({ layerBytes: 3 * MiB }, { layerBytes: 4 * MiB })).catch((err: unknown) => err);
    expect(bytes).toMatchObject({ key: 'quota.layerBytesAdding', facts: { size: '3 MiB', limit: '4 MiB' } });
    expect(await state(dataDir, store)).toEqual(before);

    const count = await loadImages(store, images, archive, quota({ images: 2 }, { images: 2 })).catch((err: unknown) => err);
    expect(count).toMatchObject({ key: 'quota.images', facts: { count: 2, limit: 2 } });
    expect(await state(dataDir, store)).toEqual(before);

    // Within both it loads, as the session's own name.
    expect(await loadImages(store, images, archive, quota({ images: 1, layerBytes: 1 * MiB }, { images: 2, layerBytes: 8 * MiB }))).toEqual([
      'Loaded image: three:mib',
    ]);
    expect((await images.list()).map((r) => `${r.repository}:${r.tag}`)).toEqual(['three:mib']);
  });
});

describe('rmi of a learner’s own name for a base image', () => {
  it('takes only that name: the base image is everyone’s and is not reported deleted', async () => {
    const dataDir = join(work, 'data-base');
    const store = await ImageStore.open(join(dataDir, 'store'));
    const busybox = await ensureBaseImage(store, 'busybox');
    const images = new SessionImages(store, 's1', dataDir);
    await images.tag(busybox.id, 'mine');
    expect(await removeImage(store, images, 'mine', false)).toEqual({ untagged: ['mine:latest'], deleted: [] });
    expect(await store.resolve('busybox')).toBe(busybox.id);
    await expect(removeImage(store, images, 'busybox', true)).rejects.toMatchObject({ key: 'image.baseImageShared' });
  });
});

describe('rmi while containers use the image', () => {
  // The hook is the one Containers installs (containers/image-users.ts, through the CLI in
  // cli.test.ts); here it is set directly, to put another session's container beside ours.
  it('names only the session’s own containers, and another session’s container alone does not block it', async () => {
    const dataDir = join(work, 'data-users');
    const store = await ImageStore.open(join(dataDir, 'store'));
    const source = await loadImages(store, new SessionImages(store, 's1', dataDir), archive);
    expect(source).toEqual(['Loaded image: three:mib']);
    const mine = new SessionImages(store, 's1', dataDir);
    const id = await mine.resolve('three:mib');
    let users = [
      { containerId: 'aaaaaaaaaaaa', running: true, session: 's2' },
      { containerId: 'bbbbbbbbbbbb', running: false, session: 's1' },
    ];
    store.setImageUsers((image) => (image === id ? users : []));
    const refused = await removeImage(store, mine, 'three:mib', false).catch((err: unknown) => err);
    expect(refused).toMatchObject({ facts: { users: ['container bbbbbbbbbbbb'] } });
    expect(JSON.stringify(refused)).not.toContain('aaaaaaaaaaaa');

    users = users.filter((u) => u.session === 's2');
    expect(await removeImage(store, mine, 'three:mib', false)).toMatchObject({ untagged: ['three:mib'] });
  });
});
