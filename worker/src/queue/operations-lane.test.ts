// Container and image operations have a lane of their own on each host (queue-client/names.ts
// queueOfJob): with every build slot busy, a learner's Stop is still served at once. The
// control puts the same kind of operation on the host queue, as every job went before the lane,
// and shows it waiting behind the build.
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { JobDispatcher, type Enqueued } from '../../../queue-client/dispatcher.js';
import { hostOpsQueueName, hostQueueName } from '../../../queue-client/names.js';
import { waitForOutcome } from '../../../queue-client/outcome.js';
import type { JobName } from '../../../protocol/jobs.js';
import { Containers } from '../containers/index.js';
import { HostWorker } from './host-worker.js';
import { closeAndCheck, testEngine, type TestEngine } from './test-support/engine.js';
import { testClient, testPrefix, testRedisUrl } from './test-support/redis.js';

const redis = testClient();
const url = testRedisUrl();
const prefix = testPrefix('opslane');
const HOST = 'wol';
const SESSION = 'ol';
const silent = pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' });
const dispatcher = new JobDispatcher(redis, url, prefix);
let engine: TestEngine;
let worker: HostWorker;

async function result<N extends JobName>(name: N, job: Enqueued, timeoutMs = 60_000) {
  const outcome = await waitForOutcome(dispatcher, job, name, { timeoutMs });
  if ('kind' in outcome) throw new Error(`job failed: ${outcome.errorId}`);
  return outcome;
}

const stateOf = (queue: string, jobId: string) => dispatcher.hostQueue(queue).getJobState(jobId);

beforeAll(async () => {
  engine = await testEngine('opslane');
  // One build slot: a running build takes all of the host queue.
  worker = await HostWorker.start({ redisUrl: url, prefix, hostId: HOST, concurrency: 1, heartbeatMs: 500, engine, log: silent });
});

afterAll(async () => {
  await worker?.shutdown(5_000);
  await dispatcher.close();
  const containers = new Containers({ ...engine, session: SESSION });
  for (const c of await containers.list({ all: true })) await containers.remove(c.id, { force: true });
  await closeAndCheck(engine, redis, prefix);
});

it('a stop is served while a build holds every build slot; on the host queue it would wait', async () => {
  const run = await result('run', await dispatcher.enqueue('run', { sessionId: SESSION, runId: 'ol-run', name: 'target', image: 'busybox', cmd: ['sleep', '600'], tty: false }));
  expect(run.ok).toBe(true);

  const build = await dispatcher.enqueue('build', {
    sessionId: SESSION,
    runId: 'ol-build',
    dockerfile: 'FROM busybox\nRUN sleep 6\n',
    context: [],
    noCache: true,
  });
  expect(build.queue).toBe(hostQueueName(HOST));
  for (let i = 0; i < 200 && (await stateOf(build.queue, build.jobId)) !== 'active'; i++) await sleep(25);
  expect(await stateOf(build.queue, build.jobId)).toBe('active');

  // The control: an operation on the host queue, where every job went before the lane.
  const control = await dispatcher.hostQueue(hostQueueName(HOST)).add('container-op', { sessionId: SESSION, runId: 'ol-control', op: 'list' });

  const started = performance.now();
  const stop = await dispatcher.enqueue('container-op', { sessionId: SESSION, runId: 'ol-stop', container: 'target', op: 'stop', graceMs: 0 });
  expect(stop.queue).toBe(hostOpsQueueName(HOST));
  const stopped = await result('container-op', stop, 5_000);
  const stopMs = performance.now() - started;
  expect(stopped).toMatchObject({ ok: true, result: { op: 'stop', exit: { exitCode: 137 } } });
  // Served while the build still runs, and the control still waits behind it.
  expect(await stateOf(build.queue, build.jobId)).toBe('active');
  expect(await stateOf(hostQueueName(HOST), control.id!)).toBe('waiting');
  expect(stopMs).toBeLessThan(3_000);

  // Image operations take the lane too; the build and the control then finish in turn.
  const images = await dispatcher.enqueue('image-op', { sessionId: SESSION, runId: 'ol-images', op: 'list' });
  expect(images.queue).toBe(hostOpsQueueName(HOST));
  expect(await result('image-op', images, 5_000)).toMatchObject({ ok: true });
  expect(await result('build', build)).toMatchObject({ ok: true });
  for (let i = 0; i < 200 && (await stateOf(hostQueueName(HOST), control.id!)) !== 'completed'; i++) await sleep(25);
  expect(await stateOf(hostQueueName(HOST), control.id!)).toBe('completed');
}, 90_000);
