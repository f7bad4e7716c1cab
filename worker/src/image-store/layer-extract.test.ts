import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute } from '@napi-rs/xattr';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isImageStoreError, type ImageStoreErrorKey } from './errors.js';
import { extractLayerTar } from './layer-extract.js';
import { imageStoreLimits } from './limits.js';
import { TAR_END, encodeTarHeader, tarPadding, type TarHeader } from './tar-codec.js';
import { chunksOf, exists, removeDir, tempDir } from './test-support/fixtures.js';

type Entry = Partial<TarHeader> & { name: string; body?: string };

function tarOf(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const { body, ...rest } of entries) {
    const content = Buffer.from(body ?? '');
    const header: TarHeader = { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, ...rest, size: content.length };
    parts.push(encodeTarHeader(header), content, tarPadding(content.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

const refusedWith = (key: ImageStoreErrorKey) => (err: unknown) => isImageStoreError(err, key);

describe('layer extraction', () => {
  let work: string;
  let dest: string;
  let outside: string;
  let n = 0;

  beforeAll(async () => {
    work = await tempDir('layer-extract');
  });
  afterAll(async () => {
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  });
  beforeEach(async () => {
    n++;
    // dest sits two levels below `outside`, so any escape would land in a directory we watch.
    outside = join(work, `case${n}`);
    dest = join(outside, 'layer', 'diff');
    await mkdir(dest, { recursive: true });
  });

  const extract = (entries: Entry[]) => extractLayerTar(chunksOf(tarOf(entries)), dest, imageStoreLimits);
  const outsideUntouched = async () => expect((await readdir(outside)).sort()).toEqual(['layer']);

  it('refuses entries that climb out with ..', async () => {
    await expect(extract([{ name: '../../escaped', body: 'x' }])).rejects.toSatisfy(refusedWith('archive.unsafePath'));
    await expect(extract([{ name: 'ok/../../../escaped', body: 'x' }])).rejects.toSatisfy(refusedWith('archive.unsafePath'));
    await outsideUntouched();
  });

  it('refuses absolute entry names', async () => {
    await expect(extract([{ name: '/etc/passwd', body: 'x' }])).rejects.toSatisfy(refusedWith('archive.unsafePath'));
  });

  it('never writes through a symlink, even one the layer itself created', async () => {
    const entries: Entry[] = [
      { name: 'escape', type: 'symlink', linkname: outside },
      { name: 'escape/planted', body: 'x' },
    ];
    await expect(extract(entries)).rejects.toSatisfy(refusedWith('layer.invalid'));
    await outsideUntouched();
  });

  it('refuses hard links to anything but a file of this layer', async () => {
    await expect(extract([{ name: 'passwd', type: 'hardlink', linkname: '../../../etc/passwd' }])).rejects.toSatisfy(
      refusedWith('archive.unsafePath'),
    );
    await expect(extract([{ name: 'passwd', type: 'hardlink', linkname: 'not-here' }])).rejects.toSatisfy(refusedWith('layer.invalid'));
  });

  it('refuses whiteouts that would delete the directory holding them', async () => {
    await expect(extract([{ name: 'etc/.wh..' }])).rejects.toSatisfy(refusedWith('layer.invalid'));
    await expect(extract([{ name: '.wh.' }])).rejects.toSatisfy(refusedWith('layer.invalid'));
  });

  it('takes only security.capability from xattrs, so a tar cannot plant overlay redirects', async () => {
    await extract([
      { name: 'dir', type: 'directory', mode: 0o755, xattrs: new Map([['trusted.overlay.redirect', Buffer.from('/etc')]]) },
      { name: 'dir/f', body: 'x', xattrs: new Map([['trusted.overlay.opaque', Buffer.from('y')]]) },
    ]);
    expect(await getAttribute(join(dest, 'dir'), 'trusted.overlay.redirect')).toBeNull();
    expect(await getAttribute(join(dest, 'dir/f'), 'trusted.overlay.opaque')).toBeNull();
  });

  it('creates parents a tar leaves out', async () => {
    await extract([{ name: 'usr/local/bin/tool', body: 'x' }]);
    expect((await lstat(join(dest, 'usr/local/bin'))).isDirectory()).toBe(true);
    expect((await lstat(join(dest, 'usr'))).mode & 0o777).toBe(0o755);
  });

  it('same-layer conflicts: a later entry replaces an earlier one; a whiteout does not delete this layer’s own file', async () => {
    await extract([
      { name: 'etc/.wh.motd' }, // deletes a lower motd…
      { name: 'etc/motd', body: 'new motd' }, // …and this layer writes its own
      { name: 'etc/hosts', body: 'first' },
      { name: 'etc/hosts', body: 'second' },
      { name: 'keep', body: 'mine' },
      { name: '.wh.keep' }, // applies to lower layers only
    ]);
    expect(await readFile(join(dest, 'etc/motd'), 'utf8')).toBe('new motd');
    expect(await readFile(join(dest, 'etc/hosts'), 'utf8')).toBe('second');
    expect(await readFile(join(dest, 'keep'), 'utf8')).toBe('mine');
  });

  it('a whiteout and a directory of the same name make an opaque directory (delete, then re-create)', async () => {
    await extract([{ name: '.wh.cache' }, { name: 'cache', type: 'directory', mode: 0o755 }, { name: 'cache/new', body: 'x' }]);
    expect((await lstat(join(dest, 'cache'))).isDirectory()).toBe(true);
    expect((await getAttribute(join(dest, 'cache'), 'trusted.overlay.opaque'))?.toString()).toBe('y');
  });

  it('an opaque marker may come after its siblings and still only marks the directory', async () => {
    await extract([
      { name: 'a', type: 'directory', mode: 0o755 },
      { name: 'a/b', body: 'kept' },
      { name: 'a/.wh..wh..opq' },
    ]);
    expect(await readFile(join(dest, 'a/b'), 'utf8')).toBe('kept');
    expect((await getAttribute(join(dest, 'a'), 'trusted.overlay.opaque'))?.toString()).toBe('y');
  });

  it('stops at the content size limit', async () => {
    const limits = { ...imageStoreLimits, maxLayerBytes: 10 };
    await expect(extractLayerTar(chunksOf(tarOf([{ name: 'big', body: 'x'.repeat(11) }])), dest, limits)).rejects.toSatisfy(
      refusedWith('archive.tooLarge'),
    );
  });
});
