// How the command line ends: a learner error prints its message in the learner's language; any
// other error prints only an apology with an id (the details go to the log file, never a stack
// trace on the terminal); each with Docker's exit status for the verb.
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { isLearnerError, renderMessage, type Locale } from '../../../protocol/errors.js';
import { isImageStoreError } from '../image-store/errors.js';
import { printable } from '../../../protocol/printable.js';

/** A status a command decided on (a container's exit code, `wait`'s result…), not a failure. */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** A failure that was already explained to the learner (e.g. one of several `rm` refs). */
export class ReportedFailure extends Error {
  constructor(readonly code = 1) {
    super('reported');
  }
}

// node:crypto only when an internal error needs an id: loading it costs every start a few ms.
const randomBytes = (size: number): Buffer => (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).randomBytes(size);

const prefix: Record<Locale, string> = { en: 'Error', ko: '오류' };

/** The line a learner reads for `err`. English keeps the store's Docker wording where it has one. */
export function messageOf(err: unknown, locale: Locale): string | null {
  if (!isLearnerError(err)) return null;
  if (locale === 'en' && isImageStoreError(err)) return err.message;
  return renderMessage(err.key, err.facts, locale);
}

export function describeError(err: unknown, locale: Locale, log: Logger): string {
  const learner = messageOf(err, locale);
  // Facts can carry an archive's or an image's own text.
  if (learner !== null) return `${prefix[locale]}: ${printable(learner)}`;
  const errorId = randomBytes(4).toString('hex');
  log.error({ err, errorId }, 'command failed');
  return `${prefix[locale]}: ${renderMessage('internal', { errorId }, locale)}`;
}
