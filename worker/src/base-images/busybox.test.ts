import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImageStoreError } from '../image-store/errors.js';
import { ImageStore, type Image } from '../image-store/store.js';
import { exists, mountedBelow, removeDir, run, tempDir, withOverlay } from '../image-store/test-support/fixtures.js';
import { availableBaseImages, baseImageFor, ensureBaseImage, ensureBaseImages } from './index.js';
import { buildBusyboxRootfs, isStaticElf } from './busybox.js';

describe('busybox base image', () => {
  let work: string;
  let store: ImageStore;
  let image: Image;
  beforeAll(async () => {
    work = await tempDir('busybox');
    store = await ImageStore.open(join(work, 'engine'));
    [image] = (await ensureBaseImages(store, { only: ['busybox'] })) as [Image];
  });
  afterAll(async () => {
    expect(await mountedBelow(work)).toBe(false);
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  });

  it('is one layer holding /bin/busybox with its applet links, accounts and empty system dirs', async () => {
    expect(image.tags).toEqual(['busybox:latest']);
    expect(image.layers).toHaveLength(1);
    const layer = store.layerDir(image.layers[0]!.chainId);
    const busybox = await stat(join(layer, 'bin/busybox'));
    expect(await isStaticElf(join(layer, 'bin/busybox'))).toBe(true);
    expect((await lstat(join(layer, 'bin/sh'))).ino).toBe(busybox.ino); // a link, one copy
    expect((await readdir(join(layer, 'bin'))).length).toBeGreaterThan(200);
    expect(await readFile(join(layer, 'etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:root:\/root:\/bin\/sh$/m);
    expect(await readFile(join(layer, 'etc/group'), 'utf8')).toMatch(/^root:x:0:$/m);
    for (const dir of ['tmp', 'proc', 'dev', 'sys', 'root', 'home']) expect(await readdir(join(layer, dir))).toEqual([]);
    expect((await stat(join(layer, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect(image.size).toBe(busybox.size + (await stat(join(layer, 'etc/passwd'))).size + (await stat(join(layer, 'etc/group'))).size);
  });

  it('runs sh by default, and its shell works (chroot into an overlay of the layer)', async () => {
    expect(image.config.config?.Cmd).toEqual(['sh']);
    expect(image.config.config?.Env?.[0]).toMatch(/^PATH=.*\/bin/);
    expect((await store.history('busybox')).map((row) => row.createdBy)).toEqual(['CMD ["sh"]', expect.stringMatching(/^layercake: busybox-static /)]);
    await withOverlay([store.layerDir(image.layers[0]!.chainId)], join(work, 'run/upper'), join(work, 'run/work'), async (merged) => {
      const result = await run('chroot', [merged, '/bin/sh', '-c', 'echo "hello from $(basename $0)"; ls /bin | wc -l']);
      expect(result.stderr).toBe('');
      expect(result.stdout.split('\n')[0]).toBe('hello from sh');
    });
  });

  it('is reproducible: another store builds the same image id', async () => {
    const other = await ImageStore.open(join(work, 'other'));
    expect((await ensureBaseImage(other, 'busybox')).id).toBe(image.id);
  });

  it('is built once: ensuring again reuses it, and a removed tag is restored without a rebuild', async () => {
    const layersBefore = await readdir(join(store.root, 'layers'));
    expect((await ensureBaseImages(store, { only: ['busybox'] }))[0]!.id).toBe(image.id);
    await store.untag('busybox:latest');
    expect((await ensureBaseImage(store, 'busybox:latest')).id).toBe(image.id);
    expect(await readdir(join(store.root, 'layers'))).toEqual(layersBefore);
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
  });

  it('names the available base images and recognises them in FROM references', () => {
    expect(availableBaseImages().flatMap((b) => b.tags)).toEqual([
      'busybox:latest', 'debian:bookworm-slim', 'debian:12-slim',
      'layercake/bench:latest', 'layercake/bench:bookworm',
      'node:18-bookworm-slim', 'node:18-slim', 'node:18',
    ]);
    expect(baseImageFor('busybox')?.name).toBe('busybox');
    expect(baseImageFor('node:18')?.name).toBe('node');
    expect(baseImageFor('node:20')).toBeNull();
    expect(baseImageFor('docker.io/library/debian:12-slim')?.name).toBe('debian');
    expect(baseImageFor('debian:trixie')).toBeNull();
  });

  it('explains what is missing when it cannot be built', async () => {
    const dir = join(work, 'no-busybox');
    await expect(buildBusyboxRootfs(dir, '/nonexistent/busybox')).rejects.toSatisfy((err) => isImageStoreError(err, 'baseImage.unavailable'));
    await expect(buildBusyboxRootfs(dir, '/usr/bin/env')).rejects.toThrow(/not statically linked/); // a dynamic binary
    await expect(ensureBaseImage(store, 'alpine')).rejects.toSatisfy((err) => isImageStoreError(err, 'baseImage.unknown'));
  });
});
