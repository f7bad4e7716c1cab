// Reading a queued job back: where it is (waiting, with its place in line and a wait estimate;
// running; ended) and, once ended, its outcome, validated with the job's result schema by
// queue-client's readOutcome/waitForOutcome (a result that does not match throws: it reaches the
// learner as an internal error id, never as data).
import type { Queue } from 'bullmq';
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

/** Where the job is now. Position 1 is next in line; the wait is the jobs ahead times a typical job's time. */
export async function jobPlace(queue: Queue, jobId: string): Promise<JobPlace> {
  const state = await queue.getJobState(jobId);
  if (state === 'completed' || state === 'failed') return { state: 'ended' };
  if (state === 'active') return { state: 'active' };
  if (state === 'unknown') return { state: 'gone' };
  const job = await queue.getJob(jobId);
  if (!job) return { state: 'gone' };
  const waiting = await queue.getJobs(['waiting', 'prioritized', 'delayed'], 0, 999, true);
  const ahead = waiting.filter((j) => j.id !== jobId && (j.timestamp < job.timestamp || (j.timestamp === job.timestamp && Number(j.id) < Number(jobId)))).length;
  const done = await queue.getJobs(['completed'], 0, 19, false);
  const durations = done.map((j) => (j.finishedOn ?? 0) - (j.processedOn ?? 0)).filter((ms) => ms > 0);
  const typical = durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : DEFAULT_JOB_MS;
  const workers = Math.max(1, (await queue.getWorkersCount().catch(() => 1)) || 1);
  return { state: 'waiting', position: ahead + 1, etaMs: Math.round(((ahead + 1) * typical) / workers) };
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
