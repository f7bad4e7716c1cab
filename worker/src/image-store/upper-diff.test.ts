import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LowerView } from './layered-tree.js';
import { diffUpper } from './upper-diff.js';
import { exists, makeOpaque, makeWhiteout, mountedBelow, removeDir, tempDir, withOverlay, writeTree } from './test-support/fixtures.js';

describe('diff of an overlay upper dir (docker diff)', () => {
  let work: string;
  let base: string;
  beforeAll(async () => {
    work = await tempDir('upper-diff');
    base = join(work, 'base');
    await writeTree(base, {
      'etc/motd': 'hello',
      'etc/hosts': '127.0.0.1 localhost',
      'var/cache/a': 'a',
      'var/cache/b': 'b',
      'usr/bin/tool': 'tool',
    });
  });
  afterAll(async () => {
    expect(await mountedBelow(work)).toBe(false);
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  });

  it('reports A/C/D for what a container did through a real overlay mount', async () => {
    const upper = join(work, 'c1/upper');
    await withOverlay([base], upper, join(work, 'c1/work'), async (merged) => {
      await writeFile(join(merged, 'etc/motd'), 'changed');
      await rm(join(merged, 'etc/hosts'));
      await rm(join(merged, 'var/cache'), { recursive: true });
      await mkdir(join(merged, 'var/cache'));
      await writeFile(join(merged, 'var/cache/c'), 'c');
      await mkdir(join(merged, 'new'));
      await writeFile(join(merged, 'new/file'), 'n');
    });
    const { counts, changes } = await diffUpper(upper, [base], { collect: true });
    expect(changes.map((c) => `${c.kind} ${c.path}`)).toEqual([
      'C /etc',
      'D /etc/hosts',
      'C /etc/motd',
      'A /new',
      'A /new/file',
      'C /var',
      'C /var/cache',
      'D /var/cache/a',
      'D /var/cache/b',
      'A /var/cache/c',
    ]);
    expect(counts).toEqual({ added: 3, changed: 4, deleted: 3 });
  });

  it('resolves the lower view like overlayfs: whiteouts and opaque directories hide what is below', async () => {
    const middle = join(work, 'middle');
    await writeTree(middle, { 'var/': '', 'etc/': '' });
    await makeWhiteout(join(middle, 'etc/motd'));
    await mkdir(join(middle, 'var/cache'));
    await writeFile(join(middle, 'var/cache/z'), 'z');
    await makeOpaque(join(middle, 'var/cache'));
    const view = new LowerView([middle, base]);
    expect(await view.exists('etc/motd')).toBe(false);
    expect(await view.exists('etc/hosts')).toBe(true);
    expect(await view.children('var/cache')).toEqual(['z']);
    expect(await view.exists('var/cache/a')).toBe(false);
    expect(await view.exists('usr/bin/tool')).toBe(true);
  });
});
