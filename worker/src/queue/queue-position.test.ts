// A learner's place in the queue and the wait before their job starts, on a real Redis with a
// real worker whose host queue is paused (so builds and runs wait), then resumed: the estimate plays the jobs
// ahead on the host's slots with each job name's recent durations, which the worker records.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobDispatcher, type Enqueued } from '../../../queue-client/dispatcher.js';
import { jobDurationsKey } from '../../../queue-client/names.js';
import { OutcomeTimeoutError, readOutcome, waitForOutcome } from '../../../queue-client/outcome.js';
import { queuePosition } from '../../../queue-client/queue-position.js';
import { Containers } from '../containers/index.js';
import { recordJobDuration } from './durations.js';
import { HostWorker } from './host-worker.js';
import { testEngine, type TestEngine, closeAndCheck } from './test-support/engine.js';
import { testClient, testPrefix, testRedisUrl } from './test-support/redis.js';

const redis = testClient();
const url = testRedisUrl();
const prefix = testPrefix('position');
const dispatcher = new JobDispatcher(redis, url, prefix);
let engine: TestEngine;
let worker: HostWorker;

beforeAll(async () => {
  engine = await testEngine('position');
  worker = await HostWorker.start({ redisUrl: url, prefix, hostId: 'wp', concurrency: 2, heartbeatMs: 500, engine, log: pino({ level: 'silent' }) });
  await dispatcher.hostQueue(worker.queueName).pause();
});

afterAll(async () => {
  await worker?.shutdown(5_000);
  // The runs' containers remove themselves on exit; one still exiting is removed here.
  const containers = new Containers({ ...engine, session: 'qp' });
  for (const c of await containers.list({ all: true }).catch(() => [])) await containers.remove(c.id, { force: true }).catch(() => undefined);
  await dispatcher.close();
  await closeAndCheck(engine, redis, prefix);
});

describe('queue position', () => {
  it('counts the jobs ahead, and estimates the wait from their names’ recent durations on the host’s slots', async () => {
    for (let i = 0; i < 3; i++) await recordJobDuration(redis, prefix, 'wp', 'run', 300);
    await recordJobDuration(redis, prefix, 'wp', 'build', 1500);
    await recordJobDuration(redis, prefix, 'wp', 'build', 2500); // averages 2000

    // Builds and runs wait in the host queue (operations have a lane of their own: operations-lane.test.ts).
    const names = ['run', 'run', 'run', 'build', 'run'] as const;
    const jobs: Enqueued[] = [];
    for (const [i, name] of names.entries()) {
      const runId = `qp-${i}`;
      const data = name === 'run'
        ? { sessionId: 'qp', runId, image: 'busybox', cmd: ['true'], tty: false, removeOnExit: true }
        : { sessionId: 'qp', runId, dockerfile: 'FROM busybox\n', context: [] };
      jobs.push(await dispatcher.enqueue(name, data));
    }
    const positions = [];
    for (const job of jobs) positions.push(await queuePosition(dispatcher, job));
    // Two slots: the first two start at once; then each waits for the earliest slot to free.
    expect(positions).toEqual([
      { position: 1, etaMs: 0 },
      { position: 2, etaMs: 0 },
      { position: 3, etaMs: 300 },
      { position: 4, etaMs: 300 },
      { position: 5, etaMs: 600 }, // 300+300 on one slot, 300+2000 on the other
    ]);

    // While it waits there is no outcome yet, and a wait gives up at its deadline (the job stays queued).
    expect(await readOutcome(dispatcher, jobs[0]!, 'run')).toBeNull();
    await expect(waitForOutcome(dispatcher, jobs[0]!, 'run', { timeoutMs: 300 })).rejects.toBeInstanceOf(OutcomeTimeoutError);
    expect((await queuePosition(dispatcher, jobs[0]!)).position).toBe(1);

    await dispatcher.hostQueue(worker.queueName).resume();
    for (const [i, job] of jobs.entries()) expect(await waitForOutcome(dispatcher, job, names[i]!, { timeoutMs: 60_000 })).toMatchObject({ ok: true });
    for (const job of jobs) expect(await queuePosition(dispatcher, job)).toEqual({ position: 0, etaMs: 0 });

    // Each finished job's duration was recorded, newest first, beside the seeded ones.
    const runs = (await redis.lrange(jobDurationsKey(prefix, 'wp', 'run'), 0, -1)).map(Number);
    expect(runs).toHaveLength(3 + 4);
    expect(runs.slice(4)).toEqual([300, 300, 300]);
    expect(runs.slice(0, 4).every((ms) => ms >= 0 && ms < 30_000)).toBe(true);
    expect(await redis.llen(jobDurationsKey(prefix, 'wp', 'build'))).toBe(3);
  });

  it('an outcome that is an internal error reads as its id only; one the schema refuses throws', async () => {
    // Only a gateway bug could queue these (the dispatcher validates): straight onto the queue.
    const queue = dispatcher.hostQueue(worker.queueName);
    const bad = await queue.add('image-op', { sessionId: 'NOT VALID', runId: 'x', op: 'list' });
    const enqueued = { jobId: bad.id!, runId: 'x', room: 'run:x', hostId: 'wp', queue: worker.queueName, how: 'pinned' as const };
    expect(await waitForOutcome(dispatcher, enqueued, 'image-op', { timeoutMs: 30_000 })).toEqual({ kind: 'internal', errorId: expect.stringMatching(/^E[0-9A-F]{10}$/) });
    // A completed job read as another job name: its value does not match that name's results.
    const listed = await dispatcher.enqueue('container-op', { sessionId: 'qp', runId: 'qp-mismatch', op: 'list' });
    await waitForOutcome(dispatcher, listed, 'container-op', { timeoutMs: 30_000 });
    await expect(readOutcome(dispatcher, listed, 'image-op')).rejects.toThrow();
  });

  it('keeps only the last 20 durations of a job name', async () => {
    for (let i = 0; i < 25; i++) await recordJobDuration(redis, prefix, 'wp', 'build', i);
    expect((await redis.lrange(jobDurationsKey(prefix, 'wp', 'build'), 0, -1)).map(Number)).toEqual([...Array(20).keys()].map((i) => 24 - i));
  });
});
