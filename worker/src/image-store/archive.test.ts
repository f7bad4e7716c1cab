/**
 * docker save / docker load. No Docker engine runs here, so the archive's structure is checked
 * against what the specifications require: the Docker image spec v1.2 "Combined Image JSON +
 * Filesystem Changeset Format" (manifest.json, repositories) and the OCI image-layout,
 * image-index, manifest and descriptor documents (oci-layout, index.json, blobs/sha256).
 */
import { lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { getAttribute } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, type Digest } from './digest.js';
import { isImageStoreError, type ImageStoreErrorKey } from './errors.js';
import { readTar, TAR_END, encodeTarHeader, tarPadding } from './tar-codec.js';
import { imageStoreLimits } from './limits.js';
import type { LayerRecord } from './schemas.js';
import { ImageStore, type Image } from './store.js';
import { json, readArchive, writeArchive, type ArchiveMember } from './test-support/archives.js';
import {
  chunksOf,
  exists,
  listTree,
  makeOpaque,
  makeWhiteout,
  pinTimes,
  removeDir,
  runOk,
  tempDir,
  writeTree,
} from './test-support/fixtures.js';

const refusedWith = (key: ImageStoreErrorKey) => (err: unknown) => isImageStoreError(err, key);
const hexOf = (digest: string) => digest.slice('sha256:'.length);

describe('save and load', () => {
  let work: string;
  let source: ImageStore;
  let image: Image;
  let saved: string;
  let n = 0;
  const fresh = async () => ImageStore.open(join(work, `store-${++n}`));

  beforeAll(async () => {
    work = await tempDir('archive');
    source = await ImageStore.open(join(work, 'source'));
    const baseDir = join(work, 'base-layer');
    await writeTree(baseDir, { 'etc/motd': 'welcome', 'etc/hostname': 'box', 'var/cache/apt/pkg': 'deb', 'bin/sh': '-> busybox', 'bin/busybox': 'bb' });
    const base = (await source.commitLayer(baseDir, null)).layer;
    // The second layer deletes /etc/motd (a whiteout) and replaces /var/cache (an opaque dir).
    const topDir = join(work, 'top-layer');
    await writeTree(topDir, { 'etc/': '', 'var/cache/fresh': 'new', 'app/run': 'go' });
    await makeWhiteout(join(topDir, 'etc/motd'));
    await makeOpaque(join(topDir, 'var/cache'));
    await pinTimes(topDir);
    const top = (await source.commitLayer(topDir, base.chainId)).layer;
    expect(top.changes?.deleted).toBe(2); // etc/motd, var/cache/apt
    image = await source.createImage(imageConfig([base, top]), { tags: ['learner/app:v1', 'learner/app:latest'] });
    saved = join(work, 'app.tar');
    await source.save(['learner/app'], saved);
  });
  afterAll(async () => {
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  });

  describe('the archive docker load reads', () => {
    let members: Map<string, ArchiveMember>;
    beforeAll(async () => {
      members = await readArchive(saved);
    });

    it('holds exactly the blobs, index.json, manifest.json, oci-layout and repositories', () => {
      const names = [...members.keys()];
      expect(names.filter((name) => !name.startsWith('blobs/'))).toEqual(['index.json', 'manifest.json', 'oci-layout', 'repositories']);
      expect(names.slice(0, 2)).toEqual(['blobs/', 'blobs/sha256/']);
      for (const member of members.values()) {
        expect(member.mtime?.getTime()).toBe(0);
        expect(member.uid).toBe(0);
        if (member.name.startsWith('blobs/sha256/') && member.type === 'file') {
          expect(sha256(member.data!)).toBe(`sha256:${member.name.slice('blobs/sha256/'.length)}`); // content-addressed
        }
      }
    });

    it('manifest.json: one item per image with Config, RepoTags and Layers pointing into the archive (Docker image spec v1.2)', () => {
      const manifest = json(members.get('manifest.json')!) as { Config: string; RepoTags: string[]; Layers: string[] }[];
      expect(manifest).toHaveLength(1);
      const [item] = manifest;
      expect(Object.keys(item!).sort()).toEqual(['Config', 'Layers', 'RepoTags']);
      expect(item!.Config).toBe(`blobs/sha256/${hexOf(image.id)}`);
      expect(item!.RepoTags.sort()).toEqual(['learner/app:latest', 'learner/app:v1']);
      const config = json(members.get(item!.Config)!) as { rootfs: { diff_ids: string[] }; os: string };
      expect(config.os).toBe('linux');
      expect(item!.Layers).toHaveLength(config.rootfs.diff_ids.length);
      item!.Layers.forEach((path, i) => {
        // Docker's loader requires len(Layers) == len(diff_ids) and each tar to hash to its diff_id.
        expect(members.get(path)?.type).toBe('file');
        expect(sha256(members.get(path)!.data!)).toBe(config.rootfs.diff_ids[i]);
      });
    });

    it('repositories maps each repo and tag to the top layer (legacy readers)', () => {
      const top = hexOf(image.layers.at(-1)!.diffId);
      expect(json(members.get('repositories')!)).toEqual({ 'learner/app': { latest: top, v1: top } });
    });

    it('is an OCI image layout: oci-layout, and an index whose manifests describe the blobs exactly', () => {
      expect(json(members.get('oci-layout')!)).toEqual({ imageLayoutVersion: '1.0.0' });
      const index = json(members.get('index.json')!) as {
        schemaVersion: number;
        mediaType: string;
        manifests: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[];
      };
      expect(index.schemaVersion).toBe(2);
      expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(index.manifests.map((m) => m.annotations['io.containerd.image.name']).sort()).toEqual([
        'docker.io/learner/app:latest',
        'docker.io/learner/app:v1',
      ]);
      expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']).sort()).toEqual(['latest', 'v1']);
      for (const descriptor of index.manifests) {
        expect(descriptor.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
        const blob = members.get(`blobs/sha256/${hexOf(descriptor.digest)}`)!;
        expect(blob.data!.length).toBe(descriptor.size);
        const manifest = json(blob) as {
          schemaVersion: number;
          mediaType: string;
          config: { mediaType: string; digest: string; size: number };
          layers: { mediaType: string; digest: string; size: number }[];
        };
        expect(manifest.schemaVersion).toBe(2);
        expect(manifest.config).toEqual({
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: image.id,
          size: members.get(`blobs/sha256/${hexOf(image.id)}`)!.data!.length,
        });
        for (const [i, layer] of manifest.layers.entries()) {
          expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
          expect(layer.digest).toBe(image.config.rootfs.diff_ids[i]);
          expect(layer.size).toBe(members.get(`blobs/sha256/${hexOf(layer.digest)}`)!.data!.length);
        }
      }
    });

    it('carries the deletion as an OCI whiteout entry and the replaced directory as an opaque marker', async () => {
      const topTar = members.get(`blobs/sha256/${hexOf(image.layers.at(-1)!.diffId)}`)!.data!;
      const names: string[] = [];
      for await (const { header } of readTar(chunksOf(topTar), imageStoreLimits)) names.push(header.name);
      expect(names).toContain('etc/.wh.motd');
      expect(names).toContain('var/cache/.wh..wh..opq');
    });

    it('GNU tar reads it too', async () => {
      const listing = await runOk('tar', ['-tf', saved]);
      expect(listing).toContain('manifest.json');
    });
  });

  it('loads back into another store: same ids, tags, and layers with real whiteouts; saving again gives the same bytes', async () => {
    const target = await fresh();
    const result = await target.load(saved);
    expect(result.images).toEqual([{ id: image.id, tags: expect.arrayContaining(['learner/app:latest', 'learner/app:v1']), unchangedTags: [] }]);
    const loaded = await target.inspect('learner/app:v1');
    expect(loaded.id).toBe(image.id);
    expect(loaded.layers.map((l) => l.chainId)).toEqual(image.layers.map((l) => l.chainId));
    const top = target.layerDir(loaded.layers[1]!.chainId);
    const whiteout = await lstat(join(top, 'etc/motd'));
    expect(whiteout.isCharacterDevice() && whiteout.rdev === 0).toBe(true);
    expect((await getAttribute(join(top, 'var/cache'), 'trusted.overlay.opaque'))?.toString()).toBe('y');
    expect(loaded.layers.every((l) => !l.originalTar)).toBe(true); // our tars re-create byte for byte

    const again = join(work, 'again.tar');
    await target.save(['learner/app'], again);
    expect((await readFile(again)).equals(await readFile(saved))).toBe(true);
    // Loading what is already there changes nothing.
    expect((await target.load(saved)).retagged).toEqual([]);
  });

  it('loads a gzipped archive', async () => {
    const gz = join(work, 'app.tar.gz');
    await writeFile(gz, gzipSync(await readFile(saved)));
    const target = await fresh();
    await target.load(gz);
    expect(await target.resolve('learner/app:latest')).toBe(image.id);
    expect((await target.cleanup()).removed).toEqual([]);
  });

  it('loads the OCI layout alone (no manifest.json), taking tags from index annotations', async () => {
    const members = await readArchive(saved);
    members.delete('manifest.json');
    members.delete('repositories');
    const oci = join(work, 'oci-only.tar');
    await writeArchive(oci, members.values());
    const target = await fresh();
    const result = await target.load(oci);
    expect(result.images[0]!.id).toBe(image.id);
    expect(await target.resolve('learner/app:v1')).toBe(image.id);
  });

  it('loads a layer another tool made, keeping its original tar so a later save still matches', async () => {
    const dir = join(work, 'gnu-layer');
    await writeTree(dir, { 'opt/tool': 'made by GNU tar' });
    const layerTar = join(work, 'gnu-layer.tar');
    await runOk('tar', ['--format=gnu', '-cf', layerTar, '-C', dir, '.']);
    const layerBytes = await readFile(layerTar);
    const diffId = sha256(layerBytes);
    const config = Buffer.from(JSON.stringify(imageConfigFromDiffIds([diffId])));
    const archive = join(work, 'foreign.tar');
    await writeArchive(archive, [
      { name: `${hexOf(sha256(config))}.json`, data: config },
      { name: 'abc/layer.tar', data: layerBytes },
      { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${hexOf(sha256(config))}.json`, RepoTags: ['foreign:1'], Layers: ['abc/layer.tar'] }])) },
    ]);
    const target = await fresh();
    await target.load(archive);
    const loaded = await target.inspect('foreign:1');
    expect(loaded.layers[0]!.originalTar).toBe(true);
    expect(await readFile(join(target.layerDir(loaded.layers[0]!.chainId), 'opt/tool'), 'utf8')).toBe('made by GNU tar');
    const resaved = join(work, 'foreign-again.tar');
    await target.save(['foreign:1'], resaved);
    const members = await readArchive(resaved);
    expect(members.get(`blobs/sha256/${hexOf(diffId)}`)?.data?.equals(layerBytes)).toBe(true);
  });

  describe('bad archives are refused and leave the store as it was', () => {
    let target: ImageStore;
    let before: string[];
    beforeAll(async () => {
      target = await fresh();
      await target.load(saved); // something already there, which must survive untouched
      before = await listTree(target.root);
    });
    const unchanged = async () => {
      expect(await listTree(target.root)).toEqual(before);
      expect(await listTree(join(target.root, 'tmp'))).toEqual([]);
    };
    const variant = async (name: string, edit: (members: Map<string, ArchiveMember>) => void | Promise<void>) => {
      const members = await readArchive(saved);
      await edit(members);
      const file = join(work, `${name}.tar`);
      await writeArchive(file, members.values());
      return file;
    };

    it('a layer blob whose bytes do not match its digest', async () => {
      const file = await variant('corrupt-blob', (members) => {
        const blob = members.get(`blobs/sha256/${hexOf(image.layers[0]!.diffId)}`)!;
        blob.data = flipByte(blob.data!, 600);
      });
      await expect(target.load(file)).rejects.toSatisfy(refusedWith('archive.digestMismatch'));
      await unchanged();
    });

    it('a layer whose tar does not match the diff_id in the config', async () => {
      const other = { store: await fresh() };
      const file = await variant('wrong-diff-id', (members) => {
        // Re-label the top layer's blob consistently, so only the config's diff_id disagrees.
        const oldPath = `blobs/sha256/${hexOf(image.layers[1]!.diffId)}`;
        const blob = members.get(oldPath)!;
        const data = flipByte(blob.data!, 700);
        const newPath = `blobs/sha256/${hexOf(sha256(data))}`;
        members.delete(oldPath);
        members.set(newPath, { name: newPath, data });
        const manifest = json(members.get('manifest.json')!) as { Layers: string[] }[];
        manifest[0]!.Layers[1] = newPath;
        members.set('manifest.json', { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
        members.delete('index.json');
      });
      await expect(other.store.load(file)).rejects.toSatisfy(refusedWith('archive.digestMismatch'));
      expect(await listTree(join(other.store.root, 'layers'))).toEqual([]);
      expect(await listTree(join(other.store.root, 'tmp'))).toEqual([]);
      await expect(target.load(file)).rejects.toSatisfy(refusedWith('archive.digestMismatch'));
      await unchanged();
    });

    it('an entry named ../ (path traversal)', async () => {
      const file = await variant('dotdot', (members) => {
        members.set('../escaped', { name: '../escaped', data: Buffer.from('x') });
      });
      await expect(target.load(file)).rejects.toSatisfy(refusedWith('archive.unsafePath'));
      expect(await exists(join(work, 'escaped'))).toBe(false);
      await unchanged();
    });

    it('an absolute entry name', async () => {
      const file = await variant('absolute', (members) => {
        members.set('/tmp/escaped', { name: '/tmp/escaped', data: Buffer.from('x') });
      });
      await expect(target.load(file)).rejects.toSatisfy(refusedWith('archive.unsafePath'));
      await unchanged();
    });

    it('a layer tar with a ../ entry inside it', async () => {
      const evilLayer = Buffer.concat([
        encodeTarHeader({ name: '../../escaped', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0 }),
        Buffer.from('x'),
        tarPadding(1),
        TAR_END,
      ]);
      const file = join(work, 'evil-layer.tar');
      const config = Buffer.from(JSON.stringify(imageConfigFromDiffIds([sha256(evilLayer)])));
      await writeArchive(file, [
        { name: `blobs/sha256/${hexOf(sha256(config))}`, data: config },
        { name: `blobs/sha256/${hexOf(sha256(evilLayer))}`, data: evilLayer },
        {
          name: 'manifest.json',
          data: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hexOf(sha256(config))}`, RepoTags: ['evil:1'], Layers: [`blobs/sha256/${hexOf(sha256(evilLayer))}`] }])),
        },
      ]);
      await expect(target.load(file)).rejects.toSatisfy(refusedWith('archive.unsafePath'));
      await unchanged();
    });

    it('a symlink that leaves the archive', async () => {
      const file = await variant('symlink-escape', (members) => {
        const manifest = json(members.get('manifest.json')!) as { Layers: string[] }[];
        manifest[0]!.Layers[0] = 'layer.tar';
        members.set('layer.tar', { name: 'layer.tar', type: 'symlink', linkname: '../../../etc/passwd' });
        members.set('manifest.json', { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
      });
      await expect(target.load(file)).rejects.toSatisfy(refusedWith('archive.unsafePath'));
      await unchanged();
    });

    it('a missing blob', async () => {
      const file = await variant('missing-blob', (members) => {
        members.delete(`blobs/sha256/${hexOf(image.layers[1]!.diffId)}`);
      });
      await expect(target.load(file)).rejects.toThrow(/missing layer/);
      await unchanged();
    });

    it('an entry claiming a huge size', async () => {
      const file = join(work, 'huge.tar');
      // A header promising a terabyte, followed by almost nothing.
      await writeFile(file, Buffer.concat([encodeTarHeader({ name: 'manifest.json', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 2 ** 40, mtime: 0 }), Buffer.alloc(1024)]));
      await expect(target.load(file)).rejects.toSatisfy(refusedWith('archive.tooLarge'));
      await unchanged();
    });

    it('something that is not an image archive at all', async () => {
      const file = join(work, 'not-an-image.tar');
      await writeArchive(file, [{ name: 'hello.txt', data: Buffer.from('hi') }]);
      await expect(target.load(file)).rejects.toThrow(/neither manifest.json nor index.json/);
      const garbage = join(work, 'garbage.tar');
      await writeFile(garbage, 'this is not a tar archive\n'.repeat(100));
      await expect(target.load(garbage)).rejects.toSatisfy(refusedWith('archive.invalid'));
      await unchanged();
    });
  });
});

function imageConfig(layers: LayerRecord[]) {
  return {
    ...imageConfigFromDiffIds(layers.map((layer) => layer.diffId)),
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: 'ADD rootfs /' },
      { created: '2024-01-01T00:00:01Z', created_by: 'RUN rm /etc/motd && rm -rf /var/cache && mkdir -p /var/cache /app' },
      { created: '2024-01-01T00:00:02Z', created_by: 'CMD ["/app/run"]', empty_layer: true },
    ],
  };
}

function imageConfigFromDiffIds(diffIds: Digest[]) {
  return {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:02Z',
    config: { Cmd: ['/app/run'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers' as const, diff_ids: diffIds },
  };
}

function flipByte(data: Buffer, at: number): Buffer {
  const copy = Buffer.from(data);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}
