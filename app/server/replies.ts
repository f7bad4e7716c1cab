// Turning whatever a handler does into the one reply shape (protocol/socket/common.ts). A
// LearnerError becomes its payload; anything else is logged with a fresh error id and reaches
// the browser only as that id. Bad input (zod) becomes socket.badMessage naming the field.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ZodError } from 'zod';
import { isLearnerError, LearnerError, type ErrorPayload } from '../../protocol/errors.js';
import type { SocketFailure } from '../../protocol/socket/common.js';

export function newErrorId(): string {
  return `G${randomBytes(5).toString('hex').toUpperCase()}`;
}

/** "files.0.path: Too small" → the first issue, short, without echoing the learner's input. */
export function describeZodError(err: ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid';
  const where = issue.path.length ? issue.path.join('.') : 'message';
  return `${where}: ${issue.message}`.slice(0, 200);
}

export function badMessage(err: ZodError): LearnerError {
  return new LearnerError('socket.badMessage', { detail: describeZodError(err) });
}

export function failure(err: unknown, log: Logger, context: Record<string, unknown>): SocketFailure {
  return { ok: false, error: errorPayloadOf(err, log, context) };
}

/** An error another part already sorted (a job's outcome): passed to the browser as it is. */
export class SortedError extends Error {
  constructor(readonly payload: ErrorPayload) {
    super(payload.kind === 'learner' ? payload.key : `internal ${payload.errorId}`);
  }
}

export function errorPayloadOf(err: unknown, log: Logger, context: Record<string, unknown>): ErrorPayload {
  if (isLearnerError(err)) return err.toPayload();
  if (err instanceof SortedError) return err.payload;
  const errorId = newErrorId();
  log.error({ ...context, errorId, err }, 'request failed with an internal error');
  return { kind: 'internal', errorId };
}
