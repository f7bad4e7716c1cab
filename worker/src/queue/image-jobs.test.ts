// `image-op` and the container-op additions (`list`, `inspect`) end to end on a real Redis and real
// sandboxes, read back as the gateway reads them (waitForOutcome: validated with the result
// schemas). And the session boundary: another session's image and container ids and names are
// "no such …" here, with a message that says nothing of them.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMessage } from '../../../protocol/errors.js';
import type { JobName, JobRequest } from '../../../protocol/jobs.js';
import type { ContainerOpResult, ImageOpResult } from '../../../protocol/results.js';
import { JobDispatcher } from '../../../queue-client/dispatcher.js';
import { waitForOutcome } from '../../../queue-client/outcome.js';
import { Containers } from '../containers/index.js';
import { HostWorker } from './host-worker.js';
import { testEngine, type TestEngine, closeAndCheck } from './test-support/engine.js';
import { testClient, testPrefix, testRedisUrl } from './test-support/redis.js';

const redis = testClient();
const url = testRedisUrl();
const prefix = testPrefix('imagejobs');
const silent = pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' });
const dispatcher = new JobDispatcher(redis, url, prefix);
let engine: TestEngine;
let worker: HostWorker;
let runs = 0;

type Body<T> = T extends unknown ? Omit<T, 'sessionId' | 'runId'> & { sessionId?: string } : never;

/** A job (of session `ia` unless it says), read back as the gateway reads it; internal errors throw. */
async function job<N extends JobName>(name: N, body: Body<JobRequest<N>>) {
  const enqueued = await dispatcher.enqueue(name, { sessionId: 'ia', runId: `ij-${++runs}`, ...body });
  const outcome = await waitForOutcome(dispatcher, enqueued, name, { timeoutMs: 60_000 });
  if ('kind' in outcome) throw new Error(`job failed: ${outcome.errorId}`);
  return outcome;
}

async function imageOp<O extends ImageOpResult['op']>(body: { op: O } & Record<string, unknown>): Promise<Extract<ImageOpResult, { op: O }>> {
  const out = await job('image-op', body as never);
  if (!out.ok) throw new Error(`learner error ${out.error.key}`);
  return out.result as Extract<ImageOpResult, { op: O }>;
}

async function containerOp<O extends ContainerOpResult['op']>(body: { op: O } & Record<string, unknown>): Promise<Extract<ContainerOpResult, { op: O }>> {
  const out = await job('container-op', body as never);
  if (!out.ok) throw new Error(`learner error ${out.error.key}`);
  return out.result as Extract<ContainerOpResult, { op: O }>;
}

const DOCKERFILE = ['FROM busybox', 'RUN mkdir /app && echo one > /app/a.txt', 'ENV GREETING=hi', 'RUN echo two > /app/b.txt && rm /app/a.txt', ''].join('\n');
let imageId: string;
let containerId: string;

beforeAll(async () => {
  engine = await testEngine('images');
  worker = await HostWorker.start({ redisUrl: url, prefix, hostId: 'wi', concurrency: 2, heartbeatMs: 500, engine, log: silent });
  const built = await job('build', { dockerfile: DOCKERFILE, tags: ['app:v1'] });
  if (!built.ok) throw new Error(`build failed: ${built.error.key}`);
  imageId = built.result.imageId;
  expect(built.result.steps.map((s) => s.line)).toEqual([1, 2, 3, 4]);
  const run = await job('run', { image: 'app:v1', name: 'keeper', cmd: ['sh', '-c', 'echo 12345 > /app/c.txt; sleep 60'], tty: false });
  if (!run.ok) throw new Error(`run failed: ${run.error.key}`);
  containerId = run.result.id;
});

afterAll(async () => {
  await worker?.shutdown(5_000);
  await dispatcher.close();
  for (const session of ['ia', 'ib']) {
    const c = new Containers({ ...engine, session });
    for (const x of await c.list({ all: true })) await c.remove(x.id, { force: true });
  }
  await closeAndCheck(engine, redis, prefix);
});

describe('image-op', () => {
  it('list: the session’s images and the base images, with shared size and the containers using each', async () => {
    const { images } = await imageOp({ op: 'list' });
    const app = images.find((i) => i.id === imageId)!;
    const busybox = images.find((i) => i.tags.includes('busybox:latest'))!;
    expect(busybox).toMatchObject({ base: true, containers: 0, layers: 1 });
    expect(app).toMatchObject({ tags: ['app:v1'], base: false, containers: 1, layers: 3 });
    // Its bottom layer is busybox's, stored once: that is what it shares.
    expect(app.sharedSizeBytes).toBe(busybox.sizeBytes);
    expect(busybox.sharedSizeBytes).toBe(busybox.sizeBytes);
    expect(app.sizeBytes).toBeGreaterThan(busybox.sizeBytes);
  });

  it('history: newest first, each row with its layer index and the Dockerfile line that made it', async () => {
    const { rows, imageId: id } = await imageOp({ op: 'history', image: 'app:v1' });
    expect(id).toBe(imageId);
    expect(rows.map((r) => [r.createdBy.includes('echo two'), r.emptyLayer, r.layerIndex, r.line])).toEqual([
      [true, false, 2, 4],
      [false, true, null, 3],
      [false, false, 1, 2],
      // busybox's own steps (its CMD, its files): not built from this Dockerfile.
      [false, true, null, null],
      [false, false, 0, null],
    ]);
    expect(rows[0]!.id).toBe(imageId);
    expect(rows[1]!.createdBy).toContain('GREETING=hi');
    expect(rows[0]!.sizeBytes).toBe(4);
  });

  it('layer-changes: the files one layer added, changed and deleted, by index or diffId, bounded', async () => {
    const top = await imageOp({ op: 'layer-changes', image: 'app:v1', layer: 2 });
    expect(top).toMatchObject({ layerIndex: 2, truncated: false, total: 3 });
    expect(top.changes).toEqual([
      { kind: 'C', path: '/app', sizeBytes: 0 },
      { kind: 'D', path: '/app/a.txt', sizeBytes: 0 },
      { kind: 'A', path: '/app/b.txt', sizeBytes: 4 },
    ]);
    const byDiffId = await imageOp({ op: 'layer-changes', image: imageId, layer: top.diffId });
    expect(byDiffId.changes).toEqual(top.changes);
    expect((await imageOp({ op: 'layer-changes', image: 'app:v1', layer: '2' })).changes).toEqual(top.changes); // as a form field sends it
    const base = await imageOp({ op: 'layer-changes', image: 'app:v1', layer: 0, limit: 5 });
    expect(base).toMatchObject({ truncated: true });
    expect(base.changes).toHaveLength(5);
    expect(base.total).toBeGreaterThan(100); // busybox: /bin and its applet links
    expect(base.changes.every((c) => c.kind === 'A')).toBe(true);
    const beyond = await job('image-op', { op: 'layer-changes', image: 'app:v1', layer: 3 });
    expect(beyond).toMatchObject({ ok: false, error: { key: 'image.noSuchLayer', facts: { count: 3, layer: '3' } } });
    expect(renderMessage('image.noSuchLayer', beyond.ok ? {} : beyond.error.facts, 'ko')).toContain('레이어가 3개');
  });

  it('rmi: refused while a container uses the image, as Docker refuses it; -f by name only untags', async () => {
    const refused = await job('image-op', { op: 'rmi', image: 'app:v1' });
    expect(refused).toMatchObject({ ok: false, error: { kind: 'learner', key: 'image.conflict' } });
    expect(renderMessage('image.conflict', refused.ok ? {} : refused.error.facts, 'en')).toContain('container');
    expect(renderMessage('image.conflict', refused.ok ? {} : refused.error.facts, 'ko')).toContain('--force');
    // By id it cannot be forced while the container exists.
    expect(await job('image-op', { op: 'rmi', image: imageId, force: true })).toMatchObject({ ok: false, error: { key: 'image.conflict' } });
    await job('build', { dockerfile: DOCKERFILE, tags: ['app:v2'] }); // the same image under a second name (cached)
    expect(await imageOp({ op: 'rmi', image: 'app:v2' })).toEqual({ op: 'rmi', untagged: ['app:v2'], deleted: [] });
    expect((await imageOp({ op: 'list' })).images.find((i) => i.id === imageId)!.tags).toEqual(['app:v1']);
  });
});

describe('container-op list and inspect', () => {
  it('list is ps -a: the session’s containers, with no host paths', async () => {
    const { containers } = await containerOp({ op: 'list' });
    expect(containers).toEqual([
      expect.objectContaining({ id: containerId, name: 'keeper', image: 'app:v1', imageId, status: 'running', exitCode: 0, oomKilled: false, timedOut: false }),
    ]);
    expect(containers[0]!.limits).toMatchObject({ memoryBytes: expect.any(Number), pidsMax: expect.any(Number) });
    expect(JSON.stringify(containers)).not.toContain(engine.dataDir);
  });

  it('inspect: the image’s layers bottom to top with sizes, the writable layer’s size and limit, the state', async () => {
    let inspected = (await containerOp({ op: 'inspect', container: 'keeper' })).container;
    for (let i = 0; i < 50 && inspected.writableLayer.sizeBytes === 0; i++) inspected = (await containerOp({ op: 'inspect', container: 'keeper' })).container;
    const history = (await imageOp({ op: 'layer-changes', image: 'app:v1', layer: 2 })).diffId;
    expect(inspected.layers.map((l) => l.index)).toEqual([0, 1, 2]);
    expect(inspected.layers[2]!.diffId).toBe(history);
    expect(inspected.layers[2]!.sizeBytes).toBe(4);
    expect(inspected.writableLayer).toMatchObject({ sizeBytes: 6, limitBytes: inspected.limits.writableLayerBytes }); // "12345\n"
    expect(inspected).toMatchObject({ status: 'running', name: 'keeper' });
    expect(JSON.stringify(inspected)).not.toContain(engine.dataDir);
  });
});

describe('the session boundary', () => {
  it('session B gets "no such image/container" for A’s ids and names, and learns nothing of them', async () => {
    const asB = { sessionId: 'ib' };
    const shortImage = imageId.slice(7, 19);
    // [what B sends, what B typed]
    const attempts: [Promise<{ ok: boolean; error?: { key: string; facts: Record<string, unknown> } }>, string][] = [
      [job('image-op', { ...asB, op: 'history', image: 'app:v1' }), 'app:v1'],
      [job('image-op', { ...asB, op: 'history', image: shortImage }), shortImage],
      [job('image-op', { ...asB, op: 'layer-changes', image: imageId, layer: 0 }), imageId],
      [job('image-op', { ...asB, op: 'rmi', image: imageId, force: true }), imageId],
      [job('run', { ...asB, image: shortImage, tty: false }), shortImage],
      [job('container-op', { ...asB, op: 'inspect', container: 'keeper' }), 'keeper'],
      [job('container-op', { ...asB, op: 'inspect', container: containerId }), containerId],
      [job('container-op', { ...asB, op: 'rm', container: containerId.slice(0, 12), force: true }), containerId.slice(0, 12)],
      [job('container-op', { ...asB, op: 'stop', container: 'keeper' }), 'keeper'],
    ];
    for (const [pending, typed] of attempts) {
      const out = await pending;
      expect(out.ok).toBe(false);
      const error = out.error!;
      expect(['image.notFound', 'container.notFound']).toContain(error.key);
      // Only what B typed comes back: not A's session, its names, full ids or tags.
      const facts = error.facts as Parameters<typeof renderMessage>[1];
      const said = [JSON.stringify(error), renderMessage(error.key, facts, 'en'), renderMessage(error.key, facts, 'ko')].join('\n').split(typed).join('<typed>');
      expect(said).not.toMatch(/\bia\b|local\.layercake|app:v1|keeper/);
      expect(said).not.toContain(imageId.slice(7, 19));
      expect(said).not.toContain(containerId.slice(0, 12));
    }
    // B's lists show nothing of A's; A's container and image are untouched.
    expect((await containerOp({ ...asB, op: 'list' })).containers).toEqual([]);
    expect((await imageOp({ ...asB, op: 'list' })).images.every((i) => i.base)).toBe(true);
    expect((await containerOp({ op: 'inspect', container: 'keeper' })).container.status).toBe('running');
    expect((await imageOp({ op: 'history', image: 'app:v1' })).imageId).toBe(imageId);
  });
});
