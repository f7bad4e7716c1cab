// The whole product for the e2e suite, started once per run with data of its own: a private
// redis-server (scripts/redis.ts, in a temp dir), two worker hosts (worker/src/main.ts, each
// with its own engine data dir, host id and uid window) and two app processes
// (app/server/main.ts: Next's production build and the gateway, on random ports), all on one
// Redis under a key prefix of the run's own, as `npm start` + `npm run worker` + `npm run app`
// would run them. In front of the first app a TCP relay that a spec can cut (a dropped
// connection), and one in front of each worker host's terminal endpoint, cut with it (browsers
// reach those directly; `cuttableTerminals: false` for the latency bench, with nothing between).
// stop() ends every process it started, removes the containers the specs left, and
// fails if anything is left behind. startWorkerHost() is one such worker host on its own, for a
// spec that needs a host with other settings (time-limit.spec.ts: a short container time limit).
import { fork, execFile, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startPrivateRedis, type PrivateRedis } from '../../scripts/redis.js';
import { cleanupHost } from '../../worker/src/host-cleanup.js';
import { startCuttableRelay, type CuttableRelay } from './cuttable-relay.js';

const execFileP = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const LAUNCHER = join(ROOT, 'sandbox-native/build/sandbox-native');
export const LOG_DIR = join(ROOT, 'e2e/artifacts/logs');
/** Host uid windows of the suite's two engines: apart from the product's (200000…) and the vitest suites'. */
const ID_RANGE_BASES = [2_400_000_000, 2_700_000_000];
/** The uid window of a spec's own worker host (startWorkerHost), between the two. */
export const SPEC_HOST_ID_RANGE_BASE = 2_550_000_000;

export interface Product {
  /** The app processes' URLs (http://localhost:<port>). */
  apps: string[];
  /** The first app through a relay whose connections can be cut. */
  relayUrl: string;
  relayControlUrl: string;
  redisUrl: string;
  prefix: string;
  hostIds: string[];
  stop(): Promise<void>;
}

interface Child {
  name: string;
  process: ChildProcess;
}

function forkReady<T>(name: string, entry: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ child: Child; ready: T }> {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = createWriteStream(join(LOG_DIR, `${name}.log`));
  const child = fork(join(ROOT, entry), args, {
    execArgv: ['--import', 'tsx'],
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in 240 s (see ${LOG_DIR}/${name}.log)`)), 240_000);
    child.once('message', (m: T) => {
      clearTimeout(timer);
      resolve({ child: { name, process: child }, ready: m });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}) before it was ready: see ${LOG_DIR}/${name}.log`));
    });
  });
}

async function stopChild({ process: child }: Child, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}

async function launcher(stateRoot: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP(LAUNCHER, ['--root', stateRoot, ...args]);
  return stdout;
}

/** Containers outlive their worker (detached monitors): the suite's are killed and deleted here. */
async function removeContainers(dataDir: string): Promise<void> {
  const stateRoot = join(dataDir, 'state');
  if (!existsSync(stateRoot)) return;
  const ids = (await launcher(stateRoot, 'list').catch(() => '')).split('\n').filter(Boolean);
  await Promise.all(ids.map((id) => launcher(stateRoot, 'delete', '--force', id).catch(() => '')));
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(`${dir}/`));
}

export interface WorkerHost {
  hostId: string;
  dataDir: string;
  child: Child;
}

/**
 * One worker host (worker/src/main.ts) on `redisUrl` under `prefix`, with its own engine data dir
 * under `scratch`, as `npm run worker` starts one; `env` adds or overrides its settings.
 */
export async function startWorkerHost(o: {
  name: string;
  hostId: string;
  scratch: string;
  redisUrl: string;
  prefix: string;
  idRangeBase: number;
  env?: NodeJS.ProcessEnv;
}): Promise<WorkerHost> {
  const dataDir = join(o.scratch, `engine-${o.hostId}`);
  mkdirSync(dataDir, { recursive: true });
  const { child } = await forkReady(o.name, 'worker/src/main.ts', {
    REDIS_URL: o.redisUrl,
    LAYERCAKE_REDIS_PREFIX: o.prefix,
    LAYERCAKE_LOG_LEVEL: process.env.LAYERCAKE_E2E_LOG ?? 'info',
    LAYERCAKE_DATA: dataDir,
    LAYERCAKE_HOST_ID: o.hostId,
    LAYERCAKE_ID_RANGE_BASE: String(o.idRangeBase),
    LAYERCAKE_BASE_IMAGES: 'busybox',
    LAYERCAKE_CONCURRENCY: '2',
    LAYERCAKE_SHUTDOWN_GRACE_MS: '3000',
    // Its terminal endpoint on a free port of loopback (never the product's default 3001).
    TERMINAL_PORT: '0',
    TERMINAL_HOST: '127.0.0.1',
    ...o.env,
  });
  return { hostId: o.hostId, dataDir, child };
}

/**
 * Stops the hosts (workers get 20 s), then deletes the containers they left (those outlive their
 * worker by design) and runs the engine's host clean-up; returns what was still left behind.
 */
export async function stopWorkerHosts(hosts: WorkerHost[]): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(hosts.map((h) => stopChild(h.child, 20_000)));
  for (const { dataDir } of hosts) {
    await removeContainers(dataDir);
    await cleanupHost({ dataDir, launcher: LAUNCHER });
    const left = (await launcher(join(dataDir, 'state'), 'list').catch(() => '')).split('\n').filter(Boolean);
    if (left.length) problems.push(`containers still in ${dataDir}: ${left.join(', ')}`);
    const mounts = mountsUnder(dataDir);
    if (mounts.length) problems.push(`mounts left under ${dataDir}: ${mounts.join(', ')}`);
  }
  for (const { child } of hosts) if (child.process.exitCode === null && child.process.signalCode === null) problems.push(`${child.name} (pid ${child.process.pid}) still running`);
  return problems;
}

/** A port nothing listens on right now (for a process that must be told its port up front). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startProduct(options: { apps?: number; workers?: number; cuttableTerminals?: boolean } = {}): Promise<Product> {
  const appCount = options.apps ?? 2;
  const workerCount = options.workers ?? 2;
  const run = randomBytes(3).toString('hex');
  const prefix = `e2e-${run}`;
  const scratch = mkdtempSync(`/tmp/lc-e2e-${run}-`);
  const children: Child[] = [];
  const hosts: WorkerHost[] = [];
  let redis: PrivateRedis | null = null;
  let relay: CuttableRelay | null = null;
  const terminalRelays: CuttableRelay[] = [];

  const stop = async () => {
    await relay?.close();
    for (const r of terminalRelays) await r.close();
    // The order of scripts/start.ts: apps (no new jobs), then workers (which need Redis), then Redis.
    for (const c of children) await stopChild(c, 15_000);
    const problems = await stopWorkerHosts(hosts);
    await redis?.stop();
    for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) problems.push(`${c.name} (pid ${c.process.pid}) still running`);
    if (problems.length === 0) rmSync(scratch, { recursive: true, force: true });
    if (problems.length) throw new Error(`the e2e product left things behind:\n  ${problems.join('\n  ')}`);
  };

  try {
    // The production build, made again only when the app's sources changed (a hash check when
    // not): a build older than the sources had the specs judge yesterday's page.
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/build-app.ts')], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    redis = await startPrivateRedis({ dir: join(scratch, 'redis'), appendOnly: false });
    const common = { REDIS_URL: redis.url, LAYERCAKE_REDIS_PREFIX: prefix, LAYERCAKE_LOG_LEVEL: process.env.LAYERCAKE_E2E_LOG ?? 'info' };

    // Each worker host's terminal endpoint, as the browser reaches it: through a relay that /cut cuts.
    const terminalEnv: NodeJS.ProcessEnv[] = [];
    for (let i = 0; i < workerCount; i++) {
      if (options.cuttableTerminals === false) {
        terminalEnv.push({});
        continue;
      }
      const port = await freePort();
      const cuttable = await startCuttableRelay(port);
      terminalRelays.push(cuttable);
      terminalEnv.push({ TERMINAL_PORT: String(port), TERMINAL_PUBLIC_URL: cuttable.url });
    }
    const workers = Array.from({ length: workerCount }, (_, i) =>
      startWorkerHost({
        env: terminalEnv[i]!,
        name: `worker-${i}`,
        hostId: `e2e-${run}-${String.fromCharCode(97 + i)}`,
        scratch,
        redisUrl: redis!.url,
        prefix,
        idRangeBase: ID_RANGE_BASES[i % ID_RANGE_BASES.length]! + Math.floor(i / 2) * 100_000_000,
      }),
    );
    // One secret for every app process, as several hosts share LAYERCAKE_APP_SECRET.
    const secret = randomBytes(32).toString('hex');
    const apps = Array.from({ length: appCount }, (_, i) =>
      forkReady<{ url: string; port: number }>(`app-${i}`, 'app/server/main.ts', {
        ...common,
        PORT: '0',
        HOST: '127.0.0.1',
        NODE_ENV: 'production',
        LAYERCAKE_APP_SECRET: secret,
        LAYERCAKE_APP_SECRET_FILE: join(scratch, 'app-secret'),
      }),
    );
    const [workersSettled, appsSettled] = await Promise.all([Promise.allSettled(workers), Promise.allSettled(apps)]);
    for (const s of workersSettled) if (s.status === 'fulfilled') hosts.push(s.value);
    for (const s of appsSettled) if (s.status === 'fulfilled') children.push(s.value.child);
    const failed = [...workersSettled, ...appsSettled].find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const appUrls = appsSettled.map((s) => (s as PromiseFulfilledResult<{ ready: { port: number } }>).value.ready.port).map((port) => `http://localhost:${port}`);
    relay = await startCuttableRelay(Number(new URL(appUrls[0]!).port), terminalRelays);
    return { apps: appUrls, relayUrl: relay.url, relayControlUrl: relay.controlUrl, redisUrl: redis.url, prefix, hostIds: hosts.map((h) => h.hostId), stop };
  } catch (err) {
    await stop().catch((e: unknown) => console.error(e));
    throw err;
  }
}
