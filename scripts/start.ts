// What `npm start` runs once setup is done: a private Redis (unless REDIS_URL names one), this
// host's worker (which cleans up after a crashed predecessor and makes sure of the base images
// before it takes jobs) and one app process (Next.js + the socket.io gateway on one port), a
// readiness line saying what runs where, and on SIGINT/SIGTERM an orderly stop: the app first
// (no new jobs from learners), then the worker (its running jobs finish or go back on the queue,
// which needs Redis), then Redis (which writes its AOF). `--dev`: Next's development server.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, REPO_ROOT } from '../worker/src/config.js';
import { quotaFilesystemOf } from '../worker/src/disk/disk-quota.js';
import type { WorkerReady } from '../worker/src/main.js';
import type { AppReady } from '../app/server/main.js';
import { startPrivateRedis, type PrivateRedis } from './redis.js';

const config = loadConfig();
const log = pino({ name: 'start', level: config.logLevel });
const started = performance.now();

let redis: PrivateRedis | null = null;
let worker: ChildProcess | null = null;
let app: ChildProcess | null = null;
let stopping = false;
const dev = process.argv.includes('--dev');

async function stopChild(child: ChildProcess | null, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}

async function stopAll(code: number): Promise<never> {
  stopping = true;
  await stopChild(app, 15_000);
  // The worker's own grace period, plus time to re-queue and disconnect.
  await stopChild(worker, config.shutdownGraceMs + 15_000);
  await redis?.stop();
  log.info({ code }, 'stopped');
  process.exit(code);
}

function startApp(redisUrl: string): Promise<{ child: ChildProcess; ready: AppReady }> {
  const child = fork(join(REPO_ROOT, 'app/server/main.ts'), dev ? ['--dev'] : [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, REDIS_URL: redisUrl, NODE_ENV: dev ? 'development' : 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  // Known from its fork, not its readiness: a Ctrl-C during the start stops it too (its own
  // group does not hear the terminal's signal).
  app = child;
  return new Promise((resolve, reject) => {
    child.once('message', (m: AppReady) => resolve({ child, ready: m }));
    child.once('exit', (code, signal) => reject(new Error(`the app exited (${signal ?? code}) before it was ready`)));
  });
}

/** The worker's terminal endpoint, which browsers reach directly: the port after the app's unless set. */
function terminalPort(): string {
  if (process.env.TERMINAL_PORT) return process.env.TERMINAL_PORT;
  const appPort = Number(process.env.PORT || 3000);
  return String(appPort === 0 ? 0 : appPort + 1);
}

function startWorker(redisUrl: string): Promise<{ child: ChildProcess; ready: WorkerReady }> {
  const child = fork(join(REPO_ROOT, 'worker/src/main.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, REDIS_URL: redisUrl, TERMINAL_PORT: terminalPort() },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Its own process group: Ctrl-C reaches only this process, which stops the worker in order.
    detached: true,
  });
  worker = child; // as the app's: stopped by a Ctrl-C that comes before it is ready
  return new Promise((resolve, reject) => {
    child.once('message', (m: WorkerReady) => resolve({ child, ready: m }));
    child.once('exit', (code, signal) => reject(new Error(`the worker exited (${signal ?? code}) before it was ready`)));
  });
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void (stopping || stopAll(0)));
  process.on('SIGTERM', () => void (stopping || stopAll(0)));

  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    redis = await startPrivateRedis({ dir: config.redisDir });
    redisUrl = redis.url;
    log.info({ step: 'redis', url: redisUrl, pid: redis.pid, ms: Math.round(performance.now() - started) }, 'private redis-server running');
  }

  // Both at once: the worker's start (base images) and Next's are the slow parts.
  const workerStarting = startWorker(redisUrl);
  const appStarting = startApp(redisUrl);
  const [w, a] = await Promise.allSettled([workerStarting, appStarting]);
  if (stopping) return; // a Ctrl-C came during the start: stopAll has them
  if (w.status === 'rejected') throw w.reason;
  if (a.status === 'rejected') throw a.reason;
  const ready = w.value.ready;
  const appReady = a.value.ready;
  for (const [name, child] of [['worker', worker], ['app', app]] as const) {
    child!.on('exit', (code, signal) => {
      if (stopping) return;
      log.error({ code, signal }, `the ${name} exited`);
      void stopAll(1);
    });
  }

  const quota = await quotaFilesystemOf(config.dataDir);
  const lines = [
    `layercake is ready at ${appReady.url} (${Math.round(performance.now() - started)} ms)`,
    `  app     ${appReady.url}${appReady.dev ? ' (next dev)' : ''}, pid ${appReady.pid}`,
    `  redis   ${redisUrl}${redis ? ` (private, pid ${redis.pid}, AOF in ${config.redisDir})` : ' (REDIS_URL)'}`,
    `  worker  host ${ready.hostId}, queue ${ready.queue}, ${ready.concurrency} jobs at once, pid ${ready.pid}`,
    `  terminals ${ready.terminalPort === null ? 'through the app (the worker\'s terminal endpoint did not start: TERMINAL_PORT in use?)' : process.env.TERMINAL_PUBLIC_URL || `port ${ready.terminalPort} (browsers reach it at the app's host name; TERMINAL_PORT, TERMINAL_PUBLIC_URL)`}`,
    `  data    ${config.dataDir} (${quota ? `${quota.kind} disk quotas` : 'no disk quotas'})`,
    `  stop    Ctrl-C: the app, then the worker (running jobs get ${config.shutdownGraceMs / 1000} s, then go back on the queue), then Redis`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch(async (err: unknown) => {
  log.error({ err }, 'start failed');
  await stopAll(1);
});
