// Reading a queued job back: where it is (waiting, with its place in line and a wait estimate;
// running; ended) and, once ended, its outcome, validated with the job's result schema by
// queue-client's readOutcome/waitForOutcome (a result that does not match throws: it reaches the
// learner as an internal error id, never as data).
import { LearnerError, type ErrorPayload } from '../../protocol/errors.js';
import type { JobName } from '../../protocol/jobs.js';
import type { JobResult } from '../../protocol/results.js';
import { OutcomeTimeoutError, queuePosition, readOutcome, waitForOutcome, type Enqueued, type FinishedJob, type JobDispatcher } from '../../queue-client/index.js';

/** Which job on which host queue (what the gateway records of a run at enqueue). */
export interface JobRef {
  jobId: string;
  queue: string;
  hostId: string;
}

export type Outcome<N extends JobName> = { ok: true; result: JobResult<N> } | { ok: false; error: ErrorPayload };

export type JobPlace =
  | { state: 'waiting'; position: number; etaMs: number }
  | { state: 'active' }
  | { state: 'ended' }
  | { state: 'gone' };

/** Where the job is now; while it waits, queue-client's place in line and its estimate. */
export async function jobPlace(dispatcher: JobDispatcher, job: JobRef): Promise<JobPlace> {
  const state = await dispatcher.hostQueue(job.queue).getJobState(job.jobId);
  if (state === 'completed' || state === 'failed') return { state: 'ended' };
  if (state === 'active') return { state: 'active' };
  if (state === 'unknown') return { state: 'gone' };
  const { position, etaMs } = await queuePosition(dispatcher, job);
  // 0: it left the wait list between the two reads (it is starting).
  return position === 0 ? { state: 'active' } : { state: 'waiting', position, etaMs };
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
