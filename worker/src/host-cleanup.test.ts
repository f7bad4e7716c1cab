// Crash clean-up, tested by crashing: a real worker process (worker/src/main.ts) is killed with
// SIGKILL in the middle of a build's RUN step, and what it leaves (the step's launcher state,
// scratch dirs, its id-range lock) is really there before cleanupHost and gone after it, while a
// learner's detached container started beside it keeps running untouched.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePaths, REPO_ROOT } from './config.js';
import { cleanupHost } from './host-cleanup.js';
import { ImageStore } from './image-store/index.js';
import type { WorkerReady } from './main.js';
import { JobDispatcher } from '../../queue-client/dispatcher.js';
import { liveHosts } from '../../queue-client/hosts.js';
import { hostQueueName } from '../../queue-client/names.js';
import { readRunEvents } from '../../queue-client/run-events.js';
import { LAUNCHER, leftoversIn } from './queue/test-support/engine.js';
import { keysUnder, removeKeysUnder, testClient, testPrefix, testRedisUrl } from './queue/test-support/redis.js';
import { sandboxNative } from './runtime/container-runtime.js';
import { IdRangeAllocator, type IdRangeLease } from './runtime/id-ranges.js';
import { hardenedSpec, writeBundle } from './runtime/oci-spec.js';

const redis = testClient();
const prefix = testPrefix('crash');
const hostId = `crash-${randomBytes(3).toString('hex')}`;
/** This file's host uid window, apart from the other suites'. */
const ID_BASE = 1_600_000_000;
let dataDir: string;
let dispatcher: JobDispatcher;
let worker: ChildProcess | null = null;
const liveContainer = `learner-${randomBytes(3).toString('hex')}`;
let liveLease: IdRangeLease | null = null;

function startWorkerProcess(): Promise<ChildProcess> {
  const child = fork(join(REPO_ROOT, 'worker/src/main.ts'), [], {
    execArgv: ['--import', 'tsx'], // one process: SIGKILL reaches the worker itself, not a wrapper
    env: {
      ...process.env,
      LAYERCAKE_DATA: dataDir,
      REDIS_URL: testRedisUrl(),
      LAYERCAKE_REDIS_PREFIX: prefix,
      LAYERCAKE_HOST_ID: hostId,
      LAYERCAKE_BASE_IMAGES: 'busybox',
      // No package-archive proxy: it is detached, and would outlive the worker this test SIGKILLs.
      LAYERCAKE_EGRESS: 'off',
      LAYERCAKE_HEARTBEAT_MS: '200',
      LAYERCAKE_ID_RANGE_BASE: String(ID_BASE),
      LAYERCAKE_LOG_LEVEL: process.env.LAYERCAKE_TEST_LOG ?? 'warn',
      // Its terminal endpoint on a free loopback port, not the product's 3001.
      TERMINAL_PORT: '0',
      TERMINAL_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: WorkerReady) => (m.type === 'ready' ? resolve(child) : reject(new Error(JSON.stringify(m)))));
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
  });
}

/** A learner's container under its own detached launcher monitor, as `run -d` makes one. */
async function startDetachedContainer(): Promise<void> {
  const paths = enginePaths(dataDir);
  const store = await ImageStore.open(paths.store);
  const dir = join(paths.containers, liveContainer);
  await mkdir(join(dir, 'rw', 'upper'), { recursive: true });
  await mkdir(join(dir, 'rw', 'work'), { recursive: true });
  await mkdir(join(dir, 'bundle', 'rootfs'), { recursive: true });
  liveLease = new IdRangeAllocator({ dir: paths.idRanges, baseId: ID_BASE }).allocate(liveContainer);
  const spec = hardenedSpec({
    containerId: liveContainer,
    rootfsPath: join(dir, 'bundle', 'rootfs'),
    args: ['sleep', '300'],
    idRange: { hostId: liveLease.hostId },
    layers: await store.layerDirs('busybox'),
    upperDir: join(dir, 'rw'),
  });
  writeBundle(join(dir, 'bundle'), spec);
  const runtime = sandboxNative(LAUNCHER, paths.launcherState);
  await runtime.create({ id: liveContainer, bundleDir: join(dir, 'bundle'), outputFile: join(dir, 'output.log') });
  await runtime.start(liveContainer);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join('/tmp', 'lc-crash-'));
  dispatcher = new JobDispatcher(redis, testRedisUrl(), prefix);
});

afterAll(async () => {
  worker?.kill('SIGKILL');
  const paths = enginePaths(dataDir);
  await sandboxNative(LAUNCHER, paths.launcherState).delete(liveContainer, true);
  if (liveLease) new IdRangeAllocator({ dir: paths.idRanges, baseId: ID_BASE }).release(liveLease);
  const left = await leftoversIn(dataDir, `build-${hostId}`);
  await rm(dataDir, { recursive: true, force: true });
  await dispatcher.close();
  await removeKeysUnder(redis, prefix);
  expect(await keysUnder(redis, prefix)).toEqual([]);
  await redis.quit();
  expect(left.filter((l) => !l.includes(liveContainer))).toEqual([]);
});

describe('crash clean-up', () => {
  it('removes what a worker killed mid-build left, and leaves a live container alone', async () => {
    worker = await startWorkerProcess();
    await startDetachedContainer();

    const queue = dispatcher.hostQueue(hostQueueName(hostId));
    await queue.add('build', { sessionId: 'crash', runId: 'crash-run', dockerfile: 'FROM busybox\nRUN echo started && sleep 60\n', context: [{ path: 'a', content: 'x' }] });
    for (;;) {
      const events = await readRunEvents(redis, prefix, 'crash-run', -1);
      if (events.some((e) => e.type === 'build.log' && (e as { text: string }).text.includes('started'))) break;
      await sleep(50);
    }
    const exited = new Promise((resolve) => worker!.once('exit', resolve));
    worker.kill('SIGKILL');
    await exited;
    worker = null;

    // The dead host stops being offered to new sessions once its heartbeat expires.
    await sleep(800);
    expect((await liveHosts(redis, prefix)).map((h) => h.hostId)).not.toContain(hostId);

    // What the crash left is really there (else this test could not fail).
    const before = await leftoversIn(dataDir, `build-${hostId}`);
    const stepState = before.find((l) => l.startsWith(`launcher state build-${hostId}`));
    expect(stepState, before.join('\n')).toBeDefined();
    expect(before.filter((l) => l.startsWith('scratch dir')).length).toBeGreaterThanOrEqual(1);
    expect(before.filter((l) => l.startsWith('id range lock')).length).toBe(2); // the step's and the live container's

    const report = await cleanupHost({ dataDir, launcher: LAUNCHER });
    expect(report.launcherStates).toEqual([stepState!.slice('launcher state '.length)]);
    expect(report.store.length).toBeGreaterThanOrEqual(1);
    expect(report.idRanges).toHaveLength(1);
    expect(report.idRanges[0]).toContain(`build-${hostId}`);

    const after = await leftoversIn(dataDir, `build-${hostId}`);
    expect(after.filter((l) => !l.includes(liveContainer) && !l.startsWith('id range lock'))).toEqual([]);
    expect(after.filter((l) => l.startsWith('id range lock'))).toHaveLength(1); // the live container's

    // The learner's container is still running, with its cgroup.
    const runtime = sandboxNative(LAUNCHER, enginePaths(dataDir).launcherState);
    expect((await runtime.state(liveContainer))?.status).toBe('running');

    // Nothing more to do the second time.
    expect(await cleanupHost({ dataDir, launcher: LAUNCHER })).toEqual({ launcherStates: [], cgroups: [], mounts: [], store: [], idRanges: [] });
  });

  it('removes an empty cgroup no container owns only once it is old enough', async () => {
    // A real cgroup (the kernel's) under a parent of this test's own, so that a short age limit
    // cannot touch another suite's containers under `layercake`.
    const parent = `layercake-cleanup-${randomBytes(3).toString('hex')}`;
    const dir = join('/sys/fs/cgroup/memory', parent, 'orphan');
    await mkdir(dir, { recursive: true });
    try {
      const options = { dataDir, launcher: LAUNCHER, cgroupParents: [parent] };
      expect((await cleanupHost(options)).cgroups).toEqual([]); // young: maybe a launcher's, starting
      await sleep(300);
      expect((await cleanupHost({ ...options, orphanCgroupAgeMs: 200 })).cgroups).toEqual([dir]);
    } finally {
      await rmdir(dir).catch(() => {});
      await rmdir(join('/sys/fs/cgroup/memory', parent)).catch(() => {});
    }
    expect(existsSync(join('/sys/fs/cgroup/memory', parent))).toBe(false);
  });
});
