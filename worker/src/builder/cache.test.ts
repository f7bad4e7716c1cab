// The build cache, decided like Docker's classic builder and explained step by step: real
// builds in a real store, changed between runs the way a learner changes them.
import { writeFile, chmod, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Built, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('cache');
});
afterAll(async () => {
  expect(await h.leftovers()).toEqual([]);
  await h.close();
});

/** `key` of each non-FROM step's build.cache event, in order. */
function reasons(built: Built): string[] {
  return built.events.ofType('build.cache').map((e) => e.reason.key);
}

const SIX_STEPS = (greeting: string) =>
  `FROM busybox\nENV GREETING=${greeting}\nRUN echo "$GREETING" > /greeting\nCOPY app.txt /app/\nWORKDIR /app\nRUN wc -c app.txt > size\nCMD ["cat", "/greeting"]\n`;

describe('build cache', () => {
  it('the first build runs every step, a rebuild takes every step from the cache', async () => {
    const context = await h.context({ 'app.txt': 'v1' });
    const first = await h.build(SIX_STEPS('hello'), { context });
    // Nothing was cached for any step yet: each says so, none claims an earlier step "changed".
    expect(reasons(first)).toEqual(Array(6).fill('cache.miss.firstTime'));
    const second = await h.build(SIX_STEPS('hello'), { context });
    expect(reasons(second)).toEqual(Array(6).fill('cache.hit'));
    expect(second.steps.map((s) => s.cacheHit)).toEqual([null, true, true, true, true, true, true]);
    expect(second.imageId).toBe(first.imageId);
    // A hit still reports the layer the step made, for the layer view.
    expect(second.steps[2]!.layer).toEqual(first.steps[2]!.layer);
    expect(second.events.ofType('layer.committed')).toEqual([]);
    expect(second.events.ofType('build.finished')[0]).toMatchObject({ cachedSteps: 6, totalSteps: 7 });
  });

  it('a cached rebuild of a 6-step Dockerfile takes at most 100 ms', async () => {
    const context = await h.context({ 'app.txt': 'timing' });
    await h.build(SIX_STEPS('timing'), { context });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const built = await h.build(SIX_STEPS('timing'), { context });
      times.push(performance.now() - started);
      expect(reasons(built)).toEqual(Array(6).fill('cache.hit'));
    }
    times.sort((a, b) => a - b);
    expect(times[2]!).toBeLessThanOrEqual(100);
  });

  it('a changed instruction misses with its previous text, and every step after it follows', async () => {
    const context = await h.context({ 'app.txt': 'v1' });
    await h.build(SIX_STEPS('hello'), { context });
    const changed = await h.build(SIX_STEPS('hello').replace('wc -c', 'wc -l'), { context });
    expect(reasons(changed)).toEqual(['cache.hit', 'cache.hit', 'cache.hit', 'cache.hit', 'cache.miss.instructionChanged', 'cache.miss.parentChanged']);
    const miss = changed.events.ofType('build.cache')[4]!;
    expect(miss.reason.facts).toEqual({ previous: 'RUN wc -c app.txt > size' });
    expect(changed.events.ofType('build.cache')[5]!.reason.facts).toEqual({ step: 6 });
  });

  it('COPY misses when a copied file\'s content or mode changes, not when only its time or an ignored file does', async () => {
    const context = await h.context({ 'app.txt': 'v1', '.dockerignore': 'notes.md\n', 'notes.md': 'a' });
    const dockerfile = 'FROM busybox\nRUN true\nCOPY . /app/\nRUN ls /app\n';
    await h.build(dockerfile, { context });
    await utimes(join(context, 'app.txt'), 1_500_000_000, 1_500_000_000);
    await writeFile(join(context, 'notes.md'), 'changed, but ignored');
    expect(reasons(await h.build(dockerfile, { context }))).toEqual(['cache.hit', 'cache.hit', 'cache.hit']);
    await writeFile(join(context, 'app.txt'), 'v2');
    const content = await h.build(dockerfile, { context });
    expect(reasons(content)).toEqual(['cache.hit', 'cache.miss.filesChanged', 'cache.miss.parentChanged']);
    await chmod(join(context, 'app.txt'), 0o600);
    expect(reasons(await h.build(dockerfile, { context }))).toEqual(['cache.hit', 'cache.miss.filesChanged', 'cache.miss.parentChanged']);
    await writeFile(join(context, 'new.txt'), 'added');
    expect(reasons(await h.build(dockerfile, { context }))).toEqual(['cache.hit', 'cache.miss.filesChanged', 'cache.miss.parentChanged']);
  });

  it('COPY keys a file by all its bytes on both sides of the one-read bound (1 MiB): the last byte changed misses, the same bytes rewritten hit', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 'a');
    const context = await h.context({ 'small.txt': 'aaaa', 'big.bin': { content: big } });
    const dockerfile = 'FROM busybox\nCOPY small.txt /s\nCOPY big.bin /b\n';
    await h.build(dockerfile, { context });
    // Rewritten with the same bytes: a new change time, so each is read and hashed again, to the same digest.
    await writeFile(join(context, 'small.txt'), 'aaaa');
    await writeFile(join(context, 'big.bin'), big);
    expect(reasons(await h.build(dockerfile, { context }))).toEqual(['cache.hit', 'cache.hit']);
    await writeFile(join(context, 'small.txt'), 'aaab');
    expect(reasons(await h.build(dockerfile, { context }))).toEqual(['cache.miss.filesChanged', 'cache.miss.parentChanged']);
    await writeFile(join(context, 'small.txt'), 'aaaa');
    await writeFile(join(context, 'big.bin'), Buffer.concat([big.subarray(0, -1), Buffer.from('b')]));
    expect(reasons(await h.build(dockerfile, { context }))).toEqual(['cache.hit', 'cache.miss.filesChanged']);
  });

  it('a changed build argument misses where it is used, naming it', async () => {
    const dockerfile = 'FROM busybox\nARG VERSION=1\nRUN echo building\nENV LABEL_VERSION=v$VERSION\nRUN echo $VERSION > /version\n';
    await h.build(dockerfile, { buildArgs: { VERSION: '1' } });
    const changed = await h.build(dockerfile, { buildArgs: { VERSION: '2' } });
    // RUN sees every declared argument in its environment, so the first RUN misses too.
    expect(reasons(changed)).toEqual(['cache.hit', 'cache.miss.argChanged', 'cache.miss.parentChanged', 'cache.miss.parentChanged']);
    expect(changed.events.ofType('build.cache')[1]!.reason.facts).toEqual({ args: 'VERSION' });
    // A substitution that uses the argument: the instruction reads differently, as written it is the same.
    await h.build('FROM busybox\nARG V\nENV X=$V\n', { buildArgs: { V: 'a' } });
    const envChanged = await h.build('FROM busybox\nARG V\nENV X=$V\n', { buildArgs: { V: 'b' } });
    expect(reasons(envChanged)).toEqual(['cache.hit', 'cache.miss.argChanged']);
  });

  it('--no-cache runs every step again and still records the results', async () => {
    const context = await h.context({ 'app.txt': 'nocache' });
    const cached = await h.build(SIX_STEPS('nocache'), { context });
    const fresh = await h.build(SIX_STEPS('nocache'), { context, noCache: true });
    expect(reasons(fresh)).toEqual(Array(6).fill('cache.miss.noCache'));
    expect(fresh.imageId).not.toBe(cached.imageId);
    const after = await h.build(SIX_STEPS('nocache'), { context });
    expect(reasons(after)).toEqual(Array(6).fill('cache.hit'));
  });

  it('a step whose cached image was removed runs again', async () => {
    // A session of its own: nothing else was built on busybox there.
    const built = await h.build('FROM busybox\nLABEL removed=soon\n', { session: 'removal' });
    await h.store.remove(built.imageId);
    const again = await h.build('FROM busybox\nLABEL removed=soon\n', { session: 'removal' });
    expect(reasons(again)).toEqual(['cache.miss.firstTime']);
  });

  it('the cache belongs to one session', async () => {
    const context = await h.context({ 'app.txt': 'session' });
    await h.build(SIX_STEPS('session'), { context });
    const other = await h.build(SIX_STEPS('session'), { context, session: 'other' });
    expect(reasons(other)[0]).toBe('cache.miss.firstTime');
  });
});

describe("a RUN step's way out to package archives", () => {
  it('is asked for once, by the first RUN that runs; a rebuild from the cache asks for none', async () => {
    const asked: string[] = [];
    // No relay behind it (null: the steps run without a way out); only the asking is counted.
    const builder = h.builderWith({ egress: { forSession: async (session) => (asked.push(session), null) } });
    const dockerfile = `FROM busybox\nRUN echo ${Date.now()} > /one\nRUN echo two > /two\n`;
    await h.build(dockerfile, {}, builder);
    expect(asked).toEqual([h.session]); // two RUN steps ran: asked once (the control: the source is used)
    const again = await h.build(dockerfile, {}, builder);
    expect(again.events.ofType('build.cache').map((e) => e.cacheHit)).toEqual([true, true]);
    expect(asked).toEqual([h.session]);
  });
});
