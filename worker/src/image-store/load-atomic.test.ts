/**
 * `load` against a hostile or unlucky archive changes all or nothing. Every tag is named and
 * checked before anything is written; a failure after some layers, a failure after the images
 * are in place, and a process SIGKILLed while staging or while publishing each leave the store
 * exactly as it was (tags, images, layers, tmp/). A gzip bomb stops at a bound before the data
 * filesystem is full. Each "changes nothing" is checked against a listing of the whole store, and
 * each crash against the half-done state really being there before the clean-up.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, statfs } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountQuotaFilesystem, type QuotaFilesystem } from '../disk/test-support/quota-filesystem.js';
import { isImageStoreError } from './errors.js';
import { parseReference } from './references.js';
import { ImageStore, type Image } from './store.js';
import { encodeTarHeader, TAR_END, tarPadding } from './tar-codec.js';
import { writeArchive } from './test-support/archives.js';
import { removeDir, tempDir, writeTree } from './test-support/fixtures.js';

let work: string;
let source: ImageStore;
/** Three layers (so a load can fail after some), tagged learner/app:v2. */
let threeLayers: Image;
let archive: string;
let n = 0;

const fresh = async (): Promise<ImageStore> => ImageStore.open(join(work, `store-${++n}`));

/** Every path under the store's root except its transient locks: what "changes nothing" compares. */
async function listing(store: ImageStore): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (relative(store.root, path) === 'locks') continue;
      out.push(relative(store.root, path));
      if (entry.isDirectory()) await walk(path);
    }
  };
  await walk(store.root);
  return out.sort();
}

function config(diffIds: string[], created: string) {
  return { architecture: 'amd64', os: 'linux', created, config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers' as const, diff_ids: diffIds } };
}

async function layers(store: ImageStore, count: number, label: string): Promise<string[]> {
  const diffIds: string[] = [];
  let parent = null;
  for (let i = 0; i < count; i++) {
    const dir = join(work, `${label}-${i}`);
    await writeTree(dir, { [`layer${i}/file`]: `${label} ${i}` });
    const { layer } = await source.commitLayer(dir, parent);
    diffIds.push(layer.diffId);
    parent = layer.chainId;
  }
  return diffIds;
}

/** Loads `file` in a child process that stops at `at` and is SIGKILLed there. */
async function killedLoad(root: string, file: string, at: 'stage' | 'publish'): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'test-support/load-child.ts'), root, file, at], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [said] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])) as [Buffer];
  expect(String(said)).toBe(`${at}\n`);
  child.kill('SIGKILL');
  await once(child, 'exit');
}

beforeAll(async () => {
  work = await tempDir('load-atomic');
  source = await ImageStore.open(join(work, 'source'));
  threeLayers = await source.createImage(config(await layers(source, 3, 'three'), '2024-01-01T00:00:00Z'), { tags: ['learner/app:v2'] });
  archive = join(work, 'three.tar');
  await source.save(['learner/app:v2'], archive);
});
afterAll(async () => {
  await removeDir(work);
});

describe('load is all or nothing', () => {
  it('names every tag before writing any: one refused name refuses the load, and nothing is written', async () => {
    const target = await fresh();
    const before = await listing(target);
    const asked: string[] = [];
    const refused = await target
      .load(archive, {
        nameFor: (tag) => {
          asked.push(`${tag.repository}:${tag.tag}`);
          throw new Error('not this name');
        },
      })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ message: 'not this name' });
    expect(asked).toEqual(['learner/app:v2']);
    expect(await listing(target)).toEqual(before);
    // The names nameFor gives are the only ones written.
    await target.load(archive, { nameFor: () => parseReference('local.layercake/s1/app:v2') });
    expect((await target.inspect(threeLayers.id)).tags).toEqual(['local.layercake/s1/app:v2']);
  });

  it('a failure after some layers are staged changes nothing, tmp/ included', async () => {
    const target = await fresh();
    const before = await listing(target);
    const staged: number[] = [];
    const failed = await target
      .load(archive, {
        afterLayerStaged: (count) => {
          staged.push(count);
          if (count === 2) throw new Error('injected after two layers');
        },
      })
      .catch((err: unknown) => err);
    expect(failed).toMatchObject({ message: 'injected after two layers' });
    expect(staged).toEqual([1, 2]);
    expect(await listing(target)).toEqual(before);
  });

  it('a failure once layers and images are in place puts back every tag, image and layer', async () => {
    const target = await fresh();
    // learner/app:v2 already names another image there: it must name that one again after.
    const other = await target.createImage(config([], '2023-01-01T00:00:00Z'), { tags: ['learner/app:v2'] });
    const before = await listing(target);
    let layersThen: string[] = [];
    const failed = await target
      .load(archive, {
        beforeTags: async () => {
          layersThen = await readdir(join(target.root, 'layers'));
          throw new Error('injected while publishing');
        },
      })
      .catch((err: unknown) => err);
    expect(failed).toMatchObject({ message: 'injected while publishing' });
    expect(layersThen).toHaveLength(3); // control: the layers had really been published
    expect(await listing(target)).toEqual(before);
    expect(await target.resolve('learner/app:v2')).toBe(other.id);
  });

  it('a load SIGKILLed while staging leaves nothing once the store is next opened', async () => {
    const root = join(work, `store-${++n}`);
    const before = await listing(await ImageStore.open(root));
    await killedLoad(root, archive, 'stage');
    expect((await readdir(join(root, 'tmp'))).length).toBeGreaterThan(0); // control: it left work behind
    expect(await listing(await ImageStore.open(root))).toEqual(before);
  });

  it('a load SIGKILLed while publishing is undone once the store is next opened', async () => {
    const root = join(work, `store-${++n}`);
    const target = await ImageStore.open(root);
    const other = await target.createImage(config([], '2023-01-01T00:00:00Z'), { tags: ['learner/app:v2'] });
    const before = await listing(target);
    await killedLoad(root, archive, 'publish');
    // Control: the image and its layers were in place when the process died.
    expect(await readdir(join(root, 'images'))).toContain(threeLayers.id.slice(7));
    expect(await readdir(join(root, 'layers'))).toHaveLength(3);
    const reopened = await ImageStore.open(root);
    expect(await listing(reopened)).toEqual(before);
    expect(await reopened.resolve('learner/app:v2')).toBe(other.id);
  });

  it('removing an image leaves no empty refs-by-image directory', async () => {
    const target = await fresh();
    await target.load(archive);
    await target.tag('learner/app:v2', 'learner/app:v3');
    const index = join(target.root, 'refs-by-image');
    expect(await readdir(index)).toContain(threeLayers.id.slice(7));
    await target.remove('learner/app:v2');
    expect(await readdir(index)).toContain(threeLayers.id.slice(7)); // v3 still names it
    await target.remove('learner/app:v3');
    expect((await readdir(index)).filter((name) => !name.startsWith('.'))).toEqual([]);
  });
});

describe('a gzip bomb', () => {
  let fs: QuotaFilesystem;
  beforeAll(async () => {
    fs = await mountQuotaFilesystem('btrfs-qgroup', 'gzip-bomb', 512 * 1024 ** 2);
  });
  afterAll(async () => {
    await fs?.remove();
  });

  it('stops at a bound below what the data filesystem has free, and leaves it as it was', async () => {
    // 640 MiB of zeros in one tar entry, under 1 MiB gzipped: more than this filesystem holds.
    const bombBytes = 640 * 1024 ** 2;
    const bomb = join(work, 'bomb.tar.gz');
    await pipeline(
      Readable.from(
        (function* () {
          yield encodeTarHeader({ name: 'zeros', type: 'file', mode: 0o644, uid: 0, gid: 0, size: bombBytes, mtime: 0 });
          const chunk = Buffer.alloc(1024 ** 2);
          for (let i = 0; i < bombBytes / chunk.length; i++) yield chunk;
          yield tarPadding(bombBytes);
          yield TAR_END;
        })(),
      ),
      createGzip({ level: 1 }),
      createWriteStream(bomb),
    );
    const store = await ImageStore.open(join(fs.dataDir, 'store'));
    const disk = await statfs(store.root);
    const free = disk.bavail * disk.bsize;
    expect(bombBytes).toBeGreaterThan(disk.blocks * disk.bsize); // control: it would fill the disk
    const before = await listing(store);
    const refused = await store.load(bomb).catch((err: unknown) => err);
    expect(isImageStoreError(refused, 'archive.tooLarge')).toBe(true);
    expect(await listing(store)).toEqual(before);
    const after = await statfs(store.root);
    expect(Math.abs(after.bavail * after.bsize - free)).toBeLessThan(32 * 1024 ** 2);
    await rm(bomb);
  });

  it('inside a layer (a gzipped layer blob of a plain archive) stops at the same bound', async () => {
    // The layer: one 640 MiB file of zeros, gzipped; its diff_id is the sha256 of the tar it inflates to.
    const bombBytes = 640 * 1024 ** 2;
    const tarStream = function* (): Generator<Buffer> {
      yield encodeTarHeader({ name: 'zeros', type: 'file', mode: 0o644, uid: 0, gid: 0, size: bombBytes, mtime: 0 });
      const chunk = Buffer.alloc(1024 ** 2);
      for (let i = 0; i < bombBytes / chunk.length; i++) yield chunk;
      yield tarPadding(bombBytes);
      yield TAR_END;
    };
    const hash = createHash('sha256');
    for (const chunk of tarStream()) hash.update(chunk);
    const diffId = `sha256:${hash.digest('hex')}`;
    const layerGz = join(work, 'layer.tar.gz');
    await pipeline(Readable.from(tarStream()), createGzip({ level: 1 }), createWriteStream(layerGz));
    const configBytes = Buffer.from(JSON.stringify(config([diffId], '2024-03-01T00:00:00Z')));
    const bomb = join(work, 'layer-bomb.tar');
    await writeArchive(bomb, [
      { name: 'config.json', data: configBytes },
      { name: 'layer.tar.gz', data: await readFile(layerGz) },
      { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['bomb:latest'], Layers: ['layer.tar.gz'] }])) },
    ]);
    const store = await ImageStore.open(join(fs.dataDir, 'store'));
    const disk = await statfs(store.root);
    const free = disk.bavail * disk.bsize;
    expect(bombBytes).toBeGreaterThan(disk.blocks * disk.bsize); // control: it would fill the disk
    const before = await listing(store);
    const refused = await store.load(bomb).catch((err: unknown) => err);
    expect(isImageStoreError(refused, 'archive.tooLarge')).toBe(true);
    expect(await listing(store)).toEqual(before);
    const after = await statfs(store.root);
    // (btrfs may keep a 64 MiB chunk it allocated meanwhile.)
    expect(Math.abs(after.bavail * after.bsize - free)).toBeLessThanOrEqual(64 * 1024 ** 2);
    await rm(bomb);
    await rm(layerGz);
  });
});

// A plain tar (not gzipped) written by hand is also bounded, by the session's bytes.
it('a load is bounded by maxBytes before it stages more', async () => {
  const target = await fresh();
  const before = await listing(target);
  const big = join(work, 'big');
  await writeTree(big, { 'blob': 'x'.repeat(3 * 1024 * 1024) });
  const { layer } = await source.commitLayer(big, null);
  await source.createImage(config([layer.diffId], '2024-02-01T00:00:00Z'), { tags: ['learner/big:1'] });
  const file = join(work, 'big.tar');
  await source.save(['learner/big:1'], file);
  const refused = await target.load(file, { maxBytes: 1024 * 1024 }).catch((err: unknown) => err);
  expect(isImageStoreError(refused, 'archive.tooLarge')).toBe(true);
  expect(await listing(target)).toEqual(before);
});
