// Signals as learners write them (`KILL`, `SIGTERM`, `9`, `sigint`), checked against the
// kernel's list and named the one way the launcher and Node both accept.
import { constants } from 'node:os';
import { LearnerError } from '../../../protocol/errors.js';

const byNumber = new Map<number, NodeJS.Signals>();
for (const [name, number] of Object.entries(constants.signals)) {
  // SIGIOT/SIGABRT, SIGPOLL/SIGIO share numbers: keep the first, the common name.
  if (!byNumber.has(number)) byNumber.set(number, name as NodeJS.Signals);
}

/** `SIGTERM` for `TERM`, `sigterm`, `SIGTERM` or `15`; a learner error for anything else. */
export function normaliseSignal(signal: string): NodeJS.Signals {
  const text = signal.trim();
  if (/^\d+$/.test(text)) {
    const name = byNumber.get(Number(text));
    if (name) return name;
  } else {
    const name = (text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`) as NodeJS.Signals;
    if (name in constants.signals) return name;
  }
  throw new LearnerError('container.invalidSignal', { signal });
}
