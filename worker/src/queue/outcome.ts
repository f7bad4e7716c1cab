// How a job ends, as the worker reports it (the gateway reads it back with queue-client/outcome.ts).
// Two kinds of error, never mixed:
//  - a LearnerError is a *result* (`{ ok: false, error }`): the job completed, the learner acts;
//  - anything else fails the job with `{ kind: 'internal', errorId }` as its reason, logged here
//    with the same id, so a learner quoting the id leads to the stack trace in the host's log.
import { randomBytes } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import { isLearnerError } from '../../../protocol/errors.js';
import type { JobOutcome } from '../../../protocol/jobs.js';

export type { JobOutcome };

/** Short enough to read aloud, unique enough to find in a day of logs. */
export function newErrorId(): string {
  return `E${randomBytes(5).toString('hex').toUpperCase()}`;
}

/** The error a job fails with: its message is the payload the gateway shows (JSON). */
export class InternalJobError extends UnrecoverableError {
  constructor(readonly errorId: string) {
    super(JSON.stringify({ kind: 'internal', errorId }));
    this.name = 'InternalJobError';
  }
}

/** Runs a handler and sorts what it throws into the two kinds. */
export async function toOutcome<R>(work: () => Promise<R>, log: Logger, context: Record<string, unknown>): Promise<JobOutcome<R>> {
  try {
    return { ok: true, result: await work() };
  } catch (err) {
    if (isLearnerError(err)) return { ok: false, error: err.toPayload() };
    const errorId = newErrorId();
    log.error({ ...context, errorId, err }, 'job failed with an internal error');
    throw new InternalJobError(errorId);
  }
}
