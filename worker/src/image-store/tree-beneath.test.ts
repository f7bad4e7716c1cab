// fstree, the fd-relative reader of trees a container or learner controls: its copy keeps every
// byte of a layer's identity (the same diff_id as the `cp -a` copy it replaced), its listing
// gives the same `docker diff` as a walk of the directory, and its reads never leave the root.
// (The race itself is attacked with a real container in containers/hostile-upper.test.ts.)
import { chmod, chown, link, mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setAttribute } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestLayerDir } from './layer-tar.js';
import { copyTreeBeneath, listTreeBeneath, readFileBeneath, TreeAccessError, treeBytesBeneath } from './tree-beneath.js';
import { diffUpper, listingSource } from './upper-diff.js';
import {
  CAPABILITY,
  exists,
  makeOpaque,
  makeWhiteout,
  mountedBelow,
  pinTimes,
  removeDir,
  runOk,
  tempDir,
  withOverlay,
  writeTree,
} from './test-support/fixtures.js';

/** Every kind of entry an upper can hold, and the attributes a layer records. */
async function richUpper(dir: string): Promise<void> {
  await writeTree(dir, {
    'bin/busybox': 'busybox binary',
    'bin/ping': 'ping binary',
    'bin/sh': '-> busybox',
    'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
    'var/cache/new': 'fresh',
    'home/learner/notes': 'mine',
    'run/fifo-dir/': '',
    'snowman-☃/file': 'utf-8 names',
  });
  await link(join(dir, 'bin/busybox'), join(dir, 'bin/ls'));
  await makeWhiteout(join(dir, 'etc/motd'));
  await makeOpaque(join(dir, 'var/cache'));
  await setAttribute(join(dir, 'home'), 'trusted.overlay.origin', Buffer.from([0, 1, 2, 0xff]));
  await chown(join(dir, 'home/learner/notes'), 1234, 2345);
  await chown(join(dir, 'home/learner'), 1234, 2345);
  await chmod(join(dir, 'bin/ping'), 0o4755);
  await setAttribute(join(dir, 'bin/ping'), 'security.capability', CAPABILITY);
  await runOk('mknod', [join(dir, 'run/fifo-dir/pipe'), 'p']);
  await writeFile(join(dir, 'sparse'), 'head');
  await truncate(join(dir, 'sparse'), 64 << 20);
  await pinTimes(dir);
}

describe('fstree', () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir('tree-beneath');
  });
  afterAll(async () => {
    expect(await mountedBelow(work)).toBe(false);
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  });

  it('copies an upper into a layer with the same diff_id as cp -a, sparse files still sparse', async () => {
    const upper = join(work, 'rich');
    await richUpper(upper);
    await runOk('cp', ['-a', '--', upper, join(work, 'by-cp')]);
    await copyTreeBeneath(upper, join(work, 'by-fstree'));
    const [original, byCp, byFstree] = await Promise.all([upper, join(work, 'by-cp'), join(work, 'by-fstree')].map((d) => digestLayerDir(d)));
    expect(byFstree!.diffId).toBe(byCp!.diffId);
    expect(byFstree!.diffId).toBe(original!.diffId);
    expect(byFstree!.summary).toEqual(original!.summary);
    // The 64 MiB file took no more disk in the copy than in the original.
    const used = async (path: string): Promise<number> => Number((await runOk('du', ['-k', path])).split('\t')[0]);
    expect(await used(join(work, 'by-fstree/sparse'))).toBeLessThanOrEqual((await used(join(upper, 'sparse'))) + 4);
    // Overlay's bookkeeping xattrs are copied too (commit strips them from the copy afterwards).
    const listed = await listTreeBeneath(join(work, 'by-fstree'));
    expect(listed.find((e) => e.path.toString() === 'home')?.xattrs?.get('trusted.overlay.origin')).toEqual(Buffer.from([0, 1, 2, 0xff]));
  });

  it('bounds the data a copy writes (holes do not count)', async () => {
    await copyTreeBeneath(join(work, 'rich'), join(work, 'bounded-ok'), { maxBytes: 1 << 20 });
    await expect(copyTreeBeneath(join(work, 'rich'), join(work, 'bounded'), { maxBytes: 10 })).rejects.toMatchObject({ code: 'limit' });
  });

  it('refuses to copy into a destination that exists', async () => {
    await mkdir(join(work, 'taken'));
    await expect(copyTreeBeneath(join(work, 'rich'), join(work, 'taken'))).rejects.toThrow(/mkdir destination/);
  });

  it('a listing gives the same docker diff and disk use as a walk of the directory', async () => {
    const base = join(work, 'base');
    await writeTree(base, { 'etc/motd': 'hello', 'etc/hosts': 'h', 'var/cache/a': 'a', 'var/cache/b': 'b' });
    const upper = join(work, 'c1/upper');
    await withOverlay([base], upper, join(work, 'c1/work'), async (merged) => {
      await writeFile(join(merged, 'etc/motd'), 'changed');
      await writeFile(join(merged, 'etc/hosts'), 'x');
      await rm(join(merged, 'etc/hosts'));
      await rm(join(merged, 'var/cache'), { recursive: true });
      await mkdir(join(merged, 'var/cache'));
      await writeFile(join(merged, 'var/cache/c'), 'c');
      await symlink('/etc/shadow', join(merged, 'link'));
      await mkdir(join(merged, 'new/deep'), { recursive: true });
    });
    const byWalk = await diffUpper(upper, [base], { collect: true });
    const byListing = await diffUpper(listingSource(await listTreeBeneath(upper)), [base], { collect: true });
    expect(byListing).toEqual(byWalk);
    expect(byListing.changes.map((c) => `${c.kind} ${c.path}`)).toContain('D /var/cache/a');
    expect(await treeBytesBeneath(upper)).toBe('changed'.length + 'c'.length + '/etc/shadow'.length);
  });

  it('reads a file beneath its root, following a link only while it stays inside', async () => {
    const root = join(work, 'context');
    await writeTree(root, { Dockerfile: 'FROM busybox\n', 'sub/real': 'inner\n', 'sub/inside': '-> real', 'up-and-in': '-> sub/../sub/real' });
    await writeFile(join(work, 'outside-secret'), 'host secret\n');
    await symlink('/etc/passwd', join(root, 'absolute'));
    await symlink('../outside-secret', join(root, 'climbs-out'));
    await symlink('../../outside-secret', join(root, 'sub/climbs-out'));
    expect((await readFileBeneath(root, 'Dockerfile', 1 << 20)).toString()).toBe('FROM busybox\n');
    expect((await readFileBeneath(root, 'sub/inside', 1 << 20)).toString()).toBe('inner\n');
    expect((await readFileBeneath(root, 'up-and-in', 1 << 20)).toString()).toBe('inner\n');
    for (const escaping of ['absolute', 'climbs-out', 'sub/climbs-out', '../outside-secret']) {
      await expect(readFileBeneath(root, escaping, 1 << 20)).rejects.toMatchObject({ code: 'escapes' });
    }
    // Control: the same names read by path give the host's files.
    expect(await readFile(join(root, 'climbs-out'), 'utf8')).toBe('host secret\n');
    await expect(readFileBeneath(root, 'missing', 1 << 20)).rejects.toMatchObject({ code: 'notfound' });
    await expect(readFileBeneath(root, 'sub', 1 << 20)).rejects.toMatchObject({ code: 'notfile' });
    const tooLarge = await readFileBeneath(root, 'Dockerfile', 4).catch((err: unknown) => err);
    expect(tooLarge).toBeInstanceOf(TreeAccessError);
    expect(tooLarge).toMatchObject({ code: 'toolarge', sizeBytes: 13 });
  });
});
