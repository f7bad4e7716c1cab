// `run` and `container-op` jobs end to end on a real Redis and real sandboxes: a container
// started by a job outlives it, and its exit still reaches the run's events — also when the
// worker that started it was replaced meanwhile.
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Containers } from '../containers/index.js';
import { CollectedEvents } from '../events.js';
import { JobDispatcher, type Enqueued } from '../../../queue-client/dispatcher.js';
import { waitForOutcome } from '../../../queue-client/outcome.js';
import type { JobName } from '../../../protocol/jobs.js';
import { HostWorker } from './host-worker.js';
import { readRunEvents } from '../../../queue-client/run-events.js';
import { testEngine, type TestEngine, closeAndCheck } from './test-support/engine.js';
import { testClient, testPrefix, testRedisUrl } from './test-support/redis.js';

const redis = testClient();
const url = testRedisUrl();
const prefix = testPrefix('containerjobs');
const silent = pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' });
const dispatcher = new JobDispatcher(redis, url, prefix);
let engine: TestEngine;
let worker: HostWorker;

const start = () => HostWorker.start({ redisUrl: url, prefix, hostId: 'wc', concurrency: 2, heartbeatMs: 500, engine, log: silent });

/** The job's outcome as the gateway reads it: validated with its result schema; internal errors throw. */
async function result<N extends JobName>(name: N, job: Enqueued) {
  const outcome = await waitForOutcome(dispatcher, job, name, { timeoutMs: 60_000 });
  if ('kind' in outcome) throw new Error(`job failed: ${outcome.errorId}`);
  return outcome;
}

async function eventsOf(runId: string, type: string, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = (await readRunEvents(redis, prefix, runId, -1)).filter((e) => e.type === type);
    if (found.length || Date.now() > until) return found;
    await sleep(100);
  }
}

beforeAll(async () => {
  engine = await testEngine('containers');
  worker = await start();
});

afterAll(async () => {
  await worker.shutdown(5_000);
  await dispatcher.close();
  for (const c of await new Containers({ ...engine, session: 'cj' }).list({ all: true })) await new Containers({ ...engine, session: 'cj' }).remove(c.id, { force: true });
  await closeAndCheck(engine, redis, prefix);
});

describe('run and container-op jobs', () => {
  it('a run job starts a container that outlives it; its exit arrives on the run’s events', async () => {
    const job = await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-run1', image: 'busybox', cmd: ['sh', '-c', 'sleep 1; exit 3'], tty: false });
    const out = await result('run', job);
    expect(out).toMatchObject({ ok: true, result: { status: 'running', image: 'busybox' } });
    if (!out.ok) return;
    expect(await eventsOf('cj-run1', 'container.started')).toHaveLength(1);
    const exited = await eventsOf('cj-run1', 'container.exited');
    expect(exited).toEqual([expect.objectContaining({ containerId: out.result.id, exitCode: 3, oomKilled: false })]);
  });

  it('an OOM kill is reported as such on the run’s events', async () => {
    const job = await dispatcher.enqueue('run', {
      sessionId: 'cj', runId: 'cj-oom', image: 'busybox', tty: false, memoryBytes: 16 << 20,
      cmd: ['sh', '-c', 'x=$(head -c 64000000 /dev/zero | tr "\\0" a)'],
    });
    await result('run', job);
    expect(await eventsOf('cj-oom', 'container.exited')).toEqual([expect.objectContaining({ oomKilled: true })]);
  });

  it('container-op: diff, commit, stop and rm through the queue, learner errors as results', async () => {
    const run = await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-run2', name: 'op-target', image: 'busybox', cmd: ['sh', '-c', 'echo hi > /made-here; sleep 60'], tty: false });
    await result('run', run);
    const op = async (runId: string, body: object) => {
      const j = await dispatcher.enqueue('container-op', { sessionId: 'cj', runId, container: 'op-target', ...body });
      return result('container-op', j);
    };
    let diff;
    for (let i = 0; i < 50; i++) {
      diff = await op(`cj-diff-${i}`, { op: 'diff' });
      if (JSON.stringify(diff).includes('/made-here')) break;
      await sleep(100);
    }
    expect(diff).toMatchObject({ ok: true, result: { op: 'diff', truncated: false } });
    expect(diff!.ok && diff!.result.op === 'diff' && diff!.result.changes).toContainEqual({ kind: 'A', path: '/made-here' });
    // The writable layer's size comes with its diff: "hi\n" is 3 bytes.
    expect(diff!.ok && diff!.result.op === 'diff' && diff!.result.sizeBytes).toBe(3);
    const commit = await op('cj-commit', { op: 'commit', commitTag: 'snap:1' });
    expect(commit).toMatchObject({ ok: true, result: { op: 'commit', tag: 'snap:1' } });
    expect(await eventsOf('cj-commit', 'layer.committed')).toHaveLength(1);
    const stopped = await op('cj-stop', { op: 'stop' });
    expect(stopped.ok).toBe(true);
    expect(await op('cj-rm', { op: 'rm' })).toMatchObject({ ok: true });
    expect(await op('cj-rm2', { op: 'rm' })).toMatchObject({ ok: false, error: { key: 'container.notFound' } });
  });

  it('container-op touch counts as activity for the idle reaper; stats (a read) does not', async () => {
    const run = await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-run-touch', name: 'touch-target', image: 'busybox', cmd: ['sleep', '60'], tty: false });
    await result('run', run);
    const op = async (runId: string, body: object) => result('container-op', await dispatcher.enqueue('container-op', { sessionId: 'cj', runId, container: 'touch-target', ...body }));
    const activity = async (runId: string) => {
      const out = await op(runId, { op: 'inspect' });
      if (!out.ok || out.result.op !== 'inspect') throw new Error('inspect failed');
      return Date.parse(out.result.container.lastActivityAt ?? '');
    };
    const started = await activity('cj-touch-i0');
    expect(Number.isFinite(started)).toBe(true);
    await sleep(1100);
    // The control: reading the container's use of the limits is not the learner working.
    await op('cj-touch-stats', { op: 'stats' });
    expect(await activity('cj-touch-i1')).toBe(started);
    const touched = await op('cj-touch', { op: 'touch' });
    expect(touched).toMatchObject({ ok: true, result: { op: 'touch' } });
    const after = await activity('cj-touch-i2');
    expect(after).toBeGreaterThanOrEqual(started + 1000);
    expect(touched.ok && touched.result.op === 'touch' && Date.parse(touched.result.lastActivityAt ?? '')).toBe(after);
    await op('cj-touch-rm', { op: 'rm', force: true });
  });

  it('each event is told once: run, stop, rm and wait (a read) through the queue', async () => {
    const counts = async (runId: string) => {
      const n: Record<string, number> = {};
      for (const e of await readRunEvents(redis, prefix, runId, -1)) n[e.type] = (n[e.type] ?? 0) + 1;
      return n;
    };
    const run = await result('run', await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-n-run', name: 'counted', image: 'busybox', cmd: ['sleep', '60'], tty: false }));
    if (!run.ok) throw new Error(run.error.key);
    const op = async (runId: string, body: object) => result('container-op', await dispatcher.enqueue('container-op', { sessionId: 'cj', runId, container: 'counted', ...body }));
    expect(await op('cj-n-stop', { op: 'stop', graceMs: 0 })).toMatchObject({ ok: true, result: { op: 'stop', exit: { exitCode: 137, signal: 'KILL' } } });
    await eventsOf('cj-n-run', 'container.exited');
    // Reads after the exit: wait (twice) and inspect tell nothing.
    const waiter = new CollectedEvents('cj-n-wait');
    const c = new Containers({ ...engine, session: 'cj', events: waiter });
    expect(await c.wait('counted')).toMatchObject({ exitCode: 137 });
    expect(await c.wait('counted')).toMatchObject({ exitCode: 137 });
    expect(await op('cj-n-inspect', { op: 'inspect' })).toMatchObject({ ok: true, result: { container: { status: 'exited' } } });
    expect(await op('cj-n-rm', { op: 'rm' })).toMatchObject({ ok: true, result: { op: 'rm', removed: run.result.id } });
    await sleep(500); // anything late (a second exit from the watch) would be here by now
    expect(await counts('cj-n-run')).toEqual({ 'container.created': 1, 'container.started': 1, 'container.exited': 1 });
    expect(await counts('cj-n-stop')).toEqual({ 'container.exited': 1 });
    expect(await counts('cj-n-inspect')).toEqual({});
    expect(await counts('cj-n-rm')).toEqual({ 'container.removed': 1 });
    expect(waiter.events).toEqual([]);

    // --rm: the run's stream tells the exit, then the removal, each once.
    await result('run', await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-n-rmrun', image: 'busybox', cmd: ['sh', '-c', 'exit 2'], tty: false, removeOnExit: true }));
    await eventsOf('cj-n-rmrun', 'container.removed');
    await sleep(500);
    const told = (await readRunEvents(redis, prefix, 'cj-n-rmrun', -1)).map((e) => e.type);
    expect(told).toEqual(['container.created', 'container.started', 'container.exited', 'container.removed']);
    expect(await eventsOf('cj-n-rmrun', 'container.exited')).toEqual([expect.objectContaining({ exitCode: 2 })]);
  });

  it('container-op results, one shape per op: logs, stats, pause, unpause, kill (of a --rm container too)', async () => {
    const run = await result('run', await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-o-run', name: 'shapes', image: 'busybox', cmd: ['sh', '-c', 'echo out; echo err >&2; sleep 60'], tty: false }));
    if (!run.ok) throw new Error(run.error.key);
    const op = async (runId: string, body: object, container = 'shapes') => result('container-op', await dispatcher.enqueue('container-op', { sessionId: 'cj', runId, container, ...body }));
    let logs = await op('cj-o-logs', { op: 'logs' });
    for (let i = 0; i < 50 && !(logs.ok && logs.result.op === 'logs' && logs.result.text.includes('err')); i++) logs = await op(`cj-o-logs${i}`, { op: 'logs' });
    expect(logs).toMatchObject({ ok: true, result: { op: 'logs', containerId: run.result.id, truncated: false } });
    expect(logs.ok && logs.result.op === 'logs' && logs.result.text.split('\n').sort()).toEqual(['', 'err', 'out']);
    expect(await op('cj-o-stats', { op: 'stats' })).toMatchObject({ ok: true, result: { op: 'stats', stats: { running: true, pids: expect.any(Number) } } });
    expect(await op('cj-o-pause', { op: 'pause' })).toMatchObject({ ok: true, result: { op: 'pause', container: { status: 'paused' } } });
    expect(await op('cj-o-unpause', { op: 'unpause' })).toMatchObject({ ok: true, result: { op: 'unpause', container: { status: 'running' } } });
    expect(await op('cj-o-kill', { op: 'kill' })).toMatchObject({ ok: true, result: { op: 'kill', container: { status: 'exited', exitCode: 137 } } });
    expect(await op('cj-o-rm', { op: 'rm' })).toMatchObject({ ok: true });
    const gone = await result('run', await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-o-rmrun', image: 'busybox', cmd: ['sleep', '60'], tty: false, removeOnExit: true }));
    if (!gone.ok) throw new Error(gone.error.key);
    expect(await op('cj-o-killrm', { op: 'kill' }, gone.result.id)).toEqual({ ok: true, result: { op: 'kill', containerId: gone.result.id, container: null } });
  });

  it('a worker that replaced the one that started a container still reports its exit', async () => {
    const job = await dispatcher.enqueue('run', { sessionId: 'cj', runId: 'cj-run3', image: 'busybox', cmd: ['sh', '-c', 'sleep 2; exit 7'], tty: false });
    await result('run', job);
    await worker.shutdown(5_000);
    worker = await start(); // a new worker process would resume the same way
    expect(await eventsOf('cj-run3', 'container.exited')).toEqual([expect.objectContaining({ exitCode: 7 })]);
  });
});
