/**
 * Builds debian:bookworm-slim once (mmdebstrap, about a minute, needs Debian's archive) and
 * checks it from every angle in this one file. Set LAYERCAKE_SKIP_DEBIAN_BUILD=1 to skip it on
 * a machine without network access to the archive.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore, type Image } from '../image-store/store.js';
import { exists, mountedBelow, removeDir, run, tempDir, withOverlay } from '../image-store/test-support/fixtures.js';
import { ensureBaseImage, ensureBaseImages } from './index.js';

const skip = process.env.LAYERCAKE_SKIP_DEBIAN_BUILD === '1';

describe.skipIf(skip)('debian:bookworm-slim base image', () => {
  let work: string;
  let store: ImageStore;
  let image: Image;
  let layer: string;
  let buildMs: number;

  beforeAll(async () => {
    work = await tempDir('debian-slim');
    store = await ImageStore.open(join(work, 'engine'));
    const started = Date.now();
    [image] = (await ensureBaseImages(store, { only: ['debian'] })) as [Image];
    buildMs = Date.now() - started;
    layer = store.layerDir(image.layers[0]!.chainId);
  }, 25 * 60_000);
  afterAll(async () => {
    expect(await mountedBelow(work)).toBe(false);
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  }, 120_000);

  it('is tagged bookworm-slim and 12-slim, runs bash, and is one layer', () => {
    expect(image.tags.sort()).toEqual(['debian:12-slim', 'debian:bookworm-slim']);
    expect(image.config.config?.Cmd).toEqual(['bash']);
    expect(image.layers).toHaveLength(1);
    expect(image.layers[0]!.source).toBe('base');
  });

  it('holds a minimal Debian with apt and dpkg, and no docs, man pages or locales', async () => {
    expect(await readFile(join(layer, 'etc/debian_version'), 'utf8')).toMatch(/^12\./);
    for (const path of ['usr/bin/bash', 'usr/bin/apt-get', 'usr/bin/dpkg', 'var/lib/dpkg/status']) {
      expect(await exists(join(layer, path))).toBe(true);
    }
    expect(await exists(join(layer, 'usr/share/man/man1'))).toBe(false);
    expect((await readdir(join(layer, 'usr/share/doc'))).length).toBeGreaterThan(10);
    // dpkg keeps directories (and links) of excluded paths; no documentation file survives but copyright.
    const docFiles = await run('find', [join(layer, 'usr/share/doc'), '-type', 'f', '!', '-name', 'copyright']);
    expect(docFiles.stdout).toBe('');
    // Translations are excluded (locale.alias would stay, but it comes with `locales`, not in minbase).
    const localeFiles = await run('find', [join(layer, 'usr/share/locale'), '-type', 'f', '!', '-name', 'locale.alias']);
    expect(localeFiles.stdout).toBe('');
    expect(await readFile(join(layer, 'etc/dpkg/dpkg.cfg.d/99mmdebstrap'), 'utf8')).toContain('path-exclude=/usr/share/man/*');
    expect(await readdir(join(layer, 'dev'))).toEqual([]); // the launcher provides /dev
    expect(image.size).toBeGreaterThan(50e6);
  });

  it('its shell and dpkg work (chroot into an overlay of the layer)', async () => {
    await withOverlay([layer], join(work, 'run/upper'), join(work, 'run/work'), async (merged) => {
      const result = await run('chroot', [merged, '/bin/bash', '-c', "dpkg-query -W -f='${Package}\\n' bash apt"]);
      expect(result.stderr).toBe('');
      expect(result.stdout.split('\n').filter(Boolean).sort()).toEqual(['apt', 'bash']);
    });
  });

  it('is built only once: ensuring it again is quick and returns the same image', async () => {
    const started = Date.now();
    expect((await ensureBaseImage(store, 'debian:12-slim')).id).toBe(image.id);
    expect(Date.now() - started).toBeLessThan(buildMs / 10);
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
    expect((await stat(join(store.root, 'layers', image.layers[0]!.chainId.slice(7), 'layer.json'))).isFile()).toBe(true);
  });
});
