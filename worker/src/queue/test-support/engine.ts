// A real engine for queue tests: its own data dir in /tmp, the real launcher, busybox built into
// its store, and a leftovers check (scratch dirs, launcher states, cgroups, id ranges, mounts).
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { ensureBaseImage } from '../../base-images/index.js';
import { enginePaths, REPO_ROOT } from '../../config.js';
import { openEngine, type Engine } from '../engine.js';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { keysUnder, removeKeysUnder } from './redis.js';

export const LAUNCHER = join(REPO_ROOT, 'sandbox-native/build/sandbox-native');
/** Queue tests' host uid window: apart from the product's (200000…) and the builder tests'. */
export const QUEUE_TEST_ID_BASE = 1_700_000_000;

export interface TestEngine extends Engine {
  /** Containers of this engine are named `<buildIdPrefix>-…`: its cgroups are recognisable. */
  buildIdPrefix: string;
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export async function testEngine(label: string, dataDir?: string): Promise<TestEngine> {
  const dir = dataDir ?? (await mkdtemp(join('/tmp', `lc-queue-${label}-`)));
  const buildIdPrefix = `qt${randomBytes(3).toString('hex')}`;
  const engine = await openEngine({
    dataDir: dir,
    launcher: LAUNCHER,
    log: pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' }),
    idRangeBase: QUEUE_TEST_ID_BASE,
    buildIdPrefix,
  });
  await ensureBaseImage(engine.store, 'busybox');
  return {
    ...engine,
    buildIdPrefix,
    leftovers: () => leftoversIn(dir, buildIdPrefix),
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What a build or a crash may leave behind in an engine's data dir and on the host. */
export async function leftoversIn(dataDir: string, containerPrefix: string): Promise<string[]> {
  const paths = enginePaths(dataDir);
  const found: string[] = [];
  for (const name of await readdir(join(paths.store, 'tmp')).catch(() => [] as string[])) found.push(`scratch dir ${name}`);
  for (const name of await readdir(paths.launcherState).catch(() => [] as string[])) if (!name.startsWith('.')) found.push(`launcher state ${name}`);
  for (const name of await readdir(paths.idRanges).catch(() => [] as string[])) found.push(`id range lock ${name}`);
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const parent = join('/sys/fs/cgroup', hierarchy, 'layercake');
    if (!existsSync(parent)) continue;
    for (const name of readdirSync(parent)) if (name.startsWith(containerPrefix)) found.push(`cgroup ${hierarchy}/layercake/${name}`);
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint?.startsWith(`${dataDir}/`)) found.push(`mount ${mountPoint}`);
  }
  return found;
}

/** A queue test's last step: the engine left nothing behind and the test's Redis keys are gone. */
export async function closeAndCheck(engine: TestEngine, redis: Redis, prefix: string): Promise<void> {
  const leftovers = await engine.leftovers();
  await engine.close();
  await removeKeysUnder(redis, prefix);
  expect(await keysUnder(redis, prefix)).toEqual([]);
  await redis.quit();
  expect(leftovers).toEqual([]);
}
