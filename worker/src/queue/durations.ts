// How long this host's jobs took, per job name: the last few, newest first, for the gateway's
// queue position estimate (queue-client/queue-position.ts reads them).
import type { Redis } from 'ioredis';
import { jobDurationsKey } from '../../../queue-client/names.js';
import { DURATIONS_KEPT } from '../../../queue-client/queue-position.js';

/** A host that stopped running a job name forgets its durations after a week. */
const KEPT_MS = 7 * 24 * 3600 * 1000;

export async function recordJobDuration(redis: Redis, prefix: string, hostId: string, jobName: string, ms: number): Promise<void> {
  const key = jobDurationsKey(prefix, hostId, jobName);
  await redis.multi().lpush(key, String(Math.round(ms))).ltrim(key, 0, DURATIONS_KEPT - 1).pexpire(key, KEPT_MS).exec();
}
