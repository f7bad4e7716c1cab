// Builds, containers and images through the gateway, end to end on real parts: the tests'
// Redis, a real worker host (HostWorker with a real engine and sandboxes), socket.io-client as
// the browser. A learner builds from their files and follows the build's events after any seq;
// another session can reach none of it, by run id, container id, short id or name, or image.
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostKey, hostQueueName, hostsIndexKey } from '../../queue-client/index.js';
import { HostWorker } from '../../worker/src/queue/host-worker.js';
import { testEngine, type TestEngine, closeAndCheck } from '../../worker/src/queue/test-support/engine.js';
import { removeKeysUnder, testClient, testPrefix, testRedisUrl } from '../../worker/src/queue/test-support/redis.js';
import * as files from './features/files.js';
import * as runs from './features/runs.js';
import type { Gateway } from './gateway.js';
import { DEFAULT_RATE_LIMITS } from './rate-limit.js';
import { FOLLOWS_STARTED_RUNS } from '../../protocol/socket/runs.js';
import { browser, gatewayProcess, learner, testGateway, testSecret, type Browser } from './test-support/gateway.js';

const redis = testClient();
const url = testRedisUrl();
const prefix = testPrefix('gwruns');
const secret = testSecret();
let engine: TestEngine;
let worker: HostWorker;
let gateway: Gateway;
const open: Browser[] = [];

async function track<T extends Browser>(b: Promise<T>): Promise<T> {
  const it = await b;
  open.push(it);
  return it;
}

/** Every event of a run until `last` (a type), as a browser following it from `afterSeq`. */
async function follow(b: Browser, runId: string, afterSeq: number, last: string[], timeoutMs = 60_000) {
  const events: any[] = [];
  const done = new Promise<any[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`run ${runId}: no ${last.join('/')} in ${timeoutMs} ms; got ${events.map((e) => e.type)}`)), timeoutMs);
    const listener = (m: any) => {
      if (m.runId !== runId) return;
      events.push(m.event);
      if (last.includes(m.event.type)) {
        clearTimeout(timer);
        b.socket.off('runs:event', listener);
        resolve(events);
      }
    };
    b.socket.on('runs:event', listener);
  });
  expect(await b.request('runs:subscribe', { runId, afterSeq })).toEqual({ ok: true });
  return done;
}

beforeAll(async () => {
  engine = await testEngine('gwruns');
  worker = await HostWorker.start({ redisUrl: url, prefix, hostId: 'gwr', concurrency: 2, heartbeatMs: 500, engine, log: pino({ level: 'silent' }) });
  gateway = await testGateway({ redisUrl: url, prefix, secret, features: [files, runs] });
});

afterAll(async () => {
  for (const b of open) b.close();
  await gateway?.close();
  await worker?.shutdown(5_000);
  await closeAndCheck(engine, redis, prefix);
});

describe('runs through the gateway', () => {
  let a: Browser & { sessionId: string };
  let b: Browser & { sessionId: string };
  let buildRunId: string;
  let imageId: string;
  let containerId: string;

  it('a build of the learner’s files streams its events, then its outcome', async () => {
    a = await track(learner(gateway.url));
    b = await track(learner(gateway.url));
    await a.request('files:list', {}); // the starter Dockerfile
    await a.request('files:write', { path: 'Dockerfile', content: 'FROM busybox\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt > /copy.txt\n' });
    await a.request('files:write', { path: 'hello.txt', content: 'hi from the context\n' });
    const doneP = a.next('runs:done', () => true, 90_000);
    const started = await a.request('runs:build', { tags: ['app'] });
    expect(started).toMatchObject({ ok: true, runId: expect.stringMatching(/^build-/) });
    buildRunId = started.runId;
    const events = await follow(a, buildRunId, -1, ['build.finished', 'build.failed'], 90_000);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events.at(-1)).toMatchObject({ type: 'build.finished', tags: ['app:latest'] });
    expect(events.filter((e) => e.type === 'layer.committed').length).toBeGreaterThanOrEqual(2);
    const done = await doneP;
    expect(done).toMatchObject({ runId: buildRunId, ok: true, result: { imageId: events.at(-1).imageId } });
    imageId = done.result.imageId;

    // A reload resumes after the last seq it rendered: the rest, once, nothing before it.
    const again = await follow(a, buildRunId, 2, ['build.finished']);
    expect(again.map((e) => e.seq)).toEqual(events.slice(3).map((e) => e.seq));
  }, 120_000);

  it('a reload that lands on another app process resumes the run there, after its last seq', async () => {
    const other = await gatewayProcess({ redisUrl: url, prefix, secret });
    try {
      const reloaded = await track(browser(other.url, a.cookie));
      const rest = await follow(reloaded, buildRunId, 4, ['build.finished']);
      expect(rest[0].seq).toBe(5);
      expect(rest.at(-1)).toMatchObject({ type: 'build.finished', imageId });
    } finally {
      await other.stop();
    }
  }, 60_000);

  it('another session cannot follow the run, even knowing its id', async () => {
    expect(await b.request('runs:subscribe', { runId: buildRunId, afterSeq: -1 })).toMatchObject({ ok: false, error: { kind: 'learner', key: 'runs.notFound' } });
    expect(await b.request('runs:subscribe', { runId: 'build-doesnotexist', afterSeq: -1 })).toMatchObject({ ok: false, error: { key: 'runs.notFound' } });
  });

  it('another session sees none of the learner’s images, by tag or id', async () => {
    const mine = await a.request('runs:image', { op: 'list' });
    expect(mine).toMatchObject({ ok: true, result: { op: 'list' } });
    expect(mine.result.images.map((i: any) => i.id)).toContain(imageId);
    const theirs = await b.request('runs:image', { op: 'list' });
    expect(theirs.result.images.map((i: any) => i.id)).not.toContain(imageId);
    for (const image of ['app', 'app:latest', imageId, imageId.slice(7, 19)]) {
      const history = await b.request('runs:image', { op: 'history', image });
      expect(history, image).toMatchObject({ ok: false, error: { kind: 'learner', key: expect.stringMatching(/^image\.notFound|reference\.invalid$/) } });
      const rmi = await b.request('runs:image', { op: 'rmi', image, force: true });
      expect(rmi, image).toMatchObject({ ok: false, error: { kind: 'learner' } });
    }
    // Control: the owner reads its history.
    expect(await a.request('runs:image', { op: 'history', image: 'app' })).toMatchObject({ ok: true, result: { op: 'history', imageId } });
  }, 60_000);

  it('another session cannot list, inspect, stop, diff, read the logs of or remove the learner’s container', async () => {
    const doneP = a.next('runs:done', (m: any) => m.runId.startsWith('run-'), 60_000);
    const started = await a.request('runs:run', { image: 'app', name: 'web', cmd: ['sh', '-c', 'echo started; sleep 300'], tty: false });
    expect(started).toMatchObject({ ok: true, runId: expect.stringMatching(/^run-/) });
    await follow(a, started.runId, -1, ['container.started']);
    const done = await doneP;
    expect(done).toMatchObject({ ok: true, result: { name: 'web', status: 'running' } });
    containerId = done.result.id;
    const shortId = done.result.shortId;

    const listed = await b.request('runs:container', { op: 'list' });
    expect(listed).toMatchObject({ ok: true, result: { op: 'list' } });
    expect(listed.result.containers.map((c: any) => c.id)).not.toContain(containerId);
    for (const container of [containerId, shortId, 'web']) {
      for (const op of ['inspect', 'stop', 'kill', 'pause', 'diff', 'logs', 'stats', 'commit', 'rm']) {
        const reply = await b.request('runs:container', { op, container, ...(op === 'rm' ? { force: true } : {}) });
        expect(reply, `${op} ${container}`).toMatchObject({ ok: false, error: { kind: 'learner', key: 'container.notFound' } });
      }
    }
    // Control: the owner's container still runs, and the owner reaches it by name.
    expect(await a.request('runs:container', { op: 'inspect', container: 'web' })).toMatchObject({ ok: true, result: { container: { id: containerId, status: 'running' } } });
    expect(await a.request('runs:container', { op: 'rm', container: 'web', force: true })).toMatchObject({ ok: true, result: { op: 'rm', removed: containerId } });
  }, 120_000);

  it('bad build input is refused before any job: binary garbage, no Dockerfile, a bad request', async () => {
    const c = await track(learner(gateway.url));
    await c.request('files:write', { path: 'Dockerfile', content: Buffer.from([0xff, 0xfe, 0, 1, 0x80, 0x81]).toString('base64'), encoding: 'base64' });
    expect(await c.request('runs:build', {})).toMatchObject({ ok: false, error: { kind: 'learner', key: 'build.dockerfileNotText', facts: { path: 'Dockerfile' } } });
    expect(await c.request('runs:build', { dockerfilePath: 'nope/Dockerfile' })).toMatchObject({ ok: false, error: { key: 'build.dockerfileMissing' } });
    expect(await c.request('runs:build', { dockerfilePath: '../etc/passwd' })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
    expect(await c.request('runs:run', { image: 'busybox', memoryBytes: 1e15 })).toMatchObject({ ok: false, error: { kind: 'learner', key: 'container.limitOutOfRange' } });
    expect(await c.request('runs:run', { image: 'busybox', sessionId: a.sessionId })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
    expect(await c.request('runs:run', { image: 7 })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
    expect(await c.request('runs:container', { op: 'explode', container: 'x' })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
    expect(await c.request('runs:container', { op: 'stop' })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
    expect(await c.request('runs:subscribe', { runId: '../../x' })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
  });
});

describe('a run followed from its start (FOLLOWS_STARTED_RUNS)', () => {
  /** Every runs:event and runs:done of the socket from its first moment, as app/src/lib/socket.ts keeps them. */
  function keepAll(l: Browser) {
    const kept = { events: [] as any[], done: [] as any[] };
    l.socket.on('runs:event', (m: any) => kept.events.push(m));
    l.socket.on('runs:done', (m: any) => kept.done.push(m));
    return kept;
  }
  const build = async (l: Browser) => {
    await l.request('files:write', { path: 'Dockerfile', content: 'FROM busybox\nRUN echo hi > /hi\n' });
    const started = await l.request('runs:build', { noCache: true });
    expect(started).toMatchObject({ ok: true });
    return started.runId as string;
  };
  const settle = async (ms: number) => sleep(ms);

  it('gets the build’s events from the first without a runs:subscribe; the subscribe after the reply sends nothing twice', async () => {
    const l = await track(learner(gateway.url, { [FOLLOWS_STARTED_RUNS]: true }));
    const kept = keepAll(l);
    const runId = await build(l);
    // As followRun does, right after the reply.
    expect(await l.request('runs:subscribe', { runId, afterSeq: -1 })).toEqual({ ok: true });
    await l.next('runs:done', (m: any) => m.runId === runId, 60_000).catch(() => undefined);
    await settle(1_500);
    const seqs = kept.events.filter((m) => m.runId === runId).map((m) => m.event.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(kept.events.find((m) => m.runId === runId)?.event.type).toBe('build.started');
    expect(kept.events.filter((m) => m.runId === runId).at(-1).event.type).toBe('build.finished');
    expect(kept.done.filter((m) => m.runId === runId)).toEqual([expect.objectContaining({ runId, ok: true })]);
  }, 90_000);

  it('a subscribe that comes after the run ended gets nothing again; a later one from a seq is served as usual', async () => {
    const l = await track(learner(gateway.url, { [FOLLOWS_STARTED_RUNS]: true }));
    const kept = keepAll(l);
    const runId = await build(l);
    await l.next('runs:done', (m: any) => m.runId === runId, 60_000);
    const events = kept.events.filter((m) => m.runId === runId).length;
    expect(events).toBeGreaterThan(2);
    expect(await l.request('runs:subscribe', { runId, afterSeq: -1 })).toEqual({ ok: true });
    await settle(1_500);
    expect(kept.events.filter((m) => m.runId === runId)).toHaveLength(events);
    expect(kept.done.filter((m) => m.runId === runId)).toHaveLength(1);
    // A reload's resume (a new subscribe, as after a reconnect): the rest after its seq, once.
    const again = l.next('runs:done', (m: any) => m.runId === runId, 30_000);
    expect(await l.request('runs:subscribe', { runId, afterSeq: 1 })).toEqual({ ok: true });
    await again;
    expect(kept.events.filter((m) => m.runId === runId).slice(events).map((m) => m.event.seq)).toEqual([...Array(events - 2).keys()].map((i) => i + 2));
  }, 90_000);

  it('control: a client that does not say so gets nothing of the run until it subscribes', async () => {
    const l = await track(learner(gateway.url));
    const kept = keepAll(l);
    const runId = await build(l);
    await settle(4_000);
    expect(kept.events.filter((m) => m.runId === runId)).toEqual([]);
    const done = l.next('runs:done', (m: any) => m.runId === runId, 60_000);
    expect(await l.request('runs:subscribe', { runId, afterSeq: -1 })).toEqual({ ok: true });
    await done;
    const seqs = kept.events.filter((m) => m.runId === runId).map((m) => m.event.seq);
    expect(seqs.length).toBeGreaterThan(2);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  }, 90_000);
});

describe('waiting in line', () => {
  it('a job that waits is told its place and an estimate every second, then no host means a clear message', async () => {
    // A host that is registered but takes no jobs (its slots all busy): jobs wait in its queue.
    const busyPrefix = testPrefix('gwqueue');
    const info = { hostId: 'busy', queue: hostQueueName('busy'), concurrency: 1, active: 1, pid: 1, startedAt: new Date().toISOString() };
    await redis.multi().set(hostKey(busyPrefix, 'busy'), JSON.stringify(info), 'EX', 60).sadd(hostsIndexKey(busyPrefix), 'busy').exec();
    const queued = await testGateway({
      redisUrl: url, prefix: busyPrefix, secret, features: [files, runs],
      rateLimits: { ...DEFAULT_RATE_LIMITS, builds: { burst: 3, perSecond: 0.1 } },
    });
    try {
      const first = await track(learner(queued.url));
      const second = await track(learner(queued.url));
      for (const l of [first, second]) await l.request('files:list', {});
      const one = await first.request('runs:build', {});
      const two = await second.request('runs:build', {});
      const seen: any[] = [];
      second.socket.on('runs:queued', (m: any) => seen.push(m));
      expect(await second.request('runs:subscribe', { runId: two.runId, afterSeq: -1 })).toEqual({ ok: true });
      await sleep(2_500);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.at(-1)).toEqual({ runId: two.runId, position: 2, etaMs: expect.any(Number) });
      expect(seen.at(-1).etaMs).toBeGreaterThan(0);
      const firstSeen = first.next('runs:queued', (m: any) => m.runId === one.runId);
      await first.request('runs:subscribe', { runId: one.runId, afterSeq: -1 });
      expect(await firstSeen).toMatchObject({ position: 1 });

      // Builds past the session's bucket: told how long to wait, in words, and no job is queued.
      expect(await first.request('runs:build', {})).toMatchObject({ ok: true });
      expect(await first.request('runs:build', {})).toMatchObject({ ok: true });
      const limited = await first.request('runs:build', {});
      expect(limited).toEqual({ ok: false, error: { kind: 'learner', key: 'rateLimited.builds', facts: { seconds: expect.any(Number) } } });
      // One token back takes 10 s; some of it refilled while the line was watched above.
      expect(limited.error.facts.seconds).toBeGreaterThanOrEqual(5);
      expect(limited.error.facts.seconds).toBeLessThanOrEqual(10);
      expect(await redis.llen(`${busyPrefix}:${hostQueueName('busy')}:wait`)).toBe(4);

      // The host goes away: a new session's build says the engine is starting, not a stack trace.
      await redis.multi().del(hostKey(busyPrefix, 'busy')).srem(hostsIndexKey(busyPrefix), 'busy').exec();
      const third = await track(learner(queued.url));
      await third.request('files:list', {});
      expect(await third.request('runs:build', {})).toMatchObject({ ok: false, error: { kind: 'learner', key: 'queue.noHost' } });
    } finally {
      await queued.close();
      await removeKeysUnder(redis, busyPrefix);
    }
  }, 60_000);
});
