// The worker end to end on a real Redis, with real builds in real sandboxes: jobs reach the
// session's host and only it, events arrive in order in the run's stream, the two kinds of error
// stay apart, and a graceful shutdown re-queues what it could not finish for the next worker.
import { Queue, type Job } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullmqConnection } from '../../../queue-client/connection.js';
import { JobDispatcher } from '../../../queue-client/dispatcher.js';
import { HostWorker } from './host-worker.js';
import { hostQueueName } from '../../../queue-client/names.js';
import { internalErrorOf } from '../../../queue-client/outcome.js';
import { readRunEvents } from '../../../queue-client/run-events.js';
import { testEngine, type TestEngine } from './test-support/engine.js';
import { keysUnder, removeKeysUnder, testClient, testPrefix, testRedisUrl } from './test-support/redis.js';

const redis = testClient();
const url = testRedisUrl();
const prefix = testPrefix('worker');
const silent = pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' });

let engineA: TestEngine;
let engineB: TestEngine;
const dispatcher = new JobDispatcher(redis, url, prefix);
const workers: HostWorker[] = [];

async function startWorker(hostId: string, engine: TestEngine, concurrency = 2): Promise<HostWorker> {
  const w = await HostWorker.start({ redisUrl: url, prefix, hostId, concurrency, heartbeatMs: 500, engine, log: silent });
  workers.push(w);
  return w;
}

async function jobIn(queueName: string, id: string): Promise<Job> {
  const q = dispatcher.hostQueue(queueName);
  const job = await q.getJob(id);
  if (!job) throw new Error(`no job ${id} in ${queueName}`);
  return job;
}

/** Polls until the job is completed or failed (or `states` says otherwise). */
async function settled(queueName: string, id: string, states = ['completed', 'failed'], timeoutMs = 60_000): Promise<Job> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const job = await jobIn(queueName, id);
    if (states.includes(await job.getState())) return jobIn(queueName, id);
    if (Date.now() > until) throw new Error(`job ${id} is ${await job.getState()} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Straight onto one host's queue (as the dispatcher would for a session pinned there). */
async function enqueueOn(hostId: string, data: object): Promise<{ queue: string; jobId: string }> {
  const queue = hostQueueName(hostId);
  const job = await dispatcher.hostQueue(queue).add('build', data);
  return { queue, jobId: job.id! };
}

const build = (sessionId: string, runId: string, dockerfile: string, extra: object = {}) => ({
  sessionId,
  runId,
  dockerfile,
  context: [{ path: 'hello.txt', content: 'hello from the context\n' }],
  tags: ['app'],
  ...extra,
});

beforeAll(async () => {
  [engineA, engineB] = await Promise.all([testEngine('a'), testEngine('b')]);
  await startWorker('wa', engineA);
  await startWorker('wb', engineB);
});

afterAll(async () => {
  for (const w of workers) await w.shutdown(5_000);
  await dispatcher.close();
  const leftovers = [...(await engineA.leftovers()), ...(await engineB.leftovers())];
  await engineA.close();
  await engineB.close();
  await removeKeysUnder(redis, prefix);
  expect(await keysUnder(redis, prefix)).toEqual([]);
  await redis.quit();
  expect(leftovers).toEqual([]);
});

describe('job routing', () => {
  it('a session’s jobs all go to the host it is pinned to, and are built there', async () => {
    const first = await dispatcher.enqueue('build', build('route1', 'route1-b1', 'FROM busybox\nCOPY hello.txt /hello.txt\n'));
    const done = await settled(first.queue, first.jobId);
    expect(done.returnvalue).toMatchObject({ ok: true, result: { tags: ['app:latest'] } });
    const imageId = (done.returnvalue as { result: { imageId: string } }).result.imageId;
    const [mine, other] = first.hostId === 'wa' ? [engineA, engineB] : [engineB, engineA];
    expect(await mine.store.inspect(imageId)).toBeTruthy();
    await expect(other.store.inspect(imageId)).rejects.toThrow(/No such image/);

    for (let i = 2; i <= 4; i++) {
      const next = await dispatcher.enqueue('build', build('route1', `route1-b${i}`, `FROM busybox\nCOPY hello.txt /hello-${i}.txt\n`));
      expect(next).toMatchObject({ hostId: first.hostId, queue: hostQueueName(first.hostId), how: 'pinned' });
      expect((await settled(next.queue, next.jobId)).returnvalue).toMatchObject({ ok: true });
    }
    // Nothing of the session ever went to the other host's queue.
    const otherQueue = dispatcher.hostQueue(hostQueueName(first.hostId === 'wa' ? 'wb' : 'wa'));
    const otherJobs = await otherQueue.getJobs(['completed', 'failed', 'waiting', 'active']);
    expect(otherJobs.filter((j) => (j.data as { sessionId: string }).sessionId === 'route1')).toEqual([]);
  });
});

describe('events and results', () => {
  it('a build’s events are in the run’s stream, seq 0…n without gaps, and its progress names the last', async () => {
    const job = await dispatcher.enqueue('build', build('events1', 'events1-run', 'FROM busybox\nRUN echo one && echo two\nCOPY hello.txt /\n'));
    const done = await settled(job.queue, job.jobId);
    expect(done.returnvalue).toMatchObject({ ok: true });
    const events = await readRunEvents(redis, prefix, 'events1-run', -1);
    expect(events.map((e) => e.seq)).toEqual([...events.keys()]);
    expect(events[0]!.type).toBe('build.started');
    expect(events.at(-1)!.type).toBe('build.finished');
    const logs = events.filter((e) => e.type === 'build.log').map((e) => (e as { text: string }).text).join('');
    expect(logs).toContain('one\ntwo\n');
    expect(done.progress).toEqual({ seq: events.at(-1)!.seq, type: 'build.finished' });
  });

  it('a learner’s mistake is the job’s result, not a failure', async () => {
    const job = await dispatcher.enqueue('build', build('mistake1', 'mistake1-run', 'FROM busybox\nRUNN echo typo\n'));
    const done = await settled(job.queue, job.jobId);
    expect(await done.getState()).toBe('completed');
    expect(done.returnvalue).toMatchObject({ ok: false, error: { kind: 'learner', key: 'build.unknownInstructionSuggestion', line: 2 } });
    const failedRun = await dispatcher.enqueue('build', build('mistake1', 'mistake1-run2', 'FROM busybox\nRUN exit 3\n'));
    expect((await settled(failedRun.queue, failedRun.jobId)).returnvalue).toMatchObject({ ok: false, error: { key: 'build.runFailed' } });
  });

  it('an internal error fails the job with only an error id, logged on the host', async () => {
    // Only a gateway bug could put this on a queue: the dispatcher validates first.
    const queue = new Queue(hostQueueName('wa'), { connection: bullmqConnection(url), prefix });
    const bad = await queue.add('build', { sessionId: 'NOT VALID', runId: 'x' });
    const done = await settled(hostQueueName('wa'), bad.id!);
    expect(await done.getState()).toBe('failed');
    expect(internalErrorOf(done.failedReason)).toMatchObject({ kind: 'internal', errorId: expect.stringMatching(/^E[0-9A-F]{10}$/) });
    expect(done.attemptsMade).toBe(1);
    await queue.close();
    await expect(dispatcher.enqueue('build', { sessionId: 'NOT VALID', runId: 'x', dockerfile: '' })).rejects.toThrow();
  });
});

describe('graceful shutdown', () => {
  it('lets a running job finish within the grace period', async () => {
    const engine = await testEngine('grace');
    const w = await startWorker('wgrace', engine, 1);
    const job = await enqueueOn('wgrace', build('grace1', 'grace1-run', 'FROM busybox\nRUN sleep 1\n'));
    await settled(job.queue, job.jobId, ['active']);
    const report = await w.shutdown(20_000);
    expect(report).toEqual({ finished: 1, requeued: [] });
    expect((await jobIn(job.queue, job.jobId)).returnvalue).toMatchObject({ ok: true });
    expect(await engine.leftovers()).toEqual([]);
    await engine.close();
  });

  it('re-queues a job still running at the deadline; the host’s next worker completes it, events continuing', async () => {
    const engine = await testEngine('requeue');
    const first = await startWorker('wrequeue', engine, 1);
    const job = await enqueueOn('wrequeue', build('requeue1', 'requeue1-run', 'FROM busybox\nRUN echo before && sleep 3 && echo after\n'));
    // Wait until the RUN step is really running in its sandbox.
    for (;;) {
      const events = await readRunEvents(redis, prefix, 'requeue1-run', -1);
      if (events.some((e) => e.type === 'build.log' && (e as { text: string }).text.includes('before'))) break;
      await sleep(50);
    }
    const report = await first.shutdown(200);
    expect(report.requeued).toEqual([job.jobId]);
    const waiting = await jobIn(job.queue, job.jobId);
    expect(await waiting.getState()).toBe('waiting');
    // The killed step left nothing behind: its sandbox, cgroup, scratch dir and id range are gone.
    expect(await engine.leftovers()).toEqual([]);

    // A new worker of the same host (same data dir, as after a restart) takes it from the queue.
    const second = await startWorker('wrequeue', engine, 1);
    const done = await settled(job.queue, job.jobId);
    expect(done.returnvalue).toMatchObject({ ok: true });
    const events = await readRunEvents(redis, prefix, 'requeue1-run', -1);
    expect(events.map((e) => e.seq)).toEqual([...events.keys()]); // nothing lost, nothing twice
    expect(events.filter((e) => e.type === 'build.started')).toHaveLength(2); // one per attempt
    expect(events.filter((e) => e.type === 'build.failed')).toEqual([]); // the abort is not the run's story
    expect(events.at(-1)!.type).toBe('build.finished');
    await second.shutdown(5_000);
    expect(await engine.leftovers()).toEqual([]);
    await engine.close();
  });
});
