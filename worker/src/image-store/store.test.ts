import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listAttributes } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError, isLearnerError, renderMessage } from '../../../protocol/index.js';
import { chainIdOf, type Digest } from './digest.js';
import { isImageStoreError, type ImageStoreErrorKey } from './errors.js';
import type { LayerRecord } from './schemas.js';
import { ImageStore, type ImageConfigInput } from './store.js';
import { exists, mountedBelow, removeDir, tempDir, withOverlay, writeTree } from './test-support/fixtures.js';

const refusedWith = (key: ImageStoreErrorKey) => (err: unknown) => isImageStoreError(err, key);

interface Step {
  createdBy: string;
  layer?: LayerRecord;
}

/** An image config built the way the builder will: one history entry per step. */
function configOf(steps: Step[], cmd: string[] = ['sh']): ImageConfigInput {
  const layers = steps.flatMap((step) => (step.layer ? [step.layer] : []));
  return {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: cmd },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: steps.map((step, i) => ({
      created: `2024-01-01T00:00:0${i}Z`,
      created_by: step.createdBy,
      ...(step.layer ? {} : { empty_layer: true }),
    })),
  };
}

describe('image store', () => {
  let work: string;
  let store: ImageStore;
  let n = 0;
  const scratch = () => join(work, `scratch-${++n}`);

  /** A directory turned into a layer on `parent`. */
  async function layerOf(parent: LayerRecord | null, files: Record<string, string>): Promise<LayerRecord> {
    const dir = scratch();
    await writeTree(dir, files);
    return (await store.commitLayer(dir, parent?.chainId ?? null)).layer;
  }

  beforeAll(async () => {
    work = await tempDir('image-store');
    store = await ImageStore.open(join(work, 'engine'));
  });
  it('knows which tags name an image through retag and untag, and rebuilds that index in an older store', async () => {
    const base = await layerOf(null, { 'a.txt': 'a' });
    const one = await store.createImage(configOf([{ createdBy: 'one', layer: base }]), { tags: ['idx/app:1', 'idx/app:latest'] });
    const two = await store.createImage(configOf([{ createdBy: 'two', layer: base }], ['true']), { tags: ['idx/other'] });
    expect((await store.inspect(one.id)).tags).toEqual(['idx/app:1', 'idx/app:latest']);
    await store.tag(two.id, 'idx/app:latest'); // the tag moves
    expect((await store.inspect(one.id)).tags).toEqual(['idx/app:1']);
    expect((await store.inspect(two.id)).tags).toEqual(['idx/app:latest', 'idx/other:latest']);
    await store.untag('idx/other');
    expect((await store.inspect(two.id)).tags).toEqual(['idx/app:latest']);
    // A store written before the index existed: the index is rebuilt from the tag files.
    await rm(join(work, 'engine', 'refs-by-image'), { recursive: true });
    const reopened = await ImageStore.open(join(work, 'engine'));
    expect((await reopened.inspect(one.id)).tags).toEqual(['idx/app:1']);
    expect((await reopened.inspect(two.id)).tags).toEqual(['idx/app:latest']);
  });

  afterAll(async () => {
    expect(await mountedBelow(work)).toBe(false);
    await removeDir(work);
    expect(await exists(work)).toBe(false);
  });

  describe('committing layers', () => {
    it('moves a container’s upper dir into the store and counts its changes against the layers below', async () => {
      const base = await layerOf(null, { 'etc/motd': 'hello', 'etc/hosts': 'h', 'var/cache/a': 'a', 'usr/bin/tool': 't' });
      expect(base.chainId).toBe(base.diffId);
      expect(base.changes).toEqual({ added: 9, changed: 0, deleted: 0 }); // etc, var, usr and the rest

      const upper = join(work, 'container/upper');
      await withOverlay([store.layerDir(base.chainId)], upper, join(work, 'container/work'), async (merged) => {
        await writeFile(join(merged, 'etc/motd'), 'changed');
        await rm(join(merged, 'etc/hosts'));
        await rm(join(merged, 'var/cache'), { recursive: true });
        await mkdir(join(merged, 'var/cache'));
        await writeFile(join(merged, 'usr/bin/new'), 'n');
      });
      const { layer, changes } = await store.commitLayer(upper, base.chainId, { collectChanges: true });

      expect(await exists(upper)).toBe(false);
      expect(layer.parent).toBe(base.chainId);
      expect(layer.chainId).toBe(chainIdOf(base.chainId, layer.diffId));
      // C: etc, etc/motd, var, var/cache (opaque), usr, usr/bin; A: usr/bin/new; D: etc/hosts, var/cache/a
      expect(layer.changes).toEqual({ added: 1, changed: 6, deleted: 2 });
      expect(changes.filter((c) => c.kind === 'D').map((c) => c.path)).toEqual(['/etc/hosts', '/var/cache/a']);
      const diff = store.layerDir(layer.chainId);
      expect(diff).toBe(join(store.root, 'layers', layer.chainId.slice(7), 'diff'));
      expect((await lstat(join(diff, 'etc/hosts'))).isCharacterDevice()).toBe(true);
      // Overlay's own bookkeeping (origin, impure) is not part of an image layer.
      for (const path of ['etc', 'etc/motd', 'var', 'var/cache', 'usr/bin/new']) {
        const overlayAttrs = (await listAttributes(join(diff, path))).filter((a) => a.includes('overlay'));
        expect(overlayAttrs).toEqual(path === 'var/cache' ? ['trusted.overlay.opaque'] : []);
      }
      expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
    });

    it('copies instead of moving for docker commit, so the container keeps its upper dir', async () => {
      const dir = scratch();
      await writeTree(dir, { 'kept/file': 'k' });
      const { layer } = await store.commitLayer(dir, null, { copy: true });
      expect(await exists(join(dir, 'kept/file'))).toBe(true);
      expect(await exists(join(store.layerDir(layer.chainId), 'kept/file'))).toBe(true);
    });

    it('committing the same change on the same parent twice yields one layer', async () => {
      const first = await layerOf(null, { 'same/file': 'x' });
      const second = await layerOf(null, { 'same/file': 'x' });
      expect(second.chainId).toBe(first.chainId);
      expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
    });

    it('concurrent commits of the same change and creations of the same image end with one of each', async () => {
      const dirs: string[] = [];
      for (let i = 0; i < 6; i++) {
        dirs.push(scratch());
        await writeTree(dirs[i]!, { 'race/file': 'same' });
      }
      const layers = await Promise.all(dirs.map((dir) => store.commitLayer(dir, null)));
      expect(new Set(layers.map((l) => l.layer.chainId)).size).toBe(1);
      const config = configOf([{ createdBy: 'COPY race', layer: layers[0]!.layer }], ['race']);
      const images = await Promise.all(dirs.map((_, i) => store.createImage(config, { tags: [`race:${i}`] })));
      expect(new Set(images.map((image) => image.id)).size).toBe(1);
      expect((await store.inspect('race:0')).tags).toHaveLength(6);
      expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
      expect(await readdir(join(store.root, 'locks'))).toEqual([]);
      await store.remove(images[0]!.id, { force: true });
    });

    it('refuses an upper that uses overlay redirects, and gives the upper back', async () => {
      const base = await layerOf(null, { 'opt/app/bin': 'b' });
      const upper = join(work, 'redirect/upper');
      await withOverlay(
        [store.layerDir(base.chainId)],
        upper,
        join(work, 'redirect/work'),
        async (merged) => {
          await runRename(join(merged, 'opt/app'), join(merged, 'opt/renamed'));
        },
        ['redirect_dir=on'],
      );
      await expect(store.commitLayer(upper, base.chainId)).rejects.toSatisfy(refusedWith('layer.invalid'));
      expect(await exists(join(upper, 'opt/renamed'))).toBe(true);
      expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
    });
  });

  describe('names, tags and ids', () => {
    let image: Awaited<ReturnType<ImageStore['createImage']>>;
    beforeAll(async () => {
      const layer = await layerOf(null, { 'app/main': 'v1' });
      image = await store.createImage(configOf([{ createdBy: 'COPY main /app/', layer }]), { tags: ['learner/app'] });
    });

    it('the image id is the sha256 of the stored config', async () => {
      const stored = await store.storedImage(image.id);
      expect(stored?.id).toBe(image.id);
      const { sha256 } = await import('./digest.js');
      expect(sha256(stored!.configBytes)).toBe(image.id);
      expect(stored!.manifest.config.digest).toBe(image.id);
      expect(stored!.manifest.layers.map((l) => l.digest)).toEqual(image.config.rootfs.diff_ids);
    });

    it('resolves by name (default tag latest), full id, sha256: id, and id prefix', async () => {
      expect(image.tags).toEqual(['learner/app:latest']);
      for (const ref of ['learner/app', 'learner/app:latest', 'docker.io/learner/app:latest', image.id, image.id.slice(7), image.id.slice(0, 19), image.id.slice(7, 19)]) {
        expect(await store.resolve(ref)).toBe(image.id);
      }
    });

    it('tags, and untags without removing the image', async () => {
      await store.tag('learner/app', 'learner/app:v1');
      expect((await store.inspect(image.id)).tags.sort()).toEqual(['learner/app:latest', 'learner/app:v1']);
      expect(await store.untag('learner/app:v1')).toBe(image.id);
      await expect(store.resolve('learner/app:v1')).rejects.toSatisfy(refusedWith('image.notFound'));
      await expect(store.untag('learner/app:v1')).rejects.toSatisfy(refusedWith('image.notFound'));
      expect(await store.resolve(image.id)).toBe(image.id);
    });

    it('says which names are invalid and which prefixes are ambiguous', async () => {
      await expect(store.tag(image.id, 'Learner/App')).rejects.toSatisfy(refusedWith('reference.invalid'));
      await expect(store.resolve('nope:latest')).rejects.toThrow('No such image: nope:latest');
      // A learner error: the site renders it from key and facts in the learner's language.
      const err = await store.resolve('nope').catch((e: unknown) => e);
      expect(isLearnerError(err)).toBe(true);
      expect((err as LearnerError).toPayload()).toEqual({ kind: 'learner', key: 'image.notFound', facts: { ref: 'nope:latest' } });
      expect(renderMessage('image.notFound', (err as LearnerError).facts, 'ko')).toBe('이미지가 없어요: nope:latest');
      // Sixteen more images make two ids share a first hex digit (pigeonhole).
      const layer = image.layers[0]!;
      const ids: Digest[] = [image.id];
      for (let i = 0; i < 16; i++) ids.push((await store.createImage(configOf([{ createdBy: 'COPY', layer }], [`cmd${i}`]))).id);
      const digit = [...'0123456789abcdef'].find((d) => ids.filter((id) => id[7] === d).length > 1)!;
      await expect(store.resolve(digit)).rejects.toSatisfy(refusedWith('image.ambiguous'));
      for (const id of ids.slice(1)) await store.remove(id);
    });
  });

  describe('removing images', () => {
    it('refuses to remove an image other images are built on, and removes only the layers nobody else uses', async () => {
      const l1 = await layerOf(null, { 'base/file': 'base' });
      const l2 = await layerOf(l1, { 'child/file': 'child' });
      const baseSteps: Step[] = [{ createdBy: 'ADD rootfs /', layer: l1 }, { createdBy: 'CMD ["sh"]' }];
      const base = await store.createImage(configOf(baseSteps), { tags: ['base'] });
      const child = await store.createImage(configOf([...baseSteps, { createdBy: 'RUN make child', layer: l2 }]), { tags: ['child'] });

      await expect(store.remove(base.id)).rejects.toSatisfy(refusedWith('image.conflict'));
      await expect(store.remove(base.id)).rejects.toThrow(/dependent child images/);
      // By name, as in Docker, the tag goes but the image stays while a child needs it.
      expect(await store.remove('base')).toEqual([{ untagged: 'base:latest' }]);
      expect(await store.resolve(base.id)).toBe(base.id);

      expect(await store.remove('child')).toEqual([{ untagged: 'child:latest' }, { deleted: child.id }, { deleted: l2.chainId }]);
      expect(await store.getLayer(l2.chainId)).toBeNull();
      expect(await exists(store.layerDir(l2.chainId))).toBe(false);
      expect(await store.getLayer(l1.chainId)).not.toBeNull(); // still used by base

      expect(await store.remove(base.id)).toEqual([{ deleted: base.id }, { deleted: l1.chainId }]);
      expect(await exists(store.layerDir(l1.chainId))).toBe(false);
    });

    it('removing one of two images that share a base layer keeps the shared layer', async () => {
      const shared = await layerOf(null, { 'shared/lib': 'lib' });
      const x = await layerOf(shared, { x: 'x' });
      const y = await layerOf(shared, { y: 'y' });
      const imageX = await store.createImage(configOf([{ createdBy: 'FROM shared', layer: shared }, { createdBy: 'RUN x', layer: x }]), { tags: ['x'] });
      await store.createImage(configOf([{ createdBy: 'FROM shared', layer: shared }, { createdBy: 'RUN y', layer: y }]), { tags: ['y'] });

      expect(await store.remove('x')).toEqual([{ untagged: 'x:latest' }, { deleted: imageX.id }, { deleted: x.chainId }]);
      expect(await store.getLayer(shared.chainId)).not.toBeNull();
      expect(await store.getLayer(y.chainId)).not.toBeNull();
      await store.remove('y');
      expect(await store.getLayer(shared.chainId)).toBeNull();
    });

    it('removing by name with other tags left only untags; by id it needs force', async () => {
      const layer = await layerOf(null, { tagged: 't' });
      const image = await store.createImage(configOf([{ createdBy: 'COPY', layer }]), { tags: ['multi:a', 'multi:b', 'multi:c'] });
      expect(await store.remove('multi:a')).toEqual([{ untagged: 'multi:a' }]);
      await expect(store.remove(image.id.slice(7, 19))).rejects.toThrow(/must be forced/);
      const actions = await store.remove(image.id, { force: true });
      expect(actions).toContainEqual({ untagged: 'multi:b' });
      expect(actions).toContainEqual({ deleted: image.id });
      await expect(store.resolve('multi:c')).rejects.toSatisfy(refusedWith('image.notFound'));
    });

    it('refuses while a container uses the image (the runtime’s hook; here a stand-in function)', async () => {
      const layer = await layerOf(null, { used: 'u' });
      const image = await store.createImage(configOf([{ createdBy: 'COPY', layer }]), { tags: ['in-use'] });
      // Stand-in for worker/src/runtime's container list, which does not exist yet.
      store.setImageUsers((id) => (id === image.id ? [{ containerId: 'c0ffee', running: true, session: 's1' }] : []));
      try {
        await expect(store.remove(image.id)).rejects.toThrow(/being used by running container c0ffee/);
        await expect(store.remove('in-use')).rejects.toThrow(/container c0ffee is using/);
        expect(await store.getLayer(layer.chainId)).not.toBeNull();
      } finally {
        store.setImageUsers(() => []);
      }
      await store.remove('in-use');
    });
  });

  describe('listing and history', () => {
    it('lists images like docker images and shows history with layer sizes', async () => {
      const l1 = await layerOf(null, { 'bin/tool': '12345' });
      const l2 = await layerOf(l1, { 'etc/conf': '1234567890' });
      const baseSteps: Step[] = [{ createdBy: 'ADD tool /bin/', layer: l1 }, { createdBy: 'CMD ["tool"]' }];
      const base = await store.createImage(configOf(baseSteps), { tags: ['hist-base'] });
      const app = await store.createImage(configOf([...baseSteps, { createdBy: 'RUN configure', layer: l2 }, { createdBy: 'ENV A=1' }]), {
        tags: ['hist-app:1.0'],
      });

      const rows = await store.list();
      expect(rows).toContainEqual({ repository: 'hist-app', tag: '1.0', id: app.id, created: '2024-01-01T00:00:00Z', size: 5 + 10 });
      expect(rows).toContainEqual(expect.objectContaining({ repository: 'hist-base', tag: 'latest', id: base.id, size: 5 }));

      const history = await store.history('hist-app:1.0');
      expect(history.map((r) => [r.createdBy, r.size, r.emptyLayer])).toEqual([
        ['ENV A=1', 0, true],
        ['RUN configure', 10, false],
        ['CMD ["tool"]', 0, true],
        ['ADD tool /bin/', 5, false],
      ]);
      expect(history[0]!.id).toBe(app.id);
      expect(history[2]!.id).toBe(base.id); // the FROM image is a local parent
      expect(history[3]!.id).toBeNull(); // <missing>

      // Untagging the base leaves it as an intermediate image: hidden unless all.
      await store.untag('hist-base');
      expect((await store.list()).some((r) => r.id === base.id)).toBe(false);
      expect(await store.list({ all: true })).toContainEqual(expect.objectContaining({ repository: '<none>', tag: '<none>', id: base.id }));
      await store.remove('hist-app:1.0');
      await store.remove(base.id);
    });
  });

  describe('crash cleanup', () => {
    it('removes a half-written layer left by a killed process, and keeps live work', async () => {
      const root = store.root;
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'test-support/crash-child.ts'), root], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const [ready] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])) as [Buffer];
      expect(String(ready)).toContain('ready');
      const halfWritten = (await readdir(join(root, 'tmp'))).filter((name) => name.includes(`-${child.pid}-`));
      expect(halfWritten).toHaveLength(1);
      expect(await exists(join(root, 'tmp', halfWritten[0]!, 'diff/big-file'))).toBe(true);
      child.kill('SIGKILL');
      await once(child, 'exit');

      // Live work of this process (a tmp entry with our pid) must survive.
      const live = join(root, 'tmp', `layer-${process.pid}-${'0'.repeat(12)}`);
      await mkdir(live);
      // A layer directory without its record, and a tag whose image is gone.
      await mkdir(join(root, 'layers', 'f'.repeat(64), 'diff'), { recursive: true });
      await writeFile(join(root, 'refs', encodeURIComponent('ghost:latest')), `sha256:${'e'.repeat(64)}\n`);

      const { removed } = await store.cleanup();
      expect(removed.sort()).toEqual([`layers/${'f'.repeat(64)}`, 'refs/ghost%3Alatest', `tmp/${halfWritten[0]}`].sort());
      expect(await exists(live)).toBe(true);
      await rm(live, { recursive: true });
      expect((await store.cleanup()).removed).toEqual([]);
    });
  });
});

async function runRename(from: string, to: string): Promise<void> {
  const { rename } = await import('node:fs/promises');
  await rename(from, to);
}
