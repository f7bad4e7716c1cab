// vitest globalSetup: one real redis-server for the whole run, started exactly as `npm start`
// starts the product's (scripts/redis.ts: Debian's redis-server, AOF on, unix socket only), in a
// temp dir. Test files reach it through inject('redisUrl') and keep to their own key prefix.
// Afterwards the server is stopped and the run fails if it did not go away.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { processAlive } from '../../image-store/paths.js';
import { startPrivateRedis } from '../../../../scripts/redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'lc-redis-'));
  const redis = await startPrivateRedis({ dir });
  project.provide('redisUrl', redis.url);
  // The server has its own process group (scripts/redis.ts), so it would outlive this run if
  // another globalSetup's teardown threw before ours ran: stop it when the runner exits anyway.
  const stopOnExit = () => {
    if (processAlive(redis.pid)) process.kill(redis.pid, 'SIGTERM');
  };
  process.once('exit', stopOnExit);
  return async () => {
    process.off('exit', stopOnExit);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
    if (processAlive(redis.pid)) throw new Error(`the tests' redis-server (pid ${redis.pid}) is still running`);
  };
}
