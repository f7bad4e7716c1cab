// Work the host does for `commit` has a time limit of its own (issue 13, "work the host does
// after a step"). A container's sparse files cost it nothing to make (`truncate -s`) but the
// host reads every zero to tar and hash them; many small files cost a walk per file. The copy,
// tar and hash stop at commitTimeoutMs with a learner error, leave nothing in the store (no
// layer, no image, no store/tmp entry) and the container runs on, thawed.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { enginePaths } from '../config.js';
import { createHarness, eventually, type Harness } from './test-support/harness.js';
import { containerPaths } from './record.js';
import { existsSync } from 'node:fs';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('commit-time');
});
afterAll(async () => {
  await h?.close();
});

const quotas = { images: 1000, layerBytes: 2 ** 40 };
const LIMIT_MS = 200;

async function storeState(): Promise<{ layers: string[]; images: number; tmp: string[] }> {
  const store = enginePaths(h.dataDir).store;
  return {
    layers: (await readdir(join(store, 'layers')).catch(() => [] as string[])).sort(),
    images: (await h.store.list()).length,
    tmp: await readdir(join(store, 'tmp')).catch(() => [] as string[]),
  };
}

/** A running container whose upper holds 600 MiB of holes (what `truncate -s` makes in no time). */
async function sparseContainer(commitTimeoutMs?: number): Promise<{ id: string; c: ReturnType<Harness['containers']> }> {
  const c = h.containers({ quotas, ...(commitTimeoutMs !== undefined ? { commitTimeoutMs } : {}) });
  const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'truncate -s 600M /sparse && touch /ready && exec sleep 600'] });
  await eventually(() => existsSync(join(containerPaths(h.dataDir, container.id).upper, 'ready')));
  return { id: container.id, c };
}

describe('commit has a time limit of its own', () => {
  it('control: without a tight limit, the same commit takes longer than the limit (the zeros are read)', async () => {
    const { id, c } = await sparseContainer();
    const started = Date.now();
    const { imageId } = await c.commit(id);
    const ms = Date.now() - started;
    console.log(`control: committing 600 MiB of holes took ${ms} ms`);
    expect(ms).toBeGreaterThan(LIMIT_MS);
    await c.remove(id, { force: true });
    await h.store.remove(imageId, { force: true });
  }, 120_000);

  it('a commit past the limit fails with a learner error, leaves nothing in the store, and the container runs on', async () => {
    const { id, c } = await sparseContainer(LIMIT_MS);
    const before = await storeState();
    const started = Date.now();
    const err = await c.commit(id, { reference: 'too-slow' }).catch((e: unknown) => e);
    const ms = Date.now() - started;
    expect(err).toBeInstanceOf(LearnerError);
    expect(err).toMatchObject({ key: 'container.commitTimeLimit', facts: { ref: id, seconds: 1 } });
    // Stopped near the limit, not after the whole read (the control's figure).
    console.log(`limited commit gave up after ${ms} ms (limit ${LIMIT_MS} ms)`);
    expect(ms).toBeLessThan(LIMIT_MS + 5_000);
    expect(await storeState()).toEqual(before);
    expect(before.tmp).toEqual([]);
    await expect(h.store.inspect('local.layercake/learner/too-slow')).rejects.toThrow();
    expect((await c.inspect(id)).status).toBe('running');
    await c.remove(id, { force: true });
  }, 120_000);
});
