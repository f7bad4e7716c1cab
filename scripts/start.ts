// What `npm start` runs once setup is done: a private Redis (unless REDIS_URL names one) and this
// host's worker (which cleans up after a crashed predecessor and makes sure of the base images
// before it takes jobs), a readiness line saying what runs where, and on SIGINT/SIGTERM an
// orderly stop: the worker first (its running jobs finish or go back on the queue, which needs
// Redis), then Redis (which writes its AOF). The web app joins here in a later issue.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, REPO_ROOT } from '../worker/src/config.js';
import { quotaFilesystemOf } from '../worker/src/disk-quota.js';
import type { WorkerReady } from '../worker/src/main.js';
import { startPrivateRedis, type PrivateRedis } from './redis.js';

const config = loadConfig();
const log = pino({ name: 'start', level: config.logLevel });
const started = performance.now();

let redis: PrivateRedis | null = null;
let worker: ChildProcess | null = null;
let stopping = false;

async function stopAll(code: number): Promise<never> {
  stopping = true;
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    const exited = new Promise((resolve) => worker!.once('exit', resolve));
    worker.kill('SIGTERM');
    // The worker's own grace period, plus time to re-queue and disconnect.
    const killer = setTimeout(() => worker?.kill('SIGKILL'), config.shutdownGraceMs + 15_000);
    await exited;
    clearTimeout(killer);
  }
  await redis?.stop();
  log.info({ code }, 'stopped');
  process.exit(code);
}

function startWorker(redisUrl: string): Promise<{ child: ChildProcess; ready: WorkerReady }> {
  const child = fork(join(REPO_ROOT, 'worker/src/main.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, REDIS_URL: redisUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Its own process group: Ctrl-C reaches only this process, which stops the worker in order.
    detached: true,
  });
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

  const { child, ready } = await startWorker(redisUrl);
  worker = child;
  child.on('exit', (code, signal) => {
    if (stopping) return;
    log.error({ code, signal }, 'the worker exited');
    void stopAll(1);
  });

  const quota = await quotaFilesystemOf(config.dataDir);
  const lines = [
    `layercake is ready (${Math.round(performance.now() - started)} ms)`,
    `  redis   ${redisUrl}${redis ? ` (private, pid ${redis.pid}, AOF in ${config.redisDir})` : ' (REDIS_URL)'}`,
    `  worker  host ${ready.hostId}, queue ${ready.queue}, ${ready.concurrency} jobs at once, pid ${ready.pid}`,
    `  data    ${config.dataDir} (${quota ? `${quota.kind} disk quotas` : 'no disk quotas'})`,
    `  stop    Ctrl-C (running jobs get ${config.shutdownGraceMs / 1000} s, then go back on the queue)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch(async (err: unknown) => {
  log.error({ err }, 'start failed');
  await stopAll(1);
});
