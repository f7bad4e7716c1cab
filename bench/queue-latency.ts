// Queue latency: from the gateway's enqueue (validate, pick the session's host, add to its queue)
// to the run's first event readable in Redis, and to the job's result, for a build that does
// nothing but resolve FROM busybox. The peer is a bare BullMQ job on the same Redis in the same
// run (add → processor start), so the ratio is what Layercake's routing and event stream cost.
import { Queue, Worker } from 'bullmq';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ensureBaseImage } from '../worker/src/base-images/index.js';
import { REPO_ROOT } from '../worker/src/config.js';
import { bullmqConnection, connectRedis } from '../queue-client/connection.js';
import { JobDispatcher } from '../queue-client/dispatcher.js';
import { openEngine } from '../worker/src/queue/engine.js';
import { HostWorker } from '../worker/src/queue/host-worker.js';
import { waitForOutcome } from '../queue-client/outcome.js';
import { readRunEvents } from '../queue-client/run-events.js';
import { startPrivateRedis } from '../scripts/redis.js';

const N = 40;
const work = mkdtempSync(join(tmpdir(), 'lc-bench-queue-'));
const redisServer = await startPrivateRedis({ dir: join(work, 'redis') });
const redis = connectRedis(redisServer.url);
const reader = redis.duplicate();
const log = pino({ level: 'silent' });
const prefix = 'bench';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  // Peer: plain BullMQ, processor does nothing.
  const bare = new Queue('bare', { connection: bullmqConnection(redisServer.url), prefix });
  let resolveStart: (() => void) | null = null;
  const bareWorker = new Worker('bare', async () => resolveStart?.(), { connection: bullmqConnection(redisServer.url), prefix });
  await bareWorker.waitUntilReady();
  const bareMs: number[] = [];
  for (let i = 0; i < N; i++) {
    const started = new Promise<void>((r) => (resolveStart = r));
    const t0 = performance.now();
    await bare.add('noop', { i });
    await started;
    bareMs.push(performance.now() - t0);
  }
  await bareWorker.close();
  await bare.close();

  // Layercake: dispatcher → host queue → worker → build handler → first event in the run stream.
  const engine = await openEngine({ dataDir: join(work, 'engine'), launcher: join(REPO_ROOT, 'sandbox-native/build/sandbox-native'), log, idRangeBase: 1_550_000_000 });
  await ensureBaseImage(engine.store, 'busybox');
  const worker = await HostWorker.start({ redisUrl: redisServer.url, prefix, hostId: 'bench', concurrency: 1, heartbeatMs: 5000, engine, log });
  const dispatcher = new JobDispatcher(redis, redisServer.url, prefix);
  const firstEventMs: number[] = [];
  const resultMs: number[] = [];
  for (let i = 0; i < N; i++) {
    const runId = `bench-${i}`;
    const t0 = performance.now();
    const job = await dispatcher.enqueue('build', { sessionId: 'bench', runId, dockerfile: 'FROM busybox\n' });
    while ((await readRunEvents(reader, prefix, runId, -1, { blockMs: 5000, count: 1 })).length === 0);
    firstEventMs.push(performance.now() - t0);
    // As the gateway reads it: woken by BullMQ's completion event, validated with the result schema.
    await waitForOutcome(dispatcher, job, 'build', { timeoutMs: 30_000 });
    resultMs.push(performance.now() - t0);
  }
  await worker.shutdown(5000);
  await dispatcher.close();

  const bareMedian = median(bareMs);
  console.log(`queue latency, median of ${N} (ms):`);
  console.log(`  bare BullMQ add → processor start      ${bareMedian.toFixed(2)}`);
  console.log(`  layercake enqueue → first run event    ${median(firstEventMs).toFixed(2)}  (${(median(firstEventMs) / bareMedian).toFixed(1)}× bare)`);
  console.log(`  layercake enqueue → outcome read (FROM only, waitForOutcome) ${median(resultMs).toFixed(2)}  (${(median(resultMs) / bareMedian).toFixed(1)}× bare)`);
} finally {
  await reader.quit();
  await redis.quit();
  await redisServer.stop();
  rmSync(work, { recursive: true, force: true });
}
