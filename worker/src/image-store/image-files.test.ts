// Reading an image's files from its layer directories, as overlayfs would merge them.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markOpaque } from './overlay.js';
import { readImageFile, resolveUser } from './image-files.js';
import { LayeredTree, MAX_SYMLINKS, resolveInTree, SymlinkLoopError } from './layered-tree.js';

const root = mkdtempSync('/tmp/lc-image-files-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

function layer(name: string, files: Record<string, string | { link: string } | 'whiteout'>): string {
  const dir = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    const p = join(dir, path);
    mkdirSync(join(p, '..'), { recursive: true });
    if (content === 'whiteout') execFileSync('mknod', [p, 'c', '0', '0']);
    else if (typeof content === 'object') symlinkSync(content.link, p);
    else writeFileSync(p, content);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

const base = layer('base', {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/false\napp:x:1000:1001::/home/app:/bin/sh\n',
  'etc/group': 'root:x:0:\nwheel:x:10:root\nwww-data:x:33:\nstaff:x:50:app,www-data\ndev:x:60:nobody,app\nhuge:x:70000:app\n',
  'etc/motd': 'base motd',
  'opt/old/file': 'old',
  'var/secret': 'below',
});

describe('reading files from an image', () => {
  it('takes the topmost copy, and a whiteout hides a file', async () => {
    const top = layer('top', { 'etc/motd': 'top motd', 'var/secret': 'whiteout' });
    expect((await readImageFile([top, base], '/etc/motd'))?.toString()).toBe('top motd');
    expect(await readImageFile([top, base], '/var/secret')).toBeNull();
    expect((await readImageFile([base], '/var/secret'))?.toString()).toBe('below');
  });

  it('an opaque directory hides what lower layers had in it', async () => {
    const top = layer('opaque', { 'opt/old/new': 'new' });
    await markOpaque(join(top, 'opt/old'));
    expect(await readImageFile([top, base], '/opt/old/file')).toBeNull();
    expect((await readImageFile([top, base], '/opt/old/new'))?.toString()).toBe('new');
  });

  it('follows as many links as Linux does (40), as the builder’s trees do, and a loop ends', async () => {
    const chain: Record<string, { link: string }> = { loop: { link: '/loop' } };
    for (let i = 1; i <= 41; i++) chain[`c${i}`] = { link: i === 41 ? '/etc/motd' : `/c${i + 1}` };
    const top = layer('chain', chain);
    // /c2 reaches the file through 40 links, /c1 through 41: one too many, in both readers.
    expect(MAX_SYMLINKS).toBe(40);
    expect((await readImageFile([top, base], '/c2'))?.toString()).toBe('base motd');
    expect(await readImageFile([top, base], '/c1')).toBeNull();
    const tree = new LayeredTree(null, [top, base]);
    expect((await resolveInTree(tree, '/c2')).entry?.kind).toBe('file');
    await expect(resolveInTree(tree, '/c1')).rejects.toBeInstanceOf(SymlinkLoopError);
    expect(await readImageFile([top, base], '/loop')).toBeNull();
  });

  it('follows symlinks inside the image and never out of it', async () => {
    const top = layer('links', {
      'etc/alias': { link: 'motd' },
      'escape': { link: '../../../../../../../etc/hostname' },
      'abs': { link: '/etc/motd' },
      'dirlink': { link: '/etc' },
    });
    expect((await readImageFile([top, base], '/etc/alias'))?.toString()).toBe('base motd');
    expect((await readImageFile([top, base], '/abs'))?.toString()).toBe('base motd');
    expect((await readImageFile([top, base], '/dirlink/motd'))?.toString()).toBe('base motd');
    // ../ past the image's root stays at its root: /etc/hostname of the image (absent), not the host's.
    expect(await readImageFile([top, base], '/escape')).toBeNull();
  });
});

describe('resolving users like Docker', () => {
  it('names, numbers and groups, with home and supplementary groups as runc finds them', async () => {
    // No user is root, looked up like any other (HOME=/root, and root is in wheel).
    expect(await resolveUser([base], '')).toEqual({ uid: 0, gid: 0, home: '/root', additionalGids: [10] });
    expect(await resolveUser([base], 'www-data')).toEqual({ uid: 33, gid: 33, home: '/var/www', additionalGids: [50] });
    // Groups that list the name, in file order; one outside the mapped range is left out.
    expect(await resolveUser([base], 'app')).toEqual({ uid: 1000, gid: 1001, home: '/home/app', additionalGids: [50, 60] });
    // An explicit group means no supplementary groups (runc's rule).
    expect(await resolveUser([base], 'app:staff')).toEqual({ uid: 1000, gid: 50, home: '/home/app', additionalGids: [] });
    expect(await resolveUser([base], '1000')).toMatchObject({ uid: 1000, gid: 1001, additionalGids: [50, 60] });
    expect(await resolveUser([base], '4242')).toEqual({ uid: 4242, gid: 0, home: '/', additionalGids: [] });
    expect(await resolveUser([base], '4242:7')).toEqual({ uid: 4242, gid: 7, home: '/', additionalGids: [] });
    // An image with no /etc/passwd (FROM scratch): root with home /.
    expect(await resolveUser([layer('empty', {})], '')).toEqual({ uid: 0, gid: 0, home: '/', additionalGids: [] });
  });

  it('refuses unknown names and ids outside the mapped range', async () => {
    await expect(resolveUser([base], 'nobody-here')).rejects.toMatchObject({ key: 'container.unknownUser' });
    await expect(resolveUser([base], 'app:nogroup')).rejects.toMatchObject({ key: 'container.unknownGroup' });
    await expect(resolveUser([base], '70000')).rejects.toMatchObject({ key: 'container.userOutOfRange' });
  });
});
