// Click-to-build-start when idle: from the browser's `runs:build` (the learner's files read from
// Redis, the job enqueued) through `runs:subscribe` to the first `runs:event` on the browser's
// socket (socket.io-client), for a build of `FROM busybox`. The peer, in the same run on the same
// Redis and worker: the gateway's own path without the gateway (JobDispatcher.enqueue → first
// event by a blocking read), so the ratio is what the socket hop, the session, validation, rate
// limit and the workspace cost. Target (issue 12): p50 ≤ 50 ms.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { io as connect } from 'socket.io-client';
import { connectRedis, JobDispatcher, readRunEvents } from '../queue-client/index.js';
import { ensureBaseImage } from '../worker/src/base-images/index.js';
import { REPO_ROOT } from '../worker/src/config.js';
import { openEngine } from '../worker/src/queue/engine.js';
import { HostWorker } from '../worker/src/queue/host-worker.js';
import { startGateway } from '../app/server/gateway.js';
import * as files from '../app/server/features/files.js';
import * as runs from '../app/server/features/runs.js';
import { DEFAULT_RATE_LIMITS } from '../app/server/rate-limit.js';
import { startPrivateRedis } from '../scripts/redis.js';

const N = 40;
const work = mkdtempSync(join(tmpdir(), 'lc-bench-build-start-'));
const redisServer = await startPrivateRedis({ dir: join(work, 'redis'), appendOnly: false });
const redis = connectRedis(redisServer.url);
const reader = redis.duplicate();
const log = pino({ level: 'silent' });
const prefix = 'bench';
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

try {
  const engine = await openEngine({ dataDir: join(work, 'engine'), launcher: join(REPO_ROOT, 'sandbox-native/build/sandbox-native'), log, idRangeBase: 1_560_000_000 });
  await ensureBaseImage(engine.store, 'busybox');
  const worker = await HostWorker.start({ redisUrl: redisServer.url, prefix, hostId: 'bench', concurrency: 1, heartbeatMs: 5000, engine, log });
  // No rate limit in the way of 40 builds in a row: the bench measures the path, not the policy.
  const unlimited = { burst: 1e6, perSecond: 1e6 };
  const gateway = await startGateway({
    redisUrl: redisServer.url, prefix, secret: Buffer.from('b'.repeat(64)), log, port: 0, host: '127.0.0.1',
    features: [files, runs], rateLimits: { ...DEFAULT_RATE_LIMITS, builds: unlimited },
  });
  const cookie = (await fetch(`${gateway.url}/api/session`)).headers.get('set-cookie')!.split(';')[0]!;
  const socket = connect(gateway.url, { transports: ['websocket'], extraHeaders: { cookie } });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  await socket.emitWithAck('files:write', { path: 'Dockerfile', content: 'FROM busybox\n' });

  const viaGateway: number[] = [];
  const acked: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const { runId } = await socket.emitWithAck('runs:build', {});
    acked.push(performance.now() - t0);
    const first = new Promise<void>((resolve) => {
      const listener = (m: { runId: string }) => {
        if (m.runId !== runId) return;
        socket.off('runs:event', listener);
        resolve();
      };
      socket.on('runs:event', listener);
    });
    await socket.emitWithAck('runs:subscribe', { runId, afterSeq: -1 });
    await first;
    viaGateway.push(performance.now() - t0);
    await new Promise<void>((resolve) => {
      const done = (m: { runId: string }) => m.runId === runId && (socket.off('runs:done', done), resolve());
      socket.on('runs:done', done);
    });
    await socket.emitWithAck('runs:unsubscribe', { runId });
  }

  const dispatcher = new JobDispatcher(redis, redisServer.url, prefix);
  const direct: number[] = [];
  for (let i = 0; i < N; i++) {
    const runId = `direct-${i}`;
    const t0 = performance.now();
    await dispatcher.enqueue('build', { sessionId: 'benchdirect', runId, dockerfile: 'FROM busybox\n' });
    while ((await readRunEvents(reader, prefix, runId, -1, { blockMs: 5000, count: 1 })).length === 0);
    direct.push(performance.now() - t0);
    while ((await readRunEvents(reader, prefix, runId, -1, { count: 100 })).every((e) => e.type !== 'build.finished')) await new Promise((r) => setTimeout(r, 5));
  }

  socket.close();
  await gateway.close();
  await dispatcher.close();
  await worker.shutdown(5000);
  console.log(`  (runs:build acked p50 ${pct(acked, 0.5).toFixed(1)})`);
  console.log(`click-to-build-start when idle, ${N} builds of FROM busybox (ms):`);
  console.log(`  direct  enqueue → first event (blocking read)        p50 ${pct(direct, 0.5).toFixed(1)}  p99 ${pct(direct, 0.99).toFixed(1)}`);
  console.log(`  browser runs:build → subscribe → first runs:event   p50 ${pct(viaGateway, 0.5).toFixed(1)}  p99 ${pct(viaGateway, 0.99).toFixed(1)}  (${(pct(viaGateway, 0.5) / pct(direct, 0.5)).toFixed(2)}× direct; target p50 ≤ 50)`);
} finally {
  await reader.quit();
  await redis.quit();
  await redisServer.stop();
  rmSync(work, { recursive: true, force: true });
}
