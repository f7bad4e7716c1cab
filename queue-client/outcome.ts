// How a job ends, as the gateway reads it back from BullMQ. Two kinds of error, never mixed:
//  - a LearnerError is a *result* (`{ ok: false, error }`): the job completed, the learner acts;
//  - anything else fails the job with `{ kind: 'internal', errorId }` as its reason (the worker
//    logs the stack trace with the same id).
import type { InternalErrorPayload } from '../protocol/errors.js';
import type { JobName, JobOutcome } from '../protocol/jobs.js';
import { jobOutcomeSchema, type JobResult } from '../protocol/results.js';
import type { Enqueued, JobDispatcher } from './dispatcher.js';

/** Reads a failed job's reason back into its payload (null when it is not the engine's). */
export function internalErrorOf(failedReason: string | undefined): InternalErrorPayload | null {
  try {
    const parsed = JSON.parse(failedReason ?? '') as { kind?: string; errorId?: string };
    return parsed.kind === 'internal' && typeof parsed.errorId === 'string' ? { kind: 'internal', errorId: parsed.errorId } : null;
  } catch {
    return null;
  }
}

/** The job did not end within the time the caller gave it (it may still run: it is not cancelled). */
export class OutcomeTimeoutError extends Error {
  override readonly name = 'OutcomeTimeoutError';
  constructor(
    readonly jobId: string,
    readonly timeoutMs: number,
  ) {
    super(`job ${jobId} did not finish within ${timeoutMs} ms`);
  }
}

/** What a finished job says: its result or learner error (validated), or an internal error. */
export type FinishedJob<N extends JobName> = JobOutcome<JobResult<N>> | InternalErrorPayload;

export interface WaitOptions {
  timeoutMs: number;
  /** A look at the job's state this often, besides BullMQ's completion events (default 1000). */
  pollMs?: number;
}

/**
 * Reads a finished job's outcome, or null while it has not finished. A completed job's value is
 * validated with the job's result schema (protocol/results.ts): a value that does not match is
 * an engine/gateway mismatch and throws. A job that failed for a reason that is not the engine's
 * (BullMQ gave up on a stalled job) reads as an internal error named after the job.
 */
export async function readOutcome<N extends JobName>(dispatcher: JobDispatcher, enqueued: Enqueued, name: N): Promise<FinishedJob<N> | null> {
  const queue = dispatcher.hostQueue(enqueued.queue);
  // The state first: a job read while still active would show no return value.
  const state = await queue.getJobState(enqueued.jobId);
  if (state !== 'completed' && state !== 'failed') {
    if (state === 'unknown') throw new Error(`job ${enqueued.jobId} is not on ${enqueued.queue} (removed, or never added)`);
    return null;
  }
  const job = await queue.getJob(enqueued.jobId);
  if (!job) throw new Error(`job ${enqueued.jobId} was removed from ${enqueued.queue}`);
  if (state === 'failed') return internalErrorOf(job.failedReason) ?? { kind: 'internal', errorId: `job-${enqueued.jobId}` };
  return jobOutcomeSchema(name).parse(job.returnvalue) as FinishedJob<N>;
}

/**
 * Waits until the job ends and returns its outcome (see readOutcome). Woken by BullMQ's
 * completion events of the host queue, with a look every `pollMs` in case an event was missed
 * (a reconnect); throws OutcomeTimeoutError after `timeoutMs`.
 */
export async function waitForOutcome<N extends JobName>(
  dispatcher: JobDispatcher,
  enqueued: Enqueued,
  name: N,
  options: WaitOptions,
): Promise<FinishedJob<N>> {
  const events = await dispatcher.queueEvents(enqueued.queue);
  const deadline = Date.now() + options.timeoutMs;
  let wake: () => void = () => undefined;
  const onEnd = ({ jobId }: { jobId: string }): void => {
    if (jobId === enqueued.jobId) wake();
  };
  events.on('completed', onEnd);
  events.on('failed', onEnd);
  try {
    for (;;) {
      // Listening before the first look: an end between the look and the wait still wakes it.
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const outcome = await readOutcome(dispatcher, enqueued, name);
      if (outcome) return outcome;
      const left = deadline - Date.now();
      if (left <= 0) throw new OutcomeTimeoutError(enqueued.jobId, options.timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woken, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(left, options.pollMs ?? 1000))))]);
      clearTimeout(timer);
    }
  } finally {
    events.off('completed', onEnd);
    events.off('failed', onEnd);
  }
}
