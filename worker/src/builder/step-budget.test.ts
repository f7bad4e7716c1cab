// What the host does after a RUN step is bounded. A step that makes 24 sparse files of 1 GiB
// finishes in milliseconds and takes almost no disk blocks, so neither its time limit nor the disk
// quota stops it; before these bounds the builder then hashed 24 GiB of zeros for 78 s and
// recorded a 25.8 GB layer. Now the step's apparent size is measured before anything is read
// (refused at once, naming the line), and the tar-and-hash stage has its own time limit (the
// control: with the size bound lifted, the hashing really does start, and is stopped by it).
// A build's steps together are bounded by the session's disk quota.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LearnerError } from '../../../protocol/errors.js';
import { createHarness, type Harness } from './test-support/harness.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SPARSE_BOMB = 'FROM busybox\nRUN for i in $(seq 24); do truncate -s 1G /sparse$i; done\n';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('step-budget');
});
afterAll(async () => {
  await h?.close();
});

describe('after a RUN step', () => {
  it('refuses a step whose files add up past its bound, sparse files at their full length, without reading them', async () => {
    const started = performance.now();
    const { error } = await h.buildFails(SPARSE_BOMB);
    const ms = performance.now() - started;
    expect((error as LearnerError).key).toBe('build.stepTooLarge');
    expect((error as LearnerError).facts).toMatchObject({ line: 2, size: '24 GiB', limit: '1 GiB' });
    // The whole build (a container start included) in seconds, not the minute and more of hashing.
    expect(ms).toBeLessThan(15_000);
    expect(await h.leftovers()).toEqual([]);
  });

  it('stops making the layer at its own time limit when the files are within the size bound (control: the hashing starts)', async () => {
    const roomy = h.builderWith({ writableLayerBytes: 64 * GiB, quotas: { layerBytes: 64 * GiB }, limits: { layerTimeoutMs: 1500 } });
    const started = performance.now();
    const { error } = await h.buildFails(SPARSE_BOMB, {}, roomy);
    const ms = performance.now() - started;
    expect((error as LearnerError).key).toBe('build.layerTimeLimit');
    expect((error as LearnerError).facts).toMatchObject({ line: 2, seconds: 2 });
    expect(ms).toBeLessThan(15_000);
    expect(await h.leftovers()).toEqual([]);
  });

  it('bounds all of a build’s steps together by the session’s disk quota', async () => {
    const small = h.builderWith({ quotas: { layerBytes: 12 * MiB } });
    const { error } = await h.buildFails('FROM busybox\nRUN dd if=/dev/zero of=/a bs=1M count=8\nRUN dd if=/dev/zero of=/b bs=1M count=8\n', {}, small);
    expect((error as LearnerError).key).toBe('quota.layerBytesAdding');
    expect((error as LearnerError).facts).toMatchObject({ line: 3, adding: '16 MiB', limit: '12 MiB' });
    expect(await h.leftovers()).toEqual([]);
    // One of them fits. Named: the build cache collects untagged images at the quota (cache-gc.test.ts).
    await h.build('FROM busybox\nRUN dd if=/dev/zero of=/a bs=1M count=8\n', { tags: ['fits'] }, small);
  });

  it('counts a build’s new image against the session’s image quota; a cached rebuild makes none', async () => {
    const one = h.builderWith({ quotas: { images: 1 } });
    // The session has the image the test above built: a new one is refused at the first step that would make one.
    const { error } = await h.buildFails('FROM busybox\nENV NEW=1\n', {}, one);
    expect(error).toMatchObject({ key: 'quota.images', facts: { count: 1, limit: 1 } });
    expect(await h.leftovers()).toEqual([]);
    const rebuilt = await h.build('FROM busybox\nRUN dd if=/dev/zero of=/a bs=1M count=8\n', {}, one);
    expect(rebuilt.steps.at(-1)).toMatchObject({ cacheHit: true });
  });
});
