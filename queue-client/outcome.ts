// How a job ends, as the gateway reads it back from BullMQ. Two kinds of error, never mixed:
//  - a LearnerError is a *result* (`{ ok: false, error }`): the job completed, the learner acts;
//  - anything else fails the job with `{ kind: 'internal', errorId }` as its reason (the worker
//    logs the stack trace with the same id).
import type { InternalErrorPayload } from '../protocol/errors.js';

/** Reads a failed job's reason back into its payload (null when it is not the engine's). */
export function internalErrorOf(failedReason: string | undefined): InternalErrorPayload | null {
  try {
    const parsed = JSON.parse(failedReason ?? '') as { kind?: string; errorId?: string };
    return parsed.kind === 'internal' && typeof parsed.errorId === 'string' ? { kind: 'internal', errorId: parsed.errorId } : null;
  } catch {
    return null;
  }
}
