import { chmod, chown, link, lstat, mkdir, readlink, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute, setAttribute } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from './digest.js';
import { isImageStoreError } from './errors.js';
import { extractLayerTar } from './layer-extract.js';
import { digestLayerDir, layerTar, type LayerTarSummary } from './layer-tar.js';
import { imageStoreLimits } from './limits.js';
import { readTar } from './tar-codec.js';
import {
  CAPABILITY,
  FIXED_MTIME,
  chunksOf,
  collect,
  exists,
  makeOpaque,
  makeWhiteout,
  pinTimes,
  removeDir,
  runOk,
  tempDir,
  writeTree,
} from './test-support/fixtures.js';

async function entryNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const { header } of readTar(layerTar(dir), imageStoreLimits)) names.push(`${header.type} ${header.name}`);
  return names;
}

/** A layer with every kind of entry a layer can hold. */
async function richLayer(dir: string): Promise<void> {
  await writeTree(dir, {
    'bin/': '',
    'bin/busybox': 'busybox binary',
    'bin/ping': 'ping binary',
    'bin/sh': '-> busybox',
    'etc/': '',
    'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
    'var/cache/': '',
    'var/cache/new': 'fresh',
    'home/learner/notes': 'mine',
    'run/fifo-dir/': '',
  });
  await link(join(dir, 'bin/busybox'), join(dir, 'bin/ls')); // hard link
  await makeWhiteout(join(dir, 'etc/motd')); // deleted from a lower layer
  await makeOpaque(join(dir, 'var/cache')); // replaced wholesale
  await chown(join(dir, 'home/learner/notes'), 1234, 2345);
  await chmod(join(dir, 'bin/ping'), 0o4755); // setuid survives
  await setAttribute(join(dir, 'bin/ping'), 'security.capability', CAPABILITY);
  await runOk('mknod', [join(dir, 'run/fifo-dir/pipe'), 'p']);
  await pinTimes(dir);
}

describe('layer tar', () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir('layer-tar');
  });
  afterAll(async () => {
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  });

  it('the same directory always gives the same diff_id, and so does an identical copy', async () => {
    const a = join(work, 'same-a');
    const b = join(work, 'same-b');
    for (const dir of [a, b]) await writeTree(dir, { 'etc/hostname': 'box\n', 'usr/bin/tool': 'x', 'tmp/': '' });
    const first = await digestLayerDir(a);
    expect((await digestLayerDir(a)).diffId).toBe(first.diffId);
    expect((await digestLayerDir(b)).diffId).toBe(first.diffId);
    // And the digest is the sha256 of exactly the bytes layerTar streams.
    expect(sha256(await collect(layerTar(a)))).toBe(first.diffId);
    expect(first.summary.tarBytes % 512).toBe(0);
  });

  it('touching a file (a new mtime, same content) changes the diff_id', async () => {
    const dir = join(work, 'touch');
    await writeTree(dir, { 'etc/hostname': 'box\n' });
    const before = (await digestLayerDir(dir)).diffId;
    await utimes(join(dir, 'etc/hostname'), FIXED_MTIME + 60, FIXED_MTIME + 60);
    expect((await digestLayerDir(dir)).diffId).not.toBe(before);
  });

  it('ignores atime and ctime', async () => {
    const dir = join(work, 'atime');
    await writeTree(dir, { f: 'x' });
    const before = (await digestLayerDir(dir)).diffId;
    await utimes(join(dir, 'f'), FIXED_MTIME - 999, FIXED_MTIME); // atime only
    await chmod(join(dir, 'f'), (await stat(join(dir, 'f'))).mode & 0o7777); // ctime only
    expect((await digestLayerDir(dir)).diffId).toBe(before);
  });

  it('mode and ownership are part of the identity', async () => {
    const dir = join(work, 'mode');
    await writeTree(dir, { f: 'x' });
    const before = (await digestLayerDir(dir)).diffId;
    await chmod(join(dir, 'f'), 0o600);
    const afterChmod = (await digestLayerDir(dir)).diffId;
    await chown(join(dir, 'f'), 1, 1);
    expect(new Set([before, afterChmod, (await digestLayerDir(dir)).diffId]).size).toBe(3);
  });

  it('writes overlay whiteouts and opaque directories as OCI .wh. entries, before their siblings', async () => {
    const dir = join(work, 'rich');
    await richLayer(dir);
    const names = await entryNames(dir);
    expect(names).toContain('file etc/.wh.motd');
    expect(names).not.toContain('chardev etc/motd');
    expect(names.indexOf('file etc/.wh.motd')).toBeLessThan(names.indexOf('file etc/passwd'));
    expect(names.indexOf('file var/cache/.wh..wh..opq')).toBe(names.indexOf('directory var/cache') + 1);
    expect(names).toContain('hardlink bin/ls');
    expect(names).toContain('fifo run/fifo-dir/pipe');
  });

  it('refuses a real file whose name starts with .wh. (it would read back as a deletion)', async () => {
    const dir = join(work, 'reserved');
    await writeTree(dir, { '.wh.sneaky': 'x' });
    await expect(digestLayerDir(dir)).rejects.toSatisfy((err) => isImageStoreError(err, 'layer.invalid'));
  });

  it('round-trips through extraction byte for byte, recreating whiteouts, opaque dirs, links, owners, setuid and capabilities', async () => {
    const src = join(work, 'round-src');
    const dest = join(work, 'round-dest');
    await richLayer(src);
    const summary: LayerTarSummary = { tarBytes: 0, contentBytes: 0, entries: 0 };
    const tarBytes = await collect(layerTar(src, summary));
    await mkdir(dest);
    await extractLayerTar(chunksOf(tarBytes), dest, imageStoreLimits);

    expect((await collect(layerTar(dest))).equals(tarBytes)).toBe(true);
    const whiteout = await lstat(join(dest, 'etc/motd'));
    expect(whiteout.isCharacterDevice() && whiteout.rdev === 0).toBe(true);
    expect((await getAttribute(join(dest, 'var/cache'), 'trusted.overlay.opaque'))?.toString()).toBe('y');
    expect((await stat(join(dest, 'bin/ls'))).ino).toBe((await stat(join(dest, 'bin/busybox'))).ino);
    expect(await readlink(join(dest, 'bin/sh'))).toBe('busybox');
    const notes = await stat(join(dest, 'home/learner/notes'));
    expect([notes.uid, notes.gid]).toEqual([1234, 2345]);
    expect((await stat(join(dest, 'bin/ping'))).mode & 0o7777).toBe(0o4755);
    expect(await getAttribute(join(dest, 'bin/ping'), 'security.capability')).toEqual(CAPABILITY);
    expect((await lstat(join(dest, 'run/fifo-dir/pipe'))).isFIFO()).toBe(true);
    expect((await stat(join(dest, 'etc'))).mtimeMs).toBe(FIXED_MTIME * 1000);
    // Content size counts the hard-linked busybox once.
    expect(summary.contentBytes).toBe(
      'busybox binary'.length + 'ping binary'.length + 'busybox'.length + 'root:x:0:0::/root:/bin/sh\n'.length + 'fresh'.length + 'mine'.length,
    );
  });

  it('creates many whiteouts in one batch', async () => {
    const src = join(work, 'many-src');
    const dest = join(work, 'many-dest');
    await mkdir(join(src, 'gone'), { recursive: true });
    // one shell runs the 300 mknods (a process per node from Node would be slower still).
    await runOk('sh', ['-c', `cd '${join(src, 'gone')}' && i=0; while [ $i -lt 300 ]; do mknod "f$i" c 0 0; i=$((i+1)); done`]);
    await pinTimes(src);
    const bytes = await collect(layerTar(src));
    await mkdir(dest);
    await extractLayerTar(chunksOf(bytes), dest, imageStoreLimits);
    expect((await collect(layerTar(dest))).equals(bytes)).toBe(true);
  });
});
