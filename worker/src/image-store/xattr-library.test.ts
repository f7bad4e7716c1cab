/**
 * Pins down a property of @napi-rs/xattr the store relies on: it uses the l*xattr calls, so a
 * symlink's own attributes are read and written, never its target's. If an upgrade changed
 * that, reading a layer could follow a learner's symlink out of the layer.
 */
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute, listAttributes, setAttribute } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exists, removeDir, tempDir } from './test-support/fixtures.js';

describe('@napi-rs/xattr and symlinks', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('xattr');
  });
  afterAll(async () => {
    await removeDir(dir);
    expect(await exists(dir)).toBe(false);
  });

  it('does not follow a symlink when reading, listing or writing', async () => {
    const target = join(dir, 'target');
    const link = join(dir, 'link');
    await writeFile(target, 'x');
    await symlink(target, link);
    await setAttribute(target, 'user.layercake', 'on-target');

    expect(await getAttribute(link, 'user.layercake')).toBeNull();
    expect(await listAttributes(link)).not.toContain('user.layercake');

    await setAttribute(link, 'trusted.layercake', 'on-link');
    expect(await getAttribute(target, 'trusted.layercake')).toBeNull();
    expect((await getAttribute(link, 'trusted.layercake'))?.toString()).toBe('on-link');
  });

  it('reports a missing attribute as null rather than throwing', async () => {
    await writeFile(join(dir, 'plain'), '');
    expect(await getAttribute(join(dir, 'plain'), 'security.capability')).toBeNull();
  });
});
