// Where a learner's job stands in its host's queue, and about how long until it starts: what the
// site shows instead of "out of capacity". The estimate plays the host's queue forward: each of
// its `concurrency` slots frees when its running job is expected to end, and each job ahead takes
// the next free slot for its job name's recent average duration (recorded by the worker as each
// job ends, jobDurationsKey); this job starts when a slot frees after them.
import type { Redis } from 'ioredis';
import { jobSchemas, type JobName } from '../protocol/jobs.js';
import type { Enqueued, JobDispatcher } from './dispatcher.js';
import { liveHosts } from './hosts.js';
import { jobDurationsKey } from './names.js';

export interface QueuePosition {
  /** 1 = the next to start; 0 = not waiting (running or finished). */
  position: number;
  /** Estimated time until it starts. */
  etaMs: number;
}

/** How many recent durations the average is over (the worker keeps this many). */
export const DURATIONS_KEPT = 20;

/** Until a host has run a job of the name: a guess on the slow side. */
const FIRST_GUESS_MS: Record<JobName, number> = { build: 15_000, run: 3_000, 'container-op': 1_000, 'image-op': 1_000, vm: 30_000, pull: 10_000, compare: 60_000 };

/** Jobs ahead looked at one by one; beyond them each counts as the average of those. */
const AHEAD_LOOKED_AT = 200;

/** The average of the last DURATIONS_KEPT durations of each job name on the host. */
async function averages(redis: Redis, prefix: string, hostId: string): Promise<Record<JobName, number>> {
  const names = Object.keys(jobSchemas) as JobName[];
  const multi = redis.multi();
  for (const name of names) multi.lrange(jobDurationsKey(prefix, hostId, name), 0, DURATIONS_KEPT - 1);
  const replies = (await multi.exec()) ?? [];
  const out = { ...FIRST_GUESS_MS };
  names.forEach((name, i) => {
    const ms = ((replies[i]?.[1] as string[] | undefined) ?? []).map(Number).filter((n) => Number.isFinite(n) && n >= 0);
    if (ms.length > 0) out[name] = ms.reduce((a, b) => a + b, 0) / ms.length;
  });
  return out;
}

export async function queuePosition(dispatcher: JobDispatcher, enqueued: Pick<Enqueued, 'queue' | 'hostId' | 'jobId'>): Promise<QueuePosition> {
  const redis = dispatcher.client;
  const prefix = dispatcher.keyPrefix;
  const queue = dispatcher.hostQueue(enqueued.queue);
  // BullMQ adds a job at the left of the wait list and a worker takes from the right: the jobs
  // ahead are those right of this one. One LPOS, and only the ids of the next few read.
  const waitKey = queue.toKey('wait');
  const [index, length] = await Promise.all([redis.lpos(waitKey, enqueued.jobId), redis.llen(waitKey)]);
  if (index === null) return { position: 0, etaMs: 0 };
  const aheadCount = length - index - 1;
  const looked = aheadCount > 0 ? (await redis.lrange(waitKey, -Math.min(aheadCount, AHEAD_LOOKED_AT), -1)).reverse() : [];
  const active = await queue.getRanges(['active'], 0, -1);
  const [avg, hosts] = await Promise.all([averages(redis, prefix, enqueued.hostId), liveHosts(redis, prefix)]);
  const concurrency = Math.max(1, hosts.find((h) => h.hostId === enqueued.hostId)?.concurrency ?? 1);

  // The job hashes' name and start time only (a build's data holds its whole context).
  const multi = redis.multi();
  for (const id of [...active, ...looked]) multi.hmget(queue.toKey(id), 'name', 'processedOn');
  const fields = ((await multi.exec()) ?? []).map(([, v]) => (v ?? [null, null]) as [string | null, string | null]);
  const expected = (name: string | null) => avg[(name ?? '') as JobName] ?? FIRST_GUESS_MS.build;
  const now = Date.now();

  // Each slot's time until free: running jobs' expected remainder, idle slots now.
  const slots = fields.slice(0, active.length).map(([name, processedOn]) => Math.max(0, expected(name) - (processedOn ? now - Number(processedOn) : 0)));
  while (slots.length < concurrency) slots.push(0);
  const durations = fields.slice(active.length).map(([name]) => expected(name));
  const rest = aheadCount - looked.length;
  const mean = durations.length > 0 ? durations.reduce((a, b) => a + b, 0) / durations.length : 0;
  for (let i = 0; i < rest; i++) durations.push(mean);
  for (const d of durations) {
    slots.sort((a, b) => a - b);
    slots[0]! += d;
  }
  return { position: aheadCount + 1, etaMs: Math.round(Math.min(...slots)) };
}
