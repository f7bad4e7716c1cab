// Reading a queued job back: where it is (waiting, with its place in line and a wait estimate;
// running; ended) and, once ended, its outcome, validated with the job's result schema by
// queue-client's readOutcome/waitForOutcome (a result that does not match throws: it reaches the
// learner as an internal error id, never as data).
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { LearnerError, type ErrorPayload } from '../../protocol/errors.js';
import type { JobName } from '../../protocol/jobs.js';
import type { JobResult } from '../../protocol/results.js';
import { OutcomeTimeoutError, readOutcome, waitForOutcome, type Enqueued, type FinishedJob, type JobDispatcher } from '../../queue-client/index.js';

/** Which job on which host queue (what the gateway records of a run at enqueue). */
export interface JobRef {
  jobId: string;
  queue: string;
}

export type Outcome<N extends JobName> = { ok: true; result: JobResult<N> } | { ok: false; error: ErrorPayload };

export type JobPlace =
  | { state: 'waiting'; position: number; etaMs: number }
  | { state: 'active' }
  | { state: 'ended' }
  | { state: 'gone' };

/** Without history, a job is guessed to take this long. */
const DEFAULT_JOB_MS = 3_000;
/** How long a queue's typical job time is reused before it is measured again. */
const TYPICAL_TTL_MS = 10_000;
const typicalByQueue = new Map<string, { ms: number; at: number }>();

/** Mean time of the queue's last 20 completed jobs, per worker slot. */
async function typicalJobMs(queue: Queue): Promise<number> {
  const cached = typicalByQueue.get(queue.qualifiedName);
  if (cached && Date.now() - cached.at < TYPICAL_TTL_MS) return cached.ms;
  const done = await queue.getJobs(['completed'], 0, 19, false);
  const durations = done.map((j) => (j.finishedOn ?? 0) - (j.processedOn ?? 0)).filter((ms) => ms > 0);
  const mean = durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : DEFAULT_JOB_MS;
  const workers = Math.max(1, (await queue.getWorkersCount().catch(() => 1)) || 1);
  const ms = mean / workers;
  typicalByQueue.set(queue.qualifiedName, { ms, at: Date.now() });
  return ms;
}

/**
 * Where the job is now. Position 1 is next in line. BullMQ adds a job at the left of the
 * queue's wait list (LPUSH) and a worker takes from the right (RPOPLPUSH), so the place is the
 * count from the right end, one LPOS, however long the line. The wait: the jobs up to and
 * including this one times a typical job's time.
 */
export async function jobPlace(queue: Queue, redis: Redis, jobId: string): Promise<JobPlace> {
  const state = await queue.getJobState(jobId);
  if (state === 'completed' || state === 'failed') return { state: 'ended' };
  if (state === 'active') return { state: 'active' };
  if (state === 'unknown') return { state: 'gone' };
  const waitKey = queue.toKey('wait');
  const [index, length] = await Promise.all([redis.lpos(waitKey, jobId), redis.llen(waitKey)]);
  // Delayed or prioritized jobs are not in the list: they count as next (this gateway adds neither).
  const position = index === null ? 1 : length - index;
  return { state: 'waiting', position, etaMs: Math.round(position * (await typicalJobMs(queue))) };
}

/** A finished job as the browser is told it: its result, or the error (learner or internal) to show. */
function toOutcome<N extends JobName>(finished: FinishedJob<N>): Outcome<N> {
  if ('kind' in finished) return { ok: false, error: finished };
  return finished.ok ? { ok: true, result: finished.result } : { ok: false, error: finished.error };
}

/** The outcome of an ended job (null while it has not ended); a result that does not match its schema throws. */
export async function jobOutcome<N extends JobName>(dispatcher: JobDispatcher, job: JobRef, name: N): Promise<Outcome<N> | null> {
  const finished = await readOutcome(dispatcher, job as Enqueued, name);
  return finished ? toOutcome(finished) : null;
}

/** Waits for a short job (a container or image operation) to end. */
export async function awaitOutcome<N extends JobName>(dispatcher: JobDispatcher, job: Enqueued, name: N, timeoutMs: number): Promise<Outcome<N>> {
  try {
    return toOutcome(await waitForOutcome(dispatcher, job, name, { timeoutMs }));
  } catch (err) {
    if (err instanceof OutcomeTimeoutError) throw new LearnerError('runs.timeout', { seconds: Math.round(timeoutMs / 1000) });
    throw err;
  }
}
