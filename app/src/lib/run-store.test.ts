import { describe, expect, it } from 'vitest';
import { engineEvent, type EngineEvent, type EventBody } from '../../../protocol/events';
import {
  emptyRun,
  emptySession,
  foldEvents,
  idleDeadline,
  idleWarningMs,
  imagesInUse,
  limitDeadline,
  LOG_CHUNKS_KEPT,
  resumeAfter,
  runReducer,
  sessionReducer,
  stepDurationMs,
  stepForLine,
  type RunState,
} from './run-store';

const RUN = 'run-1';
const T0 = Date.parse('2026-12-01T09:00:00.000Z');
const digest = (c: string) => `sha256:${c.repeat(64)}`;

/** A stream of events as the worker writes them: seq from 0, times a second apart. Each is
 * parsed with the protocol's schema, so the fixtures cannot drift from what the engine sends. */
function stream(bodies: EventBody[], runId = RUN, firstSeq = 0): EngineEvent[] {
  return bodies.map((body, i) =>
    engineEvent.parse({ ...body, runId, seq: firstSeq + i, at: new Date(T0 + (firstSeq + i) * 1000).toISOString() }),
  );
}

const firstBuild: EventBody[] = [
  { type: 'build.started', tags: ['app:latest'] },
  { type: 'build.step', step: 1, total: 3, stage: '0', instruction: 'FROM busybox', line: 1 },
  { type: 'build.step', step: 2, total: 3, stage: '0', instruction: 'RUN echo hi > /hi', line: 2 },
  { type: 'build.cache', step: 2, cacheHit: false, reason: { key: 'cache.miss.firstTime', facts: {} } },
  { type: 'build.log', step: 2, stream: 'stdout', text: 'working\n' },
  { type: 'layer.committed', step: 2, chainId: digest('a'), diffId: digest('b'), sizeBytes: 4096, added: 1, changed: 0, deleted: 0 },
  { type: 'build.step', step: 3, total: 3, stage: '0', instruction: 'CMD ["sh"]', line: 3 },
  { type: 'build.cache', step: 3, cacheHit: false, reason: { key: 'cache.miss.firstTime', facts: {} } },
  { type: 'build.finished', imageId: digest('c'), tags: ['app:latest'], cachedSteps: 0, totalSteps: 3, durationMs: 8000 },
];

describe('a run folds its events into a layer stack', () => {
  it('shows each step with its line, cache decision, layer facts and duration', () => {
    const s = foldEvents(emptyRun(RUN), stream(firstBuild));
    const build = s.build!;
    expect(build.status).toBe('finished');
    expect(build.imageId).toBe(digest('c'));
    expect(build.steps.map((x) => [x.step, x.line, x.isFrom, x.status])).toEqual([
      [1, 1, true, 'done'],
      [2, 2, false, 'done'],
      [3, 3, false, 'done'],
    ]);
    const run = build.steps[1]!;
    expect(run.cacheHit).toBe(false);
    expect(run.reason?.key).toBe('cache.miss.firstTime');
    expect(run.layer).toMatchObject({ sizeBytes: 4096, added: 1, changed: 0, deleted: 0 });
    // step 2 started at seq 2 and committed at seq 5: three seconds.
    expect(stepDurationMs(run)).toBe(3000);
    // CMD makes no layer; it ends when the build does.
    expect(build.steps[2]!.layer).toBeUndefined();
    expect(stepDurationMs(build.steps[2]!)).toBe(2000);
    expect(build.log.map((l) => l.text)).toEqual(['working\n']);
    expect(resumeAfter(s)).toBe(firstBuild.length - 1);
  });

  it('marks a cached step done at its cache hit, and takes its layer from the build result', () => {
    const s0 = foldEvents(
      emptyRun(RUN),
      stream([
        { type: 'build.started', tags: [] },
        { type: 'build.step', step: 1, total: 2, stage: '0', instruction: 'FROM busybox', line: 1 },
        { type: 'build.step', step: 2, total: 2, stage: '0', instruction: 'RUN echo hi > /hi', line: 2 },
        { type: 'build.cache', step: 2, cacheHit: true, reason: { key: 'cache.hit', facts: {} } },
      ]),
    );
    const step = s0.build!.steps[1]!;
    expect([step.status, step.cacheHit, step.layer]).toEqual(['done', true, undefined]);
    expect(stepDurationMs(step)).toBe(1000);
    const layer = { chainId: digest('a'), diffId: digest('b'), sizeBytes: 4096, added: 1, changed: 0, deleted: 0 };
    const s1 = runReducer(s0, { type: 'buildResult', steps: [{ step: 1, cacheHit: null }, { step: 2, cacheHit: true, layer }] });
    expect(s1.build!.steps[1]!.layer).toEqual(layer);
    expect(s1.build!.steps[0]!.layer).toBeUndefined();
  });

  it('keeps a learner error with its line and marks the failed step', () => {
    const s = foldEvents(
      emptyRun(RUN),
      stream([
        { type: 'build.started', tags: [] },
        { type: 'build.step', step: 1, total: 2, stage: '0', instruction: 'FROM busybox', line: 1 },
        { type: 'build.step', step: 2, total: 2, stage: '0', instruction: 'RUN false', line: 4 },
        { type: 'build.cache', step: 2, cacheHit: false, reason: { key: 'cache.miss.firstTime', facts: {} } },
        {
          type: 'build.failed',
          step: 2,
          error: { kind: 'learner', key: 'build.runFailed', facts: { exitCode: 1, command: 'false' }, line: 4 },
        },
      ]),
    );
    expect(s.build!.status).toBe('failed');
    expect(s.build!.failedStep).toBe(2);
    expect(s.build!.error).toMatchObject({ kind: 'learner', key: 'build.runFailed', line: 4 });
    expect(s.build!.steps.map((x) => x.status)).toEqual(['done', 'failed']);
    expect(stepForLine(s.build, 4)?.step).toBe(2);
    expect(stepForLine(s.build, 3)).toBeNull();
  });

  it('counts the steps from build.planned, which comes after the build started', () => {
    const started = foldEvents(emptyRun(RUN), stream([{ type: 'build.started', tags: ['app:latest'] }]));
    expect(started.build).toMatchObject({ status: 'running', totalSteps: 0, tags: ['app:latest'], steps: [] });
    const planned = foldEvents(started, stream([{ type: 'build.planned', steps: 4, stages: 2 }], RUN, 1));
    expect(planned.build).toMatchObject({ status: 'running', totalSteps: 4, stages: 2 });
  });

  it('shows a Dockerfile error found after the start at its line, with no step failed', () => {
    const s = foldEvents(
      emptyRun(RUN),
      stream([
        { type: 'build.started', tags: [] },
        { type: 'build.failed', error: { kind: 'learner', key: 'build.unknownInstruction', facts: { instruction: 'FORM' }, line: 1, column: 1 } },
      ]),
    );
    expect(s.build).toMatchObject({ status: 'failed', steps: [], error: { kind: 'learner', key: 'build.unknownInstruction', line: 1 } });
    expect(s.build!.failedStep).toBeUndefined();
  });
});

describe('seq: every event once, in order', () => {
  const events = stream(firstBuild);
  const once = foldEvents(emptyRun(RUN), events);

  it('drops an event it has already applied', () => {
    const twice = foldEvents(once, events);
    expect(twice).toBe(once);
    const replayedLog = foldEvents(emptyRun(RUN), [...events.slice(0, 5), events[4]!, ...events.slice(4)]);
    expect(replayedLog.build!.log).toHaveLength(1);
    expect(replayedLog).toEqual(once);
  });

  it('holds an event that arrives ahead of a gap until the gap fills', () => {
    const early = foldEvents(emptyRun(RUN), [events[0]!, events[1]!, events[3]!]);
    expect(early.lastSeq).toBe(1);
    expect(early.pending.map((e) => e.seq)).toEqual([3]);
    expect(early.build!.steps).toHaveLength(1);
    const filled = foldEvents(early, [events[2]!]);
    expect(filled.lastSeq).toBe(3);
    expect(filled.pending).toEqual([]);
    expect(filled.build!.steps[1]!.cacheHit).toBe(false);
  });

  it('gives the same state whatever order the events come in', () => {
    const shuffled = [5, 0, 8, 2, 1, 7, 3, 6, 4].map((i) => events[i]!);
    expect(foldEvents(emptyRun(RUN), shuffled)).toEqual(once);
  });

  it('applies what waits behind a gap the stream really has, once the replay is complete', () => {
    const gapped = foldEvents(emptyRun(RUN), [events[0]!, events[1]!, events[3]!, events[4]!]);
    expect(gapped.lastSeq).toBe(1);
    const settled = runReducer(gapped, { type: 'settle' });
    expect(settled.lastSeq).toBe(4);
    expect(settled.pending).toEqual([]);
    expect(settled.build!.log).toHaveLength(1);
  });

  it('resumes after seq N: a reconnect replaying from there ends where one pass ends', () => {
    const before = foldEvents(emptyRun(RUN), events.slice(0, 4));
    const n = resumeAfter(before);
    expect(n).toBe(3);
    // The server sends everything after N; a relay may repeat the last few it sent before.
    const replay = events.filter((e) => e.seq > n - 2);
    expect(foldEvents(before, replay)).toEqual(once);
  });

  it('ignores another run\'s events', () => {
    const other = stream(firstBuild, 'run-2');
    expect(foldEvents(emptyRun(RUN), other)).toEqual(emptyRun(RUN));
  });

  it('keeps only the newest log chunks, so a chatty build cannot grow the tab without bound', () => {
    const logs: EventBody[] = Array.from({ length: LOG_CHUNKS_KEPT + 10 }, (_, i) => ({ type: 'build.log', step: 1, stream: 'stdout', text: `${i}\n` }));
    const s = foldEvents(emptyRun(RUN), stream([{ type: 'build.started', tags: [] }, ...logs]));
    expect(s.build!.log).toHaveLength(LOG_CHUNKS_KEPT);
    expect(s.build!.log.at(-1)!.text).toBe(`${LOG_CHUNKS_KEPT + 9}\n`);
  });
});

describe('the queue position', () => {
  it('shows while queued and clears at the first event; a late position does not come back', () => {
    let s: RunState = runReducer(emptyRun(RUN), { type: 'queued', position: 3, etaMs: 9000 });
    expect(s.queue).toEqual({ position: 3, etaMs: 9000 });
    s = runReducer(s, { type: 'queued', position: 2, etaMs: 6000 });
    expect(s.queue).toEqual({ position: 2, etaMs: 6000 });
    s = foldEvents(s, stream(firstBuild.slice(0, 1)));
    expect(s.queue).toBeNull();
    s = runReducer(s, { type: 'queued', position: 1, etaMs: 3000 });
    expect(s.queue).toBeNull();
  });
});

const limits = { memoryBytes: 64 * 1024 * 1024, pidsMax: 64, cpus: 1, idleTimeoutMs: 600_000 };
const C1 = 'c1'.padEnd(64, '0');
const containerRun: EventBody[] = [
  { type: 'container.created', containerId: C1, name: 'brave_turing', image: 'app:latest' },
  { type: 'container.started', containerId: C1, image: 'app:latest', limits },
  { type: 'container.diff', containerId: C1, changes: [{ kind: 'A', path: '/x' }], truncated: false },
  { type: 'container.stats', containerId: C1, memoryBytes: 60 * 1024 * 1024, memoryLimitBytes: 64 * 1024 * 1024, pids: 3, pidsLimit: 64, cpuUsageNanos: 5e8, cpuPercent: 97.5 },
  { type: 'container.exited', containerId: C1, exitCode: 137, oomKilled: true, timedOut: false, signal: 'SIGKILL' },
];

describe('a container run', () => {
  it('shows limits, the diff, use against the limits, and an OOM kill', () => {
    const s = foldEvents(emptyRun(RUN), stream(containerRun));
    const c = s.containers[C1]!;
    expect(c).toMatchObject({ name: 'brave_turing', image: 'app:latest', status: 'exited', limits });
    expect(c.diff!.changes).toEqual([{ kind: 'A', path: '/x' }]);
    expect(c.stats).toMatchObject({ memoryBytes: 60 * 1024 * 1024, pids: 3, cpuPercent: 97.5 });
    expect(c.exit).toEqual({ exitCode: 137, oomKilled: true, timedOut: false, signal: 'SIGKILL' });
  });

  it('clears the last exit when the container starts again, and records a commit of its layer', () => {
    const s = foldEvents(
      emptyRun(RUN),
      stream([
        ...containerRun,
        { type: 'container.started', containerId: C1, image: 'app:latest', limits },
        { type: 'layer.committed', containerId: C1, chainId: digest('d'), diffId: digest('e'), sizeBytes: 10, added: 1, changed: 0, deleted: 0 },
      ]),
    );
    expect(s.containers[C1]!.status).toBe('running');
    expect(s.containers[C1]!.exit).toBeUndefined();
    expect(s.containers[C1]!.committed?.diffId).toBe(digest('e'));
    expect(s.build).toBeNull();
  });
});

describe('the session: containers, images, idle time', () => {
  const events = stream(containerRun.slice(0, 2));

  it('learns a started container\'s idle timeout and warns before the reaper acts', () => {
    const s = events.reduce((acc, event) => sessionReducer(acc, { type: 'event', event }), emptySession());
    const started = Date.parse(events[1]!.at);
    expect(idleDeadline(s)).toEqual({ containerId: C1, atMs: started + limits.idleTimeoutMs });
    expect(idleWarningMs(limits.idleTimeoutMs)).toBe(120_000);
    expect(idleWarningMs(20_000)).toBe(5_000);
    // "Keep working" touched it a minute later: the deadline moves with it.
    const touched = sessionReducer(s, { type: 'touched', containerId: C1, atMs: started + 60_000 });
    expect(idleDeadline(touched)!.atMs).toBe(started + 60_000 + limits.idleTimeoutMs);
    // A stopped container is never reaped for idleness.
    const exited = sessionReducer(touched, { type: 'event', event: stream(containerRun.slice(4), RUN, 4)[0]! });
    expect(exited.containers[C1]!.status).toBe('exited');
    expect(idleDeadline(exited)).toBeNull();
  });

  it('learns a start\'s time limit, which activity does not move; none without one', () => {
    expect(limitDeadline(events.reduce((acc, event) => sessionReducer(acc, { type: 'event', event }), emptySession()))).toBeNull();
    const limited = stream([containerRun[0]!, { type: 'container.started', containerId: C1, image: 'app:latest', limits: { ...limits, timeLimitMs: 300_000 } }]);
    const s = limited.reduce((acc, event) => sessionReducer(acc, { type: 'event', event }), emptySession());
    const started = Date.parse(limited[1]!.at);
    expect(limitDeadline(s)).toEqual({ containerId: C1, atMs: started + 300_000 });
    const touched = sessionReducer(s, { type: 'touched', containerId: C1, atMs: started + 60_000 });
    expect(limitDeadline(touched)!.atMs).toBe(started + 300_000);
    // The limit comes before the idle stop here (5 min against 10).
    expect(limitDeadline(touched)!.atMs).toBeLessThan(idleDeadline(touched)!.atMs);
  });

  it('takes the list as the truth about which containers exist, keeping which run reports each', () => {
    let s = sessionReducer(emptySession(), { type: 'containerRun', containerId: C1, runId: RUN });
    s = sessionReducer(s, { type: 'event', event: events[1]! });
    s = sessionReducer(s, {
      type: 'containersListed',
      containers: [{ id: C1, name: 'brave_turing', image: 'app:latest', imageId: digest('c'), status: 'running', lastActivityAt: events[1]!.at }],
    });
    expect(s.containers[C1]).toMatchObject({ runId: RUN, idleTimeoutMs: limits.idleTimeoutMs, imageId: digest('c') });
    expect(s.stale.containers).toBe(false);
    expect(imagesInUse(s)).toEqual(new Set([digest('c')]));
    s = sessionReducer(s, { type: 'containersListed', containers: [] });
    expect(s.containers).toEqual({});
  });

  it('marks the images list stale after a build, a commit and a removal', () => {
    let s = sessionReducer(emptySession(), { type: 'imagesListed', images: [] });
    expect(s.stale.images).toBe(false);
    const finished = stream(firstBuild).at(-1)!;
    expect(sessionReducer(s, { type: 'event', event: finished }).stale.images).toBe(true);
    const commit = stream([{ type: 'layer.committed', containerId: C1, chainId: digest('d'), diffId: digest('e'), sizeBytes: 1, added: 1, changed: 0, deleted: 0 }])[0]!;
    expect(sessionReducer(s, { type: 'event', event: commit }).stale.images).toBe(true);
    // The commit froze the container while it copied: its status is read again afterwards.
    expect(sessionReducer({ ...s, stale: { images: false, containers: false } }, { type: 'event', event: commit }).stale.containers).toBe(true);
    const buildLayer = stream(firstBuild).find((e) => e.type === 'layer.committed')!;
    expect(sessionReducer(s, { type: 'event', event: buildLayer }).stale.images).toBe(false);
    s = sessionReducer(s, { type: 'event', event: events[0]! });
    expect(Object.keys(s.containers)).toEqual([C1]);
    // A started container counts against its image ("containers using it").
    const started = stream([{ type: 'container.started', containerId: C1, image: 'app:latest', limits }])[0]!;
    expect(sessionReducer({ ...s, stale: { images: false, containers: false } }, { type: 'event', event: started }).stale.images).toBe(true);
    s = sessionReducer(s, { type: 'event', event: stream([{ type: 'container.removed', containerId: C1 }])[0]! });
    expect(s.containers).toEqual({});
    expect(s.stale.images).toBe(true);
  });

  it('shares one layer selection (the gutter and the layer stack)', () => {
    const s = sessionReducer(emptySession(), { type: 'select', selection: { runId: RUN, step: 2 } });
    expect(s.selection).toEqual({ runId: RUN, step: 2 });
    expect(sessionReducer(s, { type: 'select', selection: null }).selection).toBeNull();
  });
});

describe('live readings of a container', () => {
  it('keeps the newer of a polled diff and an event, whichever arrives last', () => {
    const [diffEvent] = stream([{ type: 'container.diff', containerId: C1, changes: [{ kind: 'A', path: '/new' }], truncated: false }], RUN, 10);
    const older = { changes: [{ kind: 'A' as const, path: '/old' }], truncated: false, at: new Date(T0).toISOString() };
    let s = sessionReducer(emptySession(), { type: 'event', event: diffEvent! });
    s = sessionReducer(s, { type: 'diffRead', containerId: C1, diff: older });
    expect(s.live[C1]!.diff!.changes[0]!.path).toBe('/new');
    const newer = { ...older, changes: [{ kind: 'D' as const, path: '/new' }], at: new Date(T0 + 60_000).toISOString() };
    s = sessionReducer(s, { type: 'diffRead', containerId: C1, diff: newer });
    expect(s.live[C1]!.diff!.changes[0]).toEqual({ kind: 'D', path: '/new' });
  });

  it('keeps the writable layer\'s size from the last polled diff when a newer event has none', () => {
    const polled = { changes: [{ kind: 'A' as const, path: '/x' }], truncated: false, sizeBytes: 3, at: new Date(T0).toISOString() };
    let s = sessionReducer(emptySession(), { type: 'diffRead', containerId: C1, diff: polled });
    const [later] = stream([{ type: 'container.diff', containerId: C1, changes: [{ kind: 'A', path: '/x' }, { kind: 'A', path: '/y' }], truncated: false }], RUN, 10);
    s = sessionReducer(s, { type: 'event', event: { ...later!, at: new Date(T0 + 1000).toISOString() } });
    expect(s.live[C1]!.diff).toMatchObject({ sizeBytes: 3 });
    expect(s.live[C1]!.diff!.changes).toHaveLength(2);
    s = sessionReducer(s, { type: 'diffRead', containerId: C1, diff: { ...polled, sizeBytes: 4099, at: new Date(T0 + 2000).toISOString() } });
    expect(s.live[C1]!.diff!.sizeBytes).toBe(4099);
  });

  it('records how the job ended, so a container that could not start says why', () => {
    const error = { kind: 'learner' as const, key: 'container.commandNotFound', facts: { command: 'nope' } };
    const s = runReducer(runReducer(emptyRun(RUN), { type: 'queued', position: 1, etaMs: 0 }), { type: 'done', ok: false, error });
    expect(s.outcome).toEqual({ ok: false, error });
    expect(s.queue).toBeNull();
  });
});
