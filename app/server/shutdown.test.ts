// An app told to stop while its Redis is gone: it stops at once. Before, the gateway's clients
// queued their QUIT for a reconnect that never came, and the app exited only at its 10 s kill
// timer, with status 1 (main.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startPrivateRedis } from '../../scripts/redis.js';
import { testPrefix } from '../../worker/src/queue/test-support/redis.js';
import { learner, testGateway, testSecret } from './test-support/gateway.js';

it('a gateway whose Redis went away closes at once, its port with it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-shutdown-'));
  const server = await startPrivateRedis({ dir, appendOnly: false });
  try {
    const gateway = await testGateway({ redisUrl: server.url, prefix: testPrefix('shutdown'), secret: testSecret() });
    // A learner's page is connected (its socket is one the close must end).
    const page = await learner(gateway.url);
    await server.stop();
    const started = Date.now();
    const closed = await Promise.race([gateway.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5000))]);
    expect(closed, 'close() did not resolve within 5 s').toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    page.close();
    await expect(fetch(gateway.url)).rejects.toThrow();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
