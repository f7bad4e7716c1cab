// The `pull` job end to end: a real Redis, a real project registry (Debian's docker-registry behind
// the auth front), read back as the gateway reads it (result schema) with the run's events; a FROM
// of the pulled image builds from it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobName, JobRequest } from '../../../protocol/jobs.js';
import { JobDispatcher } from '../../../queue-client/dispatcher.js';
import { waitForOutcome } from '../../../queue-client/outcome.js';
import { readRunEvents } from '../../../queue-client/run-events.js';
import { pinTimes, removeDir, tempDir } from '../image-store/test-support/fixtures.js';
import { ProjectRegistry, Registries, registryProcesses } from '../registry/index.js';
import { SessionImages } from '../sessions/images.js';
import { HostWorker } from './host-worker.js';
import { closeAndCheck, testEngine, type TestEngine } from './test-support/engine.js';
import { testClient, testPrefix, testRedisUrl } from './test-support/redis.js';

const redis = testClient();
const url = testRedisUrl();
const prefix = testPrefix('pulljob');
const silent = pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' });
const dispatcher = new JobDispatcher(redis, url, prefix);
let engine: TestEngine;
let worker: HostWorker;
let registry: ProjectRegistry;
let work: string;
let runs = 0;

type Body<T> = T extends unknown ? Omit<T, 'sessionId' | 'runId'> & { sessionId?: string } : never;

async function job<N extends JobName>(name: N, body: Body<JobRequest<N>>) {
  const runId = `pj-${++runs}`;
  const enqueued = await dispatcher.enqueue(name, { sessionId: 'pa', runId, ...body });
  const outcome = await waitForOutcome(dispatcher, enqueued, name, { timeoutMs: 120_000 });
  if ('kind' in outcome) throw new Error(`job failed: ${outcome.errorId}`);
  return { outcome, events: await readRunEvents(redis, prefix, runId, -1) };
}

let name = '';
let pushedId = '';

beforeAll(async () => {
  work = await tempDir('pull-job');
  registry = new ProjectRegistry({ dir: join(work, 'registry'), port: 0 });
  await registry.start();
  engine = await testEngine('pull');
  worker = await HostWorker.start({ redisUrl: url, prefix, hostId: 'wp', concurrency: 2, heartbeatMs: 500, engine, log: silent });
  // An image of busybox's layer and one of 2 MiB, pushed by session s1 of the same host.
  const s1 = new SessionImages(engine.store, 's1', engine.dataDir);
  const base = await engine.store.inspect('busybox:latest');
  const dir = join(work, 'layer');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'payload'), Buffer.alloc(2 * 1024 * 1024, 7));
  await pinTimes(dir);
  const { layer } = await engine.store.commitLayer(dir, base.layers.at(-1)!.chainId);
  const image = await engine.store.createImage({
    ...base.config,
    rootfs: { type: 'layers', diff_ids: [...base.config.rootfs.diff_ids, layer.diffId] },
    history: [...(base.config.history ?? []), { created_by: 'ADD payload /' }],
  });
  name = `${registry.host}/s1/app:v1`;
  await s1.tag(image.id, name);
  pushedId = image.id;
  const credentialsFor = registry.credentialsFor('s1');
  const source = new Registries({ dataDir: engine.dataDir, store: engine.store, images: s1, projectDir: join(work, 'registry') });
  await source.login(registry.host, credentialsFor);
  await source.push(name);
}, 120_000);

afterAll(async () => {
  await worker?.shutdown(5_000);
  await dispatcher.close();
  await registry?.stop();
  expect(registryProcesses(join(work, 'registry'))).toEqual([]);
  await closeAndCheck(engine, redis, prefix);
  await removeDir(work);
});

describe('the pull job', () => {
  it('pulls into the session with a pull.layer event per layer, and a FROM of it builds', async () => {
    const { outcome, events } = await job('pull', { image: name });
    if (!outcome.ok) throw new Error(`learner error ${outcome.error.key}`);
    expect(outcome.result.imageId).toBe(pushedId);
    expect(outcome.result.layers).toHaveLength(2);
    const layerEvents = events.filter((e) => e.type === 'pull.layer');
    // Each layer ends verified (or cached: this host pushed it, so the cache may hold it).
    for (const l of outcome.result.layers) {
      expect(layerEvents.some((e) => e.type === 'pull.layer' && e.digest === l.digest && (e.status === 'verified' || e.status === 'cached'))).toBe(true);
    }
    expect(events.filter((e) => e.type === 'pull.finished')).toHaveLength(1);
    const built = await job('build', { dockerfile: `FROM ${name}\nRUN test -s /payload && echo ok\n` });
    expect(built.outcome.ok).toBe(true);
  }, 120_000);

  it('an image that is not there is a learner error naming it', async () => {
    const { outcome } = await job('pull', { image: `${registry.host}/s1/missing:v1` });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error.key).toBe('registry.notFound');
  }, 60_000);
});
